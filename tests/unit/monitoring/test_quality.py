from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

from titanic_model.model.schema import SchemaError
from titanic_model.monitoring.quality import (
    check_labels,
    join_labels,
    live_quality,
    parse_prediction_log,
    rejected_by_field,
)
from titanic_model.serving.log_writer import ModelIdentity, rejected_line, scored_lines

IDENTITY = ModelIdentity("titanic", "2", "run-2")
RECORDS = pd.DataFrame(
    {
        "PassengerId": [1, 2, 3], "Pclass": [3, 1, 2],
        "Name": ["Braund, Mr. Owen", "Cumings, Mrs. John", "Heikkinen, Miss. Laina"],
        "Sex": ["male", "female", "female"], "Age": [22, 38, np.nan], "SibSp": [1, 1, 0],
        "Parch": [0, 0, 0], "Ticket": ["A/5 21171", "PC 17599", "STON/O2. 3101282"],
    }
)  # fmt: skip
PREDICTIONS = pd.DataFrame({"survived": [0, 1, 1], "probability": [0.1, 0.9, 0.6]})


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 25, hour, tzinfo=UTC)


def _log(hour: int, request_id: str) -> str:
    lines = scored_lines(IDENTITY, request_id, _at(hour), RECORDS, PREDICTIONS, full_names=False)
    return "\n".join(lines) + "\n"


def test_scored_lines_become_one_row_per_record_with_their_inputs():
    table = parse_prediction_log([_log(8, "a")])

    assert (table.lines, table.corrupt_lines, len(table.scored)) == (3, 0, 3)
    row = table.scored.iloc[1]
    assert (row["request_id"], row["model_version"], row["run_id"]) == ("a", "2", "run-2")
    assert (row["Title"], row["Pclass"], row["survived"]) == ("Mrs", 1, 1)
    assert math.isnan(table.scored.iloc[2]["Age"])
    assert table.scored["time"].iloc[0] == pd.Timestamp(_at(8))


def test_unreadable_lines_are_skipped_and_counted():
    garbage = "not json\n[1, 2]\n" + json.dumps({"schema_version": 2, "status": 200}) + "\n"
    truncated = _log(8, "a")[:-40] + "\n"  # a line cut short: the writer died mid-line
    table = parse_prediction_log([garbage, truncated, _log(9, "b")])

    assert table.corrupt_lines == 4
    assert table.lines == 3 + 3 + 3
    assert sorted(table.scored["request_id"].unique()) == ["a", "b"]
    assert len(table.scored) == 5


def test_the_window_keeps_lines_from_since_up_to_until_excluded():
    table = parse_prediction_log([_log(8, "a"), _log(9, "b"), _log(10, "c")], _at(9), _at(10))
    assert table.scored["request_id"].unique().tolist() == ["b"]


def test_refused_requests_are_counted_by_field():
    refused = "\n".join(
        [
            rejected_line(IDENTITY, "x", _at(8), 400, "row 0: ...", {"Age": 2, "Sex": 1}),
            rejected_line(IDENTITY, "y", _at(8), 413, "too large", {}),
            rejected_line(IDENTITY, "z", _at(8), 400, "row 3: ...", {"Age": 1}),
        ]
    )
    table = parse_prediction_log([refused])

    assert table.refused["status"].tolist() == [400, 413, 400]
    assert rejected_by_field(table.refused) == {"Age": 3, "Sex": 1}


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
    scored = parse_prediction_log([_log(8, "a")]).scored
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
    assert live_quality(labels, probabilities).intervals == quality.intervals  # seeded


def test_live_quality_with_one_outcome_has_no_roc_auc_but_the_rest():
    quality = live_quality(np.ones(10, dtype=int), np.full(10, 0.8))
    assert quality.metrics["accuracy"] == 1.0
    assert math.isnan(quality.metrics["roc_auc"])
    assert quality.metrics["brier_score"] == pytest.approx(0.04)
