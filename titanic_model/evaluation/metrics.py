"""Scoring: holdout metrics, baselines and permutation importance (pure: arrays in, numbers out).

What the evaluate job scores a version with; nothing here knows where the labels came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from titanic_model.model.prediction import DECISION_THRESHOLD

# Raw passenger records in, probabilities of survival out: a model as a client sees it.
PredictProbability = Callable[[pd.DataFrame], np.ndarray]


def holdout_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Score survival probabilities against true labels.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival, in [0, 1].

    Returns:
        Every metric of :data:`~titanic_model.names.HOLDOUT_METRICS`, predictions cut at
        :data:`~titanic_model.model.prediction.DECISION_THRESHOLD`.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
        "brier_score": float(brier_score_loss(labels, probabilities)),
    }


def live_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, ROC AUC and Brier score, as :func:`holdout_metrics` computes them.

    For the monitoring job's labelled predictions, which may hold one outcome only: ROC AUC
    is then NaN instead of an error.

    Args:
        labels: 0/1 outcomes.
        probabilities: Predicted probabilities of survival.

    Returns:
        ``accuracy``, ``roc_auc`` and ``brier_score``.
    """
    predicted = (probabilities >= DECISION_THRESHOLD).astype(int)
    both_outcomes = len(np.unique(labels)) == 2
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_outcomes else math.nan,
        "brier_score": float(brier_score_loss(labels, probabilities, labels=[0, 1])),
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


class _FittedModel:
    """A model fitted elsewhere, as scikit-learn's permutation importance takes one."""

    def __init__(self, predict_probability: PredictProbability):
        self.predict_probability = predict_probability

    def fit(self, *_) -> _FittedModel:
        """Nothing to fit: the model is scored as it is."""
        return self


def _roc_auc(model: _FittedModel, passengers: pd.DataFrame, labels: np.ndarray) -> float:
    return roc_auc_score(labels, model.predict_probability(passengers))


def raw_feature_importance(
    predict_probability: PredictProbability,
    passengers: pd.DataFrame,
    labels: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """Permutation importance of each raw input column, on held-out passengers.

    Shuffling a raw column (``Name``, ``Fare``…) breaks every feature derived from it, so
    the drop in ROC AUC says how much the model relies on what a client sends. The model is
    a black box here: any function from records to probabilities (a loaded pyfunc's, say).

    Args:
        predict_probability: The model, as records in, probabilities of survival out.
        passengers: Held-out passenger records (no label), as ``predict_probability`` takes
            them.
        labels: Their 0/1 outcomes.
        seed: Seed of the shuffles.

    Returns:
        ``column``, ``importance_mean`` and ``importance_std``, most important first.
    """
    result = permutation_importance(
        _FittedModel(predict_probability),
        passengers,
        labels,
        scoring=_roc_auc,
        n_repeats=10,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "column": passengers.columns,
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)
