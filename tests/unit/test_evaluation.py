from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from titanic_model.evaluation import (
    DECISION_THRESHOLD,
    HOLDOUT_METRICS,
    accuracy_interval,
    diagnostic_figures,
    holdout_metrics,
    importance_figure,
    is_at_least_as_good,
    majority_baseline,
    raw_feature_importance,
    women_survive_baseline,
)
from titanic_model.schema import validate_passengers


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


def test_higher_is_better_and_lower_is_better_metrics():
    assert {name for name, higher in HOLDOUT_METRICS.items() if not higher} == {
        "log_loss",
        "brier_score",
    }


@pytest.mark.parametrize(
    ("metric", "candidate", "incumbent", "expected"),
    [
        ("roc_auc", 0.86, 0.85, True),
        ("roc_auc", 0.85, 0.85, True),
        ("roc_auc", 0.84, 0.85, False),
        ("accuracy", 1.0, 0.0, True),
        ("f1", 0.0, 0.1, False),
        ("log_loss", 0.40, 0.45, True),
        ("log_loss", 0.45, 0.45, True),
        ("log_loss", 0.50, 0.45, False),
        ("brier_score", 0.10, 0.12, True),
        ("brier_score", 0.12, 0.12, True),
        ("brier_score", 0.13, 0.12, False),
    ],
)
def test_is_at_least_as_good(metric: str, candidate: float, incumbent: float, expected: bool):
    assert is_at_least_as_good(metric, candidate, incumbent) is expected


def test_is_at_least_as_good_rejects_unknown_metric():
    with pytest.raises(KeyError):
        is_at_least_as_good("bogus", 1.0, 0.0)


def test_diagnostic_figures():
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 1])
    probabilities = np.array([0.9, 0.2, 0.6, 0.7, 0.3, 0.1, 0.8, 0.55])

    figures = diagnostic_figures(labels, probabilities)

    assert all(isinstance(figure, Figure) for figure in figures.values())
    assert len({id(figure) for figure in figures.values()}) == 4
    titles = {name: figure.axes[0].get_title() for name, figure in figures.items()}
    assert titles == {
        "confusion_matrix.png": "Holdout confusion matrix",
        "roc_curve.png": "Holdout ROC curve",
        "precision_recall_curve.png": "Holdout precision-recall curve",
        "calibration.png": "Holdout reliability diagram",
    }
    # Confusion matrix cut at 0.5: TN 2, FP 1, FN 1, TP 4.
    cells = [text.get_text() for text in figures["confusion_matrix.png"].axes[0].texts]
    assert cells == ["2", "1", "1", "4"]
    assert plt.get_fignums() == []  # bare figures: nothing registered with pyplot


def test_majority_baseline_and_accuracy_interval():
    assert majority_baseline(3, 0.38).tolist() == [0.38, 0.38, 0.38]
    assert accuracy_interval(0.8, 100) == pytest.approx(1.96 * 0.04)


def test_raw_feature_importance_finds_the_column_the_model_uses(fitted_pipeline, raw_passengers):
    passengers = validate_passengers(raw_passengers.drop(columns=["Survived"]))
    labels = (raw_passengers["Sex"] == "female").to_numpy(dtype=int)

    importance = raw_feature_importance(fitted_pipeline, passengers, labels, seed=0)

    assert list(importance.columns) == ["column", "importance_mean", "importance_std"]
    assert set(importance["column"]) == set(passengers.columns)
    assert importance["importance_mean"].is_monotonic_decreasing
    by_column = importance.set_index("column")["importance_mean"]
    assert by_column["PassengerId"] == 0.0  # the model never looks at the id
    figure = importance_figure(importance)
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()][-1] == (
        importance["column"][0]
    )
