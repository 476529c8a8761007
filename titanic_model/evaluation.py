"""Holdout metrics, baselines and diagnostic plots (pure: arrays in, numbers and figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from titanic_model.prediction import DECISION_THRESHOLD


def _new_plot(width: float, height: float) -> tuple[Figure, object]:
    # A bare Figure, not pyplot: no global figure registry to leak, no GUI backend needed.
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


# For each holdout metric, whether a larger value is better.
HOLDOUT_METRICS: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "brier_score": False,
}


def holdout_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Score survival probabilities against true labels.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival, in [0, 1].

    Returns:
        Every metric of :data:`HOLDOUT_METRICS`, predictions cut at 0.5.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return {
        "accuracy": accuracy_score(labels, predicted),
        "precision": precision_score(labels, predicted, zero_division=0),
        "recall": recall_score(labels, predicted, zero_division=0),
        "f1": f1_score(labels, predicted, zero_division=0),
        "roc_auc": roc_auc_score(labels, probabilities),
        "log_loss": log_loss(labels, clipped, labels=[0, 1]),
        "brier_score": brier_score_loss(labels, probabilities),
    }


def women_survive_baseline(passengers: pd.DataFrame) -> np.ndarray:
    """The classic trivial rule: every woman survives, every man dies.

    Args:
        passengers: Validated passenger records.

    Returns:
        1.0 for women and 0.0 for men, as "probabilities".
    """
    return (passengers["Sex"] == "female").to_numpy(dtype=float)


def majority_baseline(count: int, survival_rate: float) -> np.ndarray:
    """The majority-class rule: everybody dies, with the training survival rate as probability.

    Args:
        count: How many passengers to predict.
        survival_rate: Share of survivors in the training data (below 0.5 on the Titanic).

    Returns:
        ``survival_rate`` for everyone.
    """
    return np.full(count, survival_rate)


def accuracy_interval(accuracy: float, count: int) -> float:
    """Half-width of the 95 % normal-approximation interval of an accuracy on ``count`` rows."""
    return 1.96 * float(np.sqrt(accuracy * (1 - accuracy) / count))


def raw_feature_importance(
    pipeline: Pipeline, passengers: pd.DataFrame, labels: np.ndarray, seed: int
) -> pd.DataFrame:
    """Permutation importance of each raw input column, on held-out passengers.

    Shuffling a raw column (``Name``, ``Fare``…) breaks every feature derived from it, so
    the drop in ROC AUC says how much the model relies on what a client sends.

    Args:
        pipeline: The fitted model pipeline.
        passengers: Validated held-out passengers (no label).
        labels: Their 0/1 outcomes.
        seed: Seed of the shuffles.

    Returns:
        ``column``, ``importance_mean`` and ``importance_std``, most important first.
    """
    result = permutation_importance(
        pipeline, passengers, labels, scoring="roc_auc", n_repeats=10, random_state=seed
    )
    table = pd.DataFrame(
        {
            "column": passengers.columns,
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)


def importance_figure(importance: pd.DataFrame) -> Figure:
    """Horizontal bars of :func:`raw_feature_importance`, with their standard deviation."""
    figure, axes = _new_plot(5, 4)
    ordered = importance.iloc[::-1]
    axes.barh(ordered["column"], ordered["importance_mean"], xerr=ordered["importance_std"])
    axes.set_xlabel("drop in holdout ROC AUC when the column is shuffled")
    axes.set_title("Permutation importance of the raw columns")
    figure.tight_layout()
    return figure


def is_at_least_as_good(metric: str, candidate: float, incumbent: float) -> bool:
    """Whether ``candidate`` matches or beats ``incumbent`` on ``metric``.

    Args:
        metric: A key of :data:`HOLDOUT_METRICS`.
        candidate: The new model's value.
        incumbent: The current champion's value.

    Returns:
        True when the candidate is at least as good.
    """
    return candidate >= incumbent if HOLDOUT_METRICS[metric] else candidate <= incumbent


def diagnostic_figures(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Figure]:
    """Draw the confusion matrix, the ROC and precision-recall curves and the reliability plot.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival.

    Returns:
        Figures keyed by the file name to log them under.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    figures = {}
    figure, axes = _new_plot(4.5, 4)
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, display_labels=["died", "survived"], ax=axes, colorbar=False
    )
    axes.set_title("Holdout confusion matrix")
    figures["confusion_matrix.png"] = figure
    figure, axes = _new_plot(4.5, 4)
    RocCurveDisplay.from_predictions(labels, probabilities, ax=axes, name="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set_title("Holdout ROC curve")
    figures["roc_curve.png"] = figure
    figure, axes = _new_plot(4.5, 4)
    PrecisionRecallDisplay.from_predictions(labels, probabilities, ax=axes, name="model")
    axes.set_title("Holdout precision-recall curve")
    figures["precision_recall_curve.png"] = figure
    figure, axes = _new_plot(4.5, 4)
    CalibrationDisplay.from_predictions(labels, probabilities, n_bins=10, ax=axes, name="model")
    axes.set_title("Holdout reliability diagram")
    figures["calibration.png"] = figure
    for figure in figures.values():
        figure.tight_layout()
    return figures
