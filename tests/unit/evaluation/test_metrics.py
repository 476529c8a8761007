from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance

from titanic_model.evaluation.metrics import (
    accuracy_interval,
    holdout_metrics,
    majority_baseline,
    raw_feature_importance,
    women_survive_baseline,
)
from titanic_model.model.prediction import DECISION_THRESHOLD
from titanic_model.model.schema import validate_passengers
from titanic_model.names import HOLDOUT_METRICS


def test_holdout_metrics_perfect_predictions():
    labels = np.array([1, 0, 1, 0])
    probabilities = np.array([0.9, 0.1, 0.8, 0.2])

    metrics = holdout_metrics(labels, probabilities)

    assert set(metrics) == set(HOLDOUT_METRICS)
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert metrics[name] == pytest.approx(1.0), name
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    assert metrics["brier_score"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.04) / 4)


def test_holdout_metrics_small_case_by_hand():
    labels = np.array([1, 1, 0, 0])
    probabilities = np.array([0.8, 0.4, 0.6, 0.2])
    # Cut at 0.5: predicted 1, 0, 1, 0 -> TP 1, FN 1, FP 1, TN 1.
    # ROC AUC: of the 4 (positive, negative) pairs, (0.4, 0.6) is the only wrong order.

    metrics = holdout_metrics(labels, probabilities)

    assert metrics == pytest.approx(
        {
            "accuracy": 0.5,
            "precision": 0.5,
            "recall": 0.5,
            "f1": 0.5,
            "roc_auc": 0.75,
            "log_loss": -(math.log(0.8) + math.log(0.4)) / 2,
            "brier_score": (0.04 + 0.36 + 0.36 + 0.04) / 4,
        }
    )


def test_holdout_metrics_asymmetric_case():
    labels = np.array([1, 1, 1, 0, 0])
    probabilities = np.array([0.9, 0.7, 0.3, 0.6, 0.1])
    # Predicted 1, 1, 0, 1, 0: TP 2, FN 1, FP 1, TN 1.

    metrics = holdout_metrics(labels, probabilities)

    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    # Pairs (pos, neg): 0.9>0.6, 0.9>0.1, 0.7>0.6, 0.7>0.1, 0.3<0.6, 0.3>0.1 -> 5/6.
    assert metrics["roc_auc"] == pytest.approx(5 / 6)


def test_decision_threshold_is_inclusive():
    assert DECISION_THRESHOLD == 0.5
    labels = np.array([1, 0])

    metrics = holdout_metrics(labels, np.array([0.5, 0.49]))

    assert metrics["accuracy"] == 1.0
    assert metrics["roc_auc"] == 1.0


def test_holdout_metrics_all_wrong():
    metrics = holdout_metrics(np.array([1, 0]), np.array([0.0, 1.0]))

    assert metrics["accuracy"] == 0.0
    assert metrics["precision"] == 0.0
    assert metrics["recall"] == 0.0
    assert metrics["f1"] == 0.0
    assert metrics["roc_auc"] == 0.0
    assert metrics["brier_score"] == pytest.approx(1.0)
    # Probabilities are clipped, so certainty that is wrong gives a large but finite loss.
    assert metrics["log_loss"] == pytest.approx(-math.log(1e-6))


def test_no_predicted_survivors_gives_zero_precision_without_error():
    metrics = holdout_metrics(np.array([1, 0, 0]), np.array([0.4, 0.1, 0.2]))

    assert metrics["precision"] == 0.0
    assert metrics["recall"] == 0.0
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["roc_auc"] == 1.0


def test_holdout_metrics_are_plain_floats():
    metrics = holdout_metrics(np.array([1, 0, 1]), np.array([0.7, 0.2, 0.4]))

    assert all(isinstance(value, float) and math.isfinite(value) for value in metrics.values())


def test_women_survive_baseline():
    passengers = pd.DataFrame({"Sex": ["female", "male", "female", "male"], "Age": [1, 2, 3, 4]})

    baseline = women_survive_baseline(passengers)

    assert baseline.dtype == np.float64
    assert baseline.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_women_survive_baseline_scores():
    passengers = pd.DataFrame({"Sex": ["female", "male", "female", "male"]})
    labels = np.array([1, 0, 0, 0])

    metrics = holdout_metrics(labels, women_survive_baseline(passengers))

    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(1.0)


def test_majority_baseline_and_accuracy_interval():
    assert majority_baseline(3, 0.38).tolist() == [0.38, 0.38, 0.38]
    assert accuracy_interval(0.8, 100) == pytest.approx(1.96 * 0.04)


def test_every_holdout_metric_is_scored():
    scores = holdout_metrics(np.array([1, 0, 1]), np.array([0.8, 0.3, 0.4]))
    assert set(scores) == set(HOLDOUT_METRICS)


def _probability_of(pipeline):
    return lambda passengers: pipeline.predict_proba(passengers)[:, 1]


def test_raw_feature_importance_finds_the_column_the_model_uses(fitted_pipeline, raw_passengers):
    passengers = validate_passengers(raw_passengers.drop(columns=["Survived"]))
    labels = (raw_passengers["Sex"] == "female").to_numpy(dtype=int)

    importance = raw_feature_importance(_probability_of(fitted_pipeline), passengers, labels, 0)

    assert list(importance.columns) == ["column", "importance_mean", "importance_std"]
    assert set(importance["column"]) == set(passengers.columns)
    assert importance["importance_mean"].is_monotonic_decreasing
    by_column = importance.set_index("column")["importance_mean"]
    assert by_column["PassengerId"] == 0.0  # the model never looks at the id
    assert by_column["Sex"] > 0.0


def test_raw_feature_importance_equals_scikit_learns_on_the_pipeline(
    fitted_pipeline, raw_passengers
):
    """The black-box scorer gives what scikit-learn's roc_auc scorer gives on the pipeline."""
    passengers = validate_passengers(raw_passengers.drop(columns=["Survived"]))
    labels = raw_passengers["Survived"].to_numpy()

    ours = raw_feature_importance(_probability_of(fitted_pipeline), passengers, labels, seed=3)
    reference = permutation_importance(
        fitted_pipeline, passengers, labels, scoring="roc_auc", n_repeats=10, random_state=3
    )

    by_column = ours.set_index("column").loc[list(passengers.columns)]
    np.testing.assert_array_equal(by_column["importance_mean"], reference.importances_mean)
    np.testing.assert_array_equal(by_column["importance_std"], reference.importances_std)
