"""The shadow scorer and the prediction log's thread with a shadow, on hand-written models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tests.passengers import make_passengers
from titanic_model.model.schema import LABEL, check_passengers
from titanic_model.serving.log_writer import FolderSink, ModelIdentity, PredictionLog
from titanic_model.serving.shadow import ShadowAnswers, ShadowScorer

SERVED = ModelIdentity("titanic", "1", "run-1")
SHADOW = ModelIdentity("titanic", "2", "run-2")
ARRIVED = datetime(2026, 11, 25, 10, 0, 1, 234000, tzinfo=UTC)
PASSENGERS = make_passengers(12).drop(columns=[LABEL])


def _columns(start: int, stop: int) -> dict[str, np.ndarray]:
    """Records as the served model validated them."""
    return check_passengers(PASSENGERS.iloc[start:stop].reset_index(drop=True))


def _answers(records: int, survived: int) -> pd.DataFrame:
    return pd.DataFrame({"survived": [survived] * records, "probability": [0.5] * records})


class _Model:
    """A shadow that answers 1 for women, refuses records it is told to, and counts calls."""

    def __init__(self, refuse_ids: tuple[int, ...] = (), rows: int | None = None):
        self.refuse_ids, self.rows, self.calls = refuse_ids, rows, []

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(frame["PassengerId"].tolist())
        if set(frame["PassengerId"]) & set(self.refuse_ids):
            raise ValueError("row 0: field 'Age': the shadow's own schema refuses it")
        women = (frame["Sex"] == "female").astype(int)
        answers = pd.DataFrame(
            {"PassengerId": frame["PassengerId"], "survived": women, "probability": women * 0.9}
        )
        return answers.head(self.rows) if self.rows is not None else answers


class _Failures:
    def __init__(self):
        self.counted: list[tuple[str, int]] = []

    def __call__(self, stage: str, requests: int) -> None:
        self.counted.append((stage, requests))


def test_a_flush_of_requests_is_scored_in_one_call_and_split_back():
    model, failures = _Model(), _Failures()
    scorer = ShadowScorer(model, SHADOW, failures)

    answers = scorer.score([_columns(0, 3), _columns(3, 4), _columns(4, 8)])

    assert model.calls == [list(range(1, 9))]
    assert [len(a.survived) for a in answers] == [3, 1, 4]
    assert answers[2] == ShadowAnswers([0, 1, 0, 1], [0.0, 0.9, 0.0, 0.9])  # m, f, m, f
    assert all(type(s) is int for a in answers for s in a.survived)
    assert failures.counted == []


def test_a_large_flush_is_split_into_calls_of_bounded_size():
    model = _Model()
    scorer = ShadowScorer(model, SHADOW, _Failures(), batch_records=4)

    answers = scorer.score([_columns(0, 3), _columns(3, 5), _columns(5, 6), _columns(6, 12)])

    assert [len(call) for call in model.calls] == [3, 3, 6]  # a request is never split
    assert [len(a.probability) for a in answers] == [3, 2, 1, 6]


def test_a_request_the_shadow_refuses_costs_the_others_nothing_and_is_counted():
    model, failures = _Model(refuse_ids=(4,)), _Failures()
    scorer = ShadowScorer(model, SHADOW, failures)

    answers = scorer.score([_columns(0, 3), _columns(3, 5), _columns(5, 6)])

    assert answers[1] is None
    assert [len(answers[0].survived), len(answers[2].survived)] == [3, 1]
    assert failures.counted == [("predict", 1)]
    assert len(model.calls) == 1 + 3  # the batch, then each request alone


class _Answering(_Model):
    """A shadow answering whatever it is told to."""

    def __init__(self, **answers):
        super().__init__()
        self.answers = answers

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return super().predict(frame).assign(**self.answers)


@pytest.mark.parametrize(
    "model",
    [_Model(rows=1), _Answering(survived=2), _Answering(probability=1.5),
     _Answering(probability=np.nan), _Answering(survived="yes")],
    ids=["too-few-rows", "outcome-2", "probability-1.5", "probability-nan", "outcome-text"],
)  # fmt: skip
def test_a_shadow_answering_outside_the_contract_is_a_failure(model):
    failures = _Failures()
    answers = ShadowScorer(model, SHADOW, failures).score([_columns(0, 2)])
    assert answers == [None]
    assert failures.counted == [("predict", 1)]


def test_a_shadow_that_was_not_loaded_counts_every_request_it_did_not_score():
    failures = _Failures()
    scorer = ShadowScorer(None, None, failures)
    assert scorer.score([_columns(0, 1), _columns(1, 2)]) == [None, None]
    assert scorer.score([]) == []
    assert failures.counted == [("load", 2)]


def _log_lines(folder) -> list[dict]:
    return [json.loads(line) for p in folder.iterdir() for line in p.read_text().splitlines()]


def test_the_log_writes_each_shadow_answer_beside_the_served_one(tmp_path):
    model, failures, observed = _Model(refuse_ids=(3,)), _Failures(), []
    log = PredictionLog(
        SERVED,
        FolderSink(tmp_path, worker="w"),
        full_names=False,
        on_dropped=lambda lines: pytest.fail(f"{lines} line(s) dropped"),
        observe=observed.append,
        flush_seconds=3600,
        shadow=ShadowScorer(model, SHADOW, failures),
    )
    log.scored("a", ARRIVED, _columns(0, 2), _answers(2, 0))
    log.rejected("b", ARRIVED, 400, "bad", {"Age": 1})
    log.scored("c", ARRIVED, _columns(2, 3), _answers(1, 1))  # passenger 3: the shadow refuses
    log.close()

    lines = _log_lines(tmp_path)
    keys = [(line["request_id"], line.get("record"), line["role"]) for line in lines]
    assert keys == [
        ("a", 0, "served"), ("a", 1, "served"), ("a", 0, "shadow"), ("a", 1, "shadow"),
        ("b", None, "served"), ("c", 0, "served"),
    ]  # fmt: skip
    served, shadow = lines[0], lines[2]
    assert (served["model_version"], served["run_id"], served["survived"]) == ("1", "run-1", 0)
    assert (shadow["model_version"], shadow["run_id"], shadow["survived"]) == ("2", "run-2", 0)
    assert lines[3]["survived"] == 1  # passenger 2 is a woman: the shadow says she survives
    assert shadow["input"] == served["input"]
    assert (shadow["time"], shadow["status"]) == (served["time"], 200)
    assert model.calls[0] == [1, 2, 3]  # one call for the flush
    assert failures.counted == [("predict", 1)]
    # Only what clients were answered is counted in the served metrics.
    assert [len(p) for p in observed] == [2, 1]


def test_without_a_sink_the_shadow_scores_nothing():
    model = _Model()
    log = PredictionLog(
        SERVED, None, full_names=False, on_dropped=lambda lines: None,
        observe=lambda predictions: None, shadow=ShadowScorer(model, SHADOW, _Failures()),
    )  # fmt: skip
    log.scored("a", ARRIVED, _columns(0, 2), _answers(2, 0))
    log.close()
    assert model.calls == []


def test_shadow_lines_that_cannot_be_written_cost_the_served_lines_nothing(tmp_path):
    class Broken:
        """Answers one record short: its lines cannot be written."""

        identity = SHADOW

        def score(self, requests):
            return [ShadowAnswers([1], [0.5]) for _ in requests]

    dropped = []
    log = PredictionLog(
        SERVED, FolderSink(tmp_path, worker="w"), full_names=False, on_dropped=dropped.append,
        observe=lambda predictions: None, flush_seconds=3600, shadow=Broken(),
    )  # fmt: skip
    log.scored("a", ARRIVED, _columns(0, 2), _answers(2, 0))
    log.close()

    assert [line["role"] for line in _log_lines(tmp_path)] == ["served", "served"]
    assert dropped == [2]
