from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from titanic_model.model.schema import check_passengers
from titanic_model.prediction_log import SCHEMA_VERSION, read_prediction_log
from titanic_model.serving.log_writer import (
    FolderSink,
    ModelIdentity,
    PredictionLog,
    rejected_line,
    scored_lines,
)

IDENTITY = ModelIdentity(name="titanic", version="3", run_id="abc123")
ARRIVED = datetime(2026, 11, 25, 10, 0, 1, 234567, tzinfo=UTC)
RECORDS = pd.DataFrame(
    {
        "PassengerId": [7, 8],
        "Pclass": [1, 3],
        "Name": ["Allen, Miss. Elisabeth Walton", " Rice,  Master. Eugène "],
        "Sex": ["female", "male"],
        "Age": [29.0, np.nan],
        "SibSp": [0, 4],
        "Parch": [0, 1],
        "Ticket": ["24160", "382652"],
        "Fare": [211.3375, 29.125],
        "Embarked": ["S", None],
    }
)
# What the model hands over: the records as it validated them.
COLUMNS = check_passengers(RECORDS)
PREDICTIONS = pd.DataFrame(
    {"PassengerId": [7, 8], "survived": [1, 0], "probability": [0.97, 1e-05]}
)


def _lines(**kwargs) -> list[dict]:
    texts = scored_lines(IDENTITY, "req-1", ARRIVED, COLUMNS, PREDICTIONS, **kwargs)
    assert all("\n" not in text for text in texts)
    return [json.loads(text) for text in texts]


def test_a_scored_record_is_one_line_with_its_validated_input_and_answer():
    first, second = _lines(full_names=False)

    assert first == {
        "schema_version": SCHEMA_VERSION,
        "time": "2026-11-25T10:00:01.234Z",
        "request_id": "req-1",
        "model_name": "titanic",
        "model_version": "3",
        "run_id": "abc123",
        "status": 200,
        "role": "served",
        "record": 0,
        "input": {
            "PassengerId": 7,
            "Pclass": 1,
            "Title": "Miss",
            "Sex": "female",
            "Age": 29.0,
            "SibSp": 0,
            "Parch": 0,
            "Ticket": "24160",
            "Fare": 211.3375,
            "Cabin": None,
            "Embarked": "S",
        },
        "survived": 1,
        "probability": 0.97,
    }
    assert second["record"] == 1
    assert second["input"]["Title"] == "Master"
    assert (second["input"]["Age"], second["input"]["Embarked"]) == (None, None)
    assert isinstance(second["input"]["SibSp"], int)


def test_names_are_personal_data_logged_whole_only_when_asked():
    assert all("Name" not in line["input"] for line in _lines(full_names=False))
    whole = [line["input"]["Name"] for line in _lines(full_names=True)]
    assert whole == ["Allen, Miss. Elisabeth Walton", "Rice, Master. Eugène"]


# Written by the writer before the lines had pydantic models (the same inputs): the bytes on
# disk have not changed, field order, spacing, number formats and escapes included.
_LINES_OF_VERSION_1 = [
    '{"schema_version": 1, "time": "2026-11-25T10:00:01.234Z", "request_id": "req-1", '
    '"model_name": "titanic", "model_version": "3", "run_id": "abc123", "status": 200, '
    '"record": 0, "input": {"PassengerId": 7, "Pclass": 1, "Title": "Miss", '
    '"Name": "Allen, Miss. Elisabeth Walton", "Sex": "female", "Age": 29.0, "SibSp": 0, '
    '"Parch": 0, "Ticket": "24160", "Fare": 211.3375, "Cabin": null, "Embarked": "S"}, '
    '"survived": 1, "probability": 0.97}',
    '{"schema_version": 1, "time": "2026-11-25T10:00:01.234Z", "request_id": "req-1", '
    '"model_name": "titanic", "model_version": "3", "run_id": "abc123", "status": 200, '
    '"record": 1, "input": {"PassengerId": 8, "Pclass": 3, "Title": "Master", '
    '"Name": "Rice, Master. Eug\\u00e8ne", "Sex": "male", "Age": null, "SibSp": 4, '
    '"Parch": 1, "Ticket": "382652", "Fare": 29.125, "Cabin": null, "Embarked": null}, '
    '"survived": 0, "probability": 1e-05}',
    '{"schema_version": 1, "time": "2026-11-25T10:00:01.234Z", "request_id": "req-2", '
    '"model_name": "titanic", "model_version": "3", "run_id": "abc123", "status": 400, '
    '"reason": "row 0: field \'Age\': bad", "rejected_records": {"Age": 2}}',
    '{"schema_version": 1, "time": "2026-11-25T10:00:01.234Z", "request_id": "req-3", '
    '"model_name": "", "model_version": null, "run_id": null, "status": 413, '
    '"reason": "too large", "rejected_records": {}}',
]


def _as_version_2(line: str) -> str:
    """Version 2's one change: its number, and the ``role`` after the status."""
    return re.sub(
        r'^\{"schema_version": 1, (.*?"status": \d+), ',
        r'{"schema_version": 2, \1, "role": "served", ',
        line,
    )


def test_the_lines_are_version_1s_bytes_with_the_role_added():
    outside_the_registry = ModelIdentity("", None, None)
    lines = [
        *scored_lines(IDENTITY, "req-1", ARRIVED, COLUMNS, PREDICTIONS, full_names=True),
        rejected_line(IDENTITY, "req-2", ARRIVED, 400, "row 0: field 'Age': bad", {"Age": 2}),
        rejected_line(outside_the_registry, "req-3", ARRIVED, 413, "too large", {}),
    ]
    assert lines == [_as_version_2(line) for line in _LINES_OF_VERSION_1]
    assert all('"role": "served"' in line for line in lines)


def test_lines_of_version_1_are_still_read_as_served_and_say_the_same():
    old = read_prediction_log(["\n".join(_LINES_OF_VERSION_1)])
    new = read_prediction_log(["\n".join(map(_as_version_2, _LINES_OF_VERSION_1))])

    assert (old.lines, old.corrupt_lines) == (4, 0)
    assert old.scored["role"].tolist() == ["served", "served"]
    pd.testing.assert_frame_equal(old.scored, new.scored)
    pd.testing.assert_frame_equal(old.refused, new.refused)


def test_a_refusal_is_one_line_with_its_reason_and_no_data():
    line = json.loads(
        rejected_line(IDENTITY, "req-2", ARRIVED, 400, "row 0: field 'Age': bad", {"Age": 2})
    )
    assert line == {
        "schema_version": SCHEMA_VERSION,
        "time": "2026-11-25T10:00:01.234Z",
        "request_id": "req-2",
        "model_name": "titanic",
        "model_version": "3",
        "run_id": "abc123",
        "status": 400,
        "role": "served",
        "reason": "row 0: field 'Age': bad",
        "rejected_records": {"Age": 2},
    }


def test_a_folder_sink_rotates_by_hour_and_by_size(tmp_path):
    sink = FolderSink(tmp_path, rotate_bytes=10, worker="host-1")
    ten = datetime(2026, 11, 25, 10, 59, tzinfo=UTC)
    sink.write(b"0123456789\n", ten)  # fills the first file
    sink.write(b"second\n", ten)
    sink.write(b"third\n", ten.replace(hour=11))
    sink.close()

    contents = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert contents == {
        "predictions-20261125T10Z-host-1-0000.jsonl": "0123456789\n",
        "predictions-20261125T10Z-host-1-0001.jsonl": "second\n",
        "predictions-20261125T11Z-host-1-0000.jsonl": "third\n",
    }


class _Dropped:
    def __init__(self):
        self.count = 0

    def __call__(self, lines: int) -> None:
        self.count += lines


def _log(sink, dropped: _Dropped, observed: list | None = None, **kwargs) -> PredictionLog:
    return PredictionLog(
        IDENTITY,
        sink,
        full_names=False,
        on_dropped=dropped,
        observe=(observed if observed is not None else []).append,
        **kwargs,
    )


def test_lines_are_written_at_close_even_before_the_flush_is_due(tmp_path):
    dropped = _Dropped()
    log = _log(FolderSink(tmp_path, worker="w"), dropped, flush_seconds=3600)
    log.scored("a", ARRIVED, COLUMNS, PREDICTIONS)
    log.rejected("b", ARRIVED, 415, "no type", {})
    log.close()

    lines = [json.loads(line) for p in tmp_path.iterdir() for line in p.read_text().splitlines()]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("a", 200), ("a", 200), ("b", 415),
    ]  # fmt: skip
    assert dropped.count == 0


def test_a_full_disk_drops_and_counts_the_lines_and_the_log_goes_on(tmp_path):
    dropped, observed = _Dropped(), []
    sink = FolderSink(tmp_path, worker="w")
    hour = datetime.now(UTC).strftime("%Y%m%dT%HZ")
    sink.path_for(hour, 0).symlink_to("/dev/full")  # every write: ENOSPC, "No space left"
    log = _log(sink, dropped, observed, flush_seconds=3600)
    log.scored("a", ARRIVED, COLUMNS, PREDICTIONS)
    log.scored("b", ARRIVED, COLUMNS, PREDICTIONS)
    log.close()

    assert dropped.count == 4
    assert [p["probability"].tolist() for p in observed] == [[0.97, 1e-05], [0.97, 1e-05]]


class _BlockedSink:
    """A sink whose first write waits until released: the queue behind it fills up."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()
        self.written: list[bytes] = []

    def write(self, data: bytes, now: datetime) -> None:
        self.entered.set()
        self.release.wait(10)
        self.written.append(data)

    def close(self) -> None:
        pass


def test_a_full_queue_drops_and_counts_instead_of_making_the_request_wait():
    dropped, sink, observed = _Dropped(), _BlockedSink(), []
    log = _log(sink, dropped, observed, flush_seconds=0.01, max_queued=2)
    log.rejected("first", ARRIVED, 400, "r", {})
    assert sink.entered.wait(10)  # the writer is stuck: nothing leaves the queue
    for request_id in ("queued-1", "queued-2", "dropped-1"):
        log.rejected(request_id, ARRIVED, 400, "r", {})
    log.scored("dropped-2", ARRIVED, COLUMNS, PREDICTIONS)
    assert len(observed) == 1  # its predictions still counted, on the spot
    sink.release.set()
    log.close()

    written = b"".join(sink.written)
    assert dropped.count == 1 + 2
    assert b"queued-2" in written
    assert b"dropped" not in written


def test_a_request_whose_lines_break_the_contract_is_dropped_counted_and_the_log_goes_on(
    tmp_path,
):
    dropped = _Dropped()
    log = _log(FolderSink(tmp_path, worker="w"), dropped, flush_seconds=3600)
    log.scored("broken", ARRIVED, COLUMNS, PREDICTIONS.assign(probability=["high", "low"]))
    log.scored("fine", ARRIVED, COLUMNS, PREDICTIONS)
    log.close()

    lines = [json.loads(line) for p in tmp_path.iterdir() for line in p.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == ["fine", "fine"]
    assert dropped.count == 2


def test_without_a_sink_nothing_is_written_but_probabilities_are_observed():
    dropped, observed = _Dropped(), []
    log = _log(None, dropped, observed)
    log.scored("a", ARRIVED, COLUMNS, PREDICTIONS)
    log.close()
    assert [p["probability"].tolist() for p in observed] == [[0.97, 1e-05]]
    assert dropped.count == 0


@pytest.mark.parametrize("location", ["s3://bucket/prefix", "relative/folder"])
def test_open_sink_picks_s3_or_a_folder(location, tmp_path, monkeypatch):
    from titanic_model.serving.log_writer import FolderSink, S3Sink, open_sink

    monkeypatch.chdir(tmp_path)
    sink = open_sink(location, "http://127.0.0.1:9")
    assert isinstance(sink, S3Sink if location.startswith("s3://") else FolderSink)
    if isinstance(sink, FolderSink):
        assert Path(location).is_dir()


def test_an_s3_log_is_written_with_the_log_buckets_own_keys_when_given():
    from titanic_model.serving.log_writer import open_sink

    with_keys = open_sink("s3://log/x", "http://127.0.0.1:9", ("log-key", "log-secret"))
    assert (with_keys._fs.key, with_keys._fs.secret) == ("log-key", "log-secret")
    assert open_sink("s3://log/x", "http://127.0.0.1:9")._fs.key is None
