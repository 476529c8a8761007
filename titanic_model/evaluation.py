"""Holdout metrics, baselines and diagnostic plots (pure: arrays in, numbers and figures out)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # Plots are written to files; no display on servers and CI.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

DECISION_THRESHOLD = 0.5

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
    """Draw the confusion matrix, the ROC curve and the reliability (calibration) plot.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival.

    Returns:
        Figures keyed by the file name to log them under.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    figures = {}
    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, display_labels=["died", "survived"], ax=axes, colorbar=False
    )
    axes.set_title("Holdout confusion matrix")
    figures["confusion_matrix.png"] = figure
    figure, axes = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_predictions(labels, probabilities, ax=axes, name="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set_title("Holdout ROC curve")
    figures["roc_curve.png"] = figure
    figure, axes = plt.subplots(figsize=(4.5, 4))
    CalibrationDisplay.from_predictions(labels, probabilities, n_bins=10, ax=axes, name="model")
    axes.set_title("Holdout reliability diagram")
    figures["calibration.png"] = figure
    for figure in figures.values():
        figure.tight_layout()
    return figures
