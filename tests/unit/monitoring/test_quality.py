from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

from tests.prediction_logs import log_text
from titanic_model.evaluation.metrics import live_metrics
from titanic_model.model.schema import SchemaError
from titanic_model.monitoring.quality import check_labels, join_labels, live_quality
from titanic_model.names import LIVE_METRICS
from titanic_model.prediction_log import read_prediction_log


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (pd.DataFrame({"PassengerId": [1]}), "labels: missing column(s) Survived"),
        (pd.DataFrame({"PassengerId": [1, 2], "Survived": [1, 2]}),
         "labels: row 1: Survived 2 is not 0 or 1"),
        (pd.DataFrame({"PassengerId": ["x"], "Survived": [1]}),
         "labels: row 0: PassengerId 'x' is not an integer"),
        (pd.DataFrame({"PassengerId": [5, 5], "Survived": [0, 1]}),
         "labels: PassengerId 5 has two different outcomes"),
    ],
)  # fmt: skip
def test_bad_labels_are_one_line_naming_the_row_and_column(labels, message):
    with pytest.raises(SchemaError) as raised:
        check_labels(labels)
    assert str(raised.value) == message


def test_labels_join_on_passenger_id_and_what_cannot_join_is_counted():
    scored = read_prediction_log([log_text(8, "a")]).scored
    scored.loc[2, "PassengerId"] = None  # a record sent without an id
    labels = check_labels(pd.DataFrame({"PassengerId": [1, 2, 2, 77], "Survived": [0, 1, 1, 1]}))

    joined = join_labels(scored, labels)

    assert joined.joined[["PassengerId", "Survived"]].values.tolist() == [[1, 0], [2, 1]]
    assert (joined.unknown_ids, joined.unlabelled) == (1, 1)


def test_live_quality_is_the_metrics_on_those_rows_with_an_interval_around_them():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    probabilities = np.clip(labels * 0.4 + rng.random(200) * 0.6, 0, 1)

    quality = live_quality(labels, probabilities)

    assert quality.rows == 200
    assert quality.metrics == {
        "accuracy": accuracy_score(labels, probabilities >= 0.5),
        "roc_auc": roc_auc_score(labels, probabilities),
        "brier_score": brier_score_loss(labels, probabilities),
    }
    for name, (low, high) in quality.intervals.items():
        assert low <= quality.metrics[name] <= high, name
        assert high - low > 0
    # A 95 % interval of a proportion: about 2 x 1.96 standard errors wide.
    accuracy = quality.metrics["accuracy"]
    expected_width = 2 * 1.96 * math.sqrt(accuracy * (1 - accuracy) / 200)
    low, high = quality.intervals["accuracy"]
    assert high - low == pytest.approx(expected_width, rel=0.25)
    assert live_quality(labels, probabilities).intervals == quality.intervals  # seeded


def test_live_quality_with_one_outcome_has_no_roc_auc_but_the_rest():
    quality = live_quality(np.ones(10, dtype=int), np.full(10, 0.8))
    assert quality.metrics["accuracy"] == 1.0
    assert math.isnan(quality.metrics["roc_auc"])
    assert quality.metrics["brier_score"] == pytest.approx(0.04)
    assert quality.intervals["accuracy"] == (1.0, 1.0)
    assert all(math.isnan(bound) for bound in quality.intervals["roc_auc"])


def test_a_resample_with_one_outcome_leaves_roc_auc_without_an_interval_and_only_it():
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # most resamples hold no survivor
    quality = live_quality(labels, np.linspace(0.9, 0.1, 10))

    assert quality.metrics["roc_auc"] == 1.0
    assert all(math.isnan(bound) for bound in quality.intervals["roc_auc"])
    low, high = quality.intervals["accuracy"]
    assert low <= quality.metrics["accuracy"] <= high


def test_one_labelled_record_has_its_metrics_and_no_interval():
    quality = live_quality(np.array([1]), np.array([0.7]))
    assert (quality.rows, quality.metrics["accuracy"]) == (1, 1.0)
    assert all(math.isnan(b) for bounds in quality.intervals.values() for b in bounds)


def test_the_live_metrics_are_the_ones_names_spells():
    assert tuple(live_metrics(np.array([0, 1]), np.array([0.2, 0.6]))) == LIVE_METRICS


def test_the_intervals_stay_within_what_a_metric_can_be():
    # Percentile intervals: a model right on 99 of 100 records is not "up to 101 % right".
    labels = np.array([1, 0] * 50)
    probabilities = np.where(labels == 1, 0.9, 0.1)
    probabilities[0] = 0.2
    quality = live_quality(labels, probabilities)

    assert quality.metrics["accuracy"] == 0.99
    low, high = quality.intervals["accuracy"]
    assert 0.95 <= low < 0.99 < high <= 1.0
