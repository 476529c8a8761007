"""The scikit-learn pipeline: raw passenger columns in, survival probability out."""

from __future__ import annotations

from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from titanic_model.model.features import PassengerFeatures
from titanic_model.model.forest import LowLatencyRandomForestClassifier
from titanic_model.names import CANDIDATES


def build_classifier(candidate: str, seed: int) -> ClassifierMixin:
    """A fresh classifier of one of the candidates, seeded, with sensible defaults.

    Args:
        candidate: ``"random_forest"``, ``"hist_gradient_boosting"`` or ``"logistic_regression"``.
        seed: Random state, so that a fit is reproducible.

    Returns:
        The unfitted classifier; the grid search sets its hyper-parameters.
    """
    if candidate == "random_forest":
        return LowLatencyRandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    if candidate == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=200, max_depth=4, l2_regularization=1.0, random_state=seed
        )
    if candidate == "logistic_regression":
        return LogisticRegression(C=1.0, max_iter=2000)
    raise ValueError(f"unknown candidate {candidate!r}: expected one of {', '.join(CANDIDATES)}")


def build_pipeline(seed: int, candidate: str = "random_forest") -> Pipeline:
    """Build the full, unfitted model pipeline.

    Args:
        seed: Random state of the classifier, so that a fit is reproducible.
        candidate: Which classifier ends the pipeline (one of
            :data:`~titanic_model.names.CANDIDATES`).

    Returns:
        ``Pipeline([("features", …), ("classifier", …)])``; the grid search may swap the
        classifier and set its hyper-parameters (``classifier__*``).
    """
    return Pipeline(
        [("features", PassengerFeatures()), ("classifier", build_classifier(candidate, seed))]
    )
