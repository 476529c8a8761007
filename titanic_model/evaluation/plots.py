"""Reporting: the diagnostic plots of a model's probabilities (pure: arrays in, figures out).

Bare matplotlib ``Figure`` objects, not pyplot: no global figure registry to leak, no GUI
backend needed. Only this module imports matplotlib, so serving never loads it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

from titanic_model.model.prediction import DECISION_THRESHOLD
from titanic_model.names import (
    CALIBRATION_PLOT,
    CONFUSION_MATRIX_PLOT,
    PRECISION_RECALL_PLOT,
    ROC_CURVE_PLOT,
)


def _new_plot(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def diagnostic_figures(
    labels: np.ndarray, probabilities: np.ndarray, subject: str = "Holdout"
) -> dict[str, Figure]:
    """Draw the confusion matrix, the ROC and precision-recall curves and the reliability plot.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival.
        subject: What was scored, for the titles ("Holdout").

    Returns:
        Figures keyed by the file name to log them under.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    figures = {}
    figure, axes = _new_plot(4.5, 4)
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, display_labels=["died", "survived"], ax=axes, colorbar=False
    )
    axes.set_title(f"{subject} confusion matrix")
    figures[CONFUSION_MATRIX_PLOT] = figure
    figure, axes = _new_plot(4.5, 4)
    RocCurveDisplay.from_predictions(labels, probabilities, ax=axes, name="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set_title(f"{subject} ROC curve")
    figures[ROC_CURVE_PLOT] = figure
    figure, axes = _new_plot(4.5, 4)
    PrecisionRecallDisplay.from_predictions(labels, probabilities, ax=axes, name="model")
    axes.set_title(f"{subject} precision-recall curve")
    figures[PRECISION_RECALL_PLOT] = figure
    for figure in figures.values():
        figure.tight_layout()
    figures[CALIBRATION_PLOT] = calibration_figure(labels, probabilities, subject)
    return figures


def calibration_figure(labels: np.ndarray, probabilities: np.ndarray, subject: str) -> Figure:
    """The reliability diagram: observed survival rate against predicted probability.

    Args:
        labels: 0/1 outcomes (one outcome only is fine).
        probabilities: Predicted probabilities of survival.
        subject: What was scored, for the title ("Holdout", "Live").

    Returns:
        The figure.
    """
    figure, axes = _new_plot(4.5, 4)
    CalibrationDisplay.from_predictions(labels, probabilities, n_bins=10, ax=axes, name="model")
    axes.set_title(f"{subject} reliability diagram")
    figure.tight_layout()
    return figure


def importance_figure(importance: pd.DataFrame) -> Figure:
    """Horizontal bars of a permutation importance table, with their standard deviation.

    Args:
        importance: ``column``, ``importance_mean`` and ``importance_std``, most important
            first (see :func:`~titanic_model.evaluation.metrics.raw_feature_importance`).

    Returns:
        The most important column on top.
    """
    figure, axes = _new_plot(5, 4)
    ordered = importance.iloc[::-1]
    axes.barh(ordered["column"], ordered["importance_mean"], xerr=ordered["importance_std"])
    axes.set_xlabel("drop in holdout ROC AUC when the column is shuffled")
    axes.set_title("Permutation importance of the raw columns")
    figure.tight_layout()
    return figure


def distribution_figure(
    field: str, reference: pd.Series, current: pd.Series, *, numeric: bool
) -> Figure:
    """A field's distribution in the reference and now, side by side, as shares.

    Args:
        field: The field, for the title.
        reference: Its values where the model learnt (missing values count as "missing").
        current: Its values now.
        numeric: Histograms on shared bins; otherwise bars per category.

    Returns:
        The figure.
    """
    figure, axes = _new_plot(5, 3)
    if numeric:
        values = pd.concat([reference, current]).dropna().to_numpy(dtype=float)
        bins = np.histogram_bin_edges(values, bins=20).tolist() if len(values) else 10
        for series, label in ((reference, "reference"), (current, "current")):
            present = series.dropna().to_numpy(dtype=float)
            weights = np.full(len(present), 1 / max(len(series), 1))
            axes.hist(present, bins=bins, weights=weights, alpha=0.55, label=label)
    else:
        shares = pd.DataFrame(
            {
                "reference": reference.fillna("missing").astype(str).value_counts(normalize=True),
                "current": current.fillna("missing").astype(str).value_counts(normalize=True),
            }
        ).fillna(0.0)
        positions = np.arange(len(shares))
        axes.bar(positions - 0.2, shares["reference"], width=0.4, label="reference")
        axes.bar(positions + 0.2, shares["current"], width=0.4, label="current")
        axes.set_xticks(positions, shares.index, rotation=30, ha="right")
    axes.set_ylabel("share of rows")
    axes.set_title(field)
    axes.legend()
    figure.tight_layout()
    return figure
