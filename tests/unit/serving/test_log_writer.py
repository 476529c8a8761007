from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from titanic_model.model.schema import check_passengers
from titanic_model.prediction_log import SCHEMA_VERSION, read_prediction_log
from titanic_model.serving import log_writer
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
    # No periodic flush within the test: only shutdown can write these lines.
    log = _log(FolderSink(tmp_path, worker="w"), dropped, flush_seconds=3600)
    log.scored("a", ARRIVED, COLUMNS, PREDICTIONS)
    log.rejected("b", ARRIVED, 415, "no type", {})
    assert list(tmp_path.iterdir()) == []
    log.close()

    lines = [json.loads(line) for p in tmp_path.iterdir() for line in p.read_text().splitlines()]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("a", 200), ("a", 200), ("b", 415),
    ]  # fmt: skip
    assert dropped.count == 0


class _AtTen(FolderSink):
    """A folder sink whose clock says 10:59 whenever it writes: the file it opens is known."""

    def write(self, data: bytes, now: datetime) -> None:
        super().write(data, TEN)


TEN = datetime(2026, 11, 25, 10, 59, tzinfo=UTC)


def test_a_full_disk_drops_and_counts_the_lines_and_the_log_goes_on(tmp_path):
    dropped, observed = _Dropped(), []
    sink = _AtTen(tmp_path, worker="w")
    sink.path_for("20261125T10Z", 0).symlink_to("/dev/full")  # every write: ENOSPC
    log = _log(sink, dropped, observed, flush_seconds=3600)
    log.scored("a", ARRIVED, COLUMNS, PREDICTIONS)
    log.scored("b", ARRIVED, COLUMNS, PREDICTIONS)
    log.close()

    assert dropped.count == 4
    assert [p["probability"].tolist() for p in observed] == [[0.97, 1e-05], [0.97, 1e-05]]


class _BlockedSink:
    """A sink whose first write waits until released: the queue behind it fills up."""

    write_seconds = 10.0

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


# --- shutdown: as long as the writes may take, and what it cannot wait for is counted ------


class _HungSink:
    """A sink whose writes hang until released, as a store that accepts and never answers."""

    write_seconds = 0.2

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()
        self.written: list[bytes] = []

    def write(self, data: bytes, now: datetime) -> None:
        self.entered.set()
        assert self.release.wait(30)
        self.written.append(data)

    def close(self) -> None:
        pass


def test_close_waits_for_the_write_under_way_and_the_last_one_then_counts_what_is_left(
    monkeypatch,
):
    monkeypatch.setattr(log_writer, "CLOSE_MARGIN_SECONDS", 0.0)
    dropped, sink, observed = _Dropped(), _HungSink(), []
    log = _log(sink, dropped, observed, flush_seconds=0.01)
    log.scored("in-hand", ARRIVED, COLUMNS, PREDICTIONS)
    assert sink.entered.wait(10)  # the thread is stuck writing these 2 lines
    log.scored("queued", ARRIVED, COLUMNS, PREDICTIONS)
    log.rejected("refused", ARRIVED, 400, "r", {})
    assert log.close_seconds == 2 * sink.write_seconds

    started = time.monotonic()
    log.close()
    waited = time.monotonic() - started

    assert 2 * sink.write_seconds <= waited < 2 * sink.write_seconds + 2
    assert dropped.count == 2 + 2 + 1
    assert len(observed) == 2  # the queued request's predictions are counted all the same
    sink.release.set()  # the stuck write ends after all: it is not counted twice
    log._thread.join(10)
    assert not log._thread.is_alive()
    assert dropped.count == 2 + 2 + 1
    assert b"queued" not in b"".join(sink.written)


def test_an_s3_write_to_a_store_that_never_answers_ends_within_its_bound():
    from titanic_model.serving.log_writer import S3_ATTEMPTS, S3Sink

    with socket.socket() as hung:  # accepts connections (the kernel's backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
        sink = S3Sink("s3://log/x", endpoint, keys=("k", "s"), connect_seconds=0.1,
                      read_seconds=0.1)  # fmt: skip
        assert sink.write_seconds == S3_ATTEMPTS * (0.1 + 0.1) + 1.0
        assert PredictionLog.close_seconds.fget(SimpleNamespace(sink=sink)) >= (
            2 * sink.write_seconds
        )
        # botocore waits for the store's "100 Continue" without a timeout: only the write's
        # own deadline ends it. In a thread, so that a write without one fails the test.
        errors: list[Exception] = []

        def write() -> None:
            try:
                sink.write(b"{}\n", ARRIVED)
            except Exception as error:  # fsspec's timeout, or botocore's
                errors.append(error)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(sink.write_seconds + 1)
        assert not writer.is_alive(), "the write outlived its bound"
        assert len(errors) == 1


def test_the_s3_bounds_are_what_close_waits_for_by_default():
    from titanic_model.serving.log_writer import (
        CLOSE_MARGIN_SECONDS,
        S3_ATTEMPTS,
        S3_CONNECT_SECONDS,
        S3_READ_SECONDS,
        open_sink,
    )

    sink = open_sink("s3://log/x", "http://127.0.0.1:9", ("k", "s"))
    attempt = S3_CONNECT_SECONDS + S3_READ_SECONDS
    assert sink.write_seconds >= S3_ATTEMPTS * attempt
    config = sink._fs.config_kwargs
    assert (config["connect_timeout"], config["read_timeout"]) == (
        S3_CONNECT_SECONDS, S3_READ_SECONDS,
    )  # fmt: skip
    assert config["retries"]["total_max_attempts"] == S3_ATTEMPTS
    assert sink._fs.retries == 1  # no retries of s3fs's own on top of the client's
    log = _log(sink, _Dropped())
    try:
        assert log.close_seconds == 2 * sink.write_seconds + CLOSE_MARGIN_SECONDS
    finally:
        log.close()


# --- outages: one warning when one starts, one line when writing again ---------------------


class _FlakySink:
    """A sink that fails while ``down``; it records each attempt's outcome."""

    write_seconds = 1.0

    def __init__(self):
        self.down = False
        self.written: list[bytes] = []
        self.failed = 0
        self.attempted = threading.Condition()

    def write(self, data: bytes, now: datetime) -> None:
        with self.attempted:
            try:
                if self.down:
                    self.failed += 1
                    raise OSError("store unreachable")
                self.written.append(data)
            finally:
                self.attempted.notify_all()

    def wait_for(self, condition) -> None:
        with self.attempted:
            assert self.attempted.wait_for(condition, timeout=10)

    def close(self) -> None:
        pass


def test_writes_resume_after_an_outage_with_one_warning_each_way(caplog):
    caplog.set_level(logging.WARNING, logger=log_writer.__name__)
    dropped, sink = _Dropped(), _FlakySink()
    log = _log(sink, dropped, flush_seconds=0.01)
    for outage in range(2):
        sink.down = True
        for i in range(3):  # three batches fail, each on its own
            failed = sink.failed
            log.rejected(f"lost-{outage}-{i}", ARRIVED, 400, "r", {})
            sink.wait_for(lambda failed=failed: sink.failed > failed)
        sink.down = False
        for i in range(2):
            written = len(sink.written)
            log.rejected(f"kept-{outage}-{i}", ARRIVED, 400, "r", {})
            sink.wait_for(lambda written=written: len(sink.written) > written)
    log.close()

    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "prediction log: 1 line(s) dropped: store unreachable", "prediction log: writing again",
    ] * 2  # fmt: skip
    assert dropped.count == 6
    written = b"".join(sink.written)
    assert [written.count(f"kept-{o}-{i}".encode()) for o in range(2) for i in range(2)] == [1] * 4
    assert b"lost" not in written


# --- file names across restarts -----------------------------------------------------------


def test_each_start_of_a_process_writes_its_own_files_and_never_extends_a_cut_line(tmp_path):
    killed = FolderSink(tmp_path)  # default name: this host, this pid, this start
    killed.write(b'{"a": 1}\n{"b": ', TEN)  # SIGKILL in the middle of a line
    restarted = FolderSink(tmp_path)  # same host, same pid (a container's pid 1)
    restarted.write(b'{"c": 3}\n', TEN)
    restarted.close()

    assert killed.worker != restarted.worker
    contents = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert contents == {
        killed.path_for("20261125T10Z", 0).name: '{"a": 1}\n{"b": ',
        restarted.path_for("20261125T10Z", 0).name: '{"c": 3}\n',
    }
    worker = rf"{re.escape(socket.gethostname())}-{os.getpid()}-\d+"
    pattern = rf"predictions-20261125T10Z-{worker}-0000\.jsonl"
    assert all(re.fullmatch(pattern, name) for name in contents), contents


def test_each_start_of_a_process_writes_its_own_s3_objects_in_the_same_second():
    from titanic_model.serving.log_writer import open_sink

    keys: list[str] = []
    sinks = [open_sink("s3://log/serving", "http://127.0.0.1:9", ("k", "s")) for _ in range(2)]
    for sink in sinks:  # a process, then the same host and pid restarted within the second
        sink._fs = SimpleNamespace(pipe_file=lambda key, data, timeout: keys.append(key))
        sink.write(b"{}\n", TEN)
        sink.write(b"{}\n", TEN)

    assert len(set(keys)) == 4
    worker = rf"{re.escape(socket.gethostname())}-{os.getpid()}-\d+"
    pattern = rf"log/serving/predictions-20261125T105900-{worker}-00000[01]\.jsonl"
    assert all(re.fullmatch(pattern, key) for key in keys), keys


class _DiskFillsUp:
    """A file that takes ``room`` more bytes, then fails as a full disk does."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def write(self, data) -> int:
        if not self.room:
            raise OSError(28, "No space left on device")
        taken = bytes(data[: self.room])
        self.room -= len(taken)
        return self.file.write(taken)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


def test_a_write_cut_short_starts_a_new_file_and_its_cut_line_is_never_extended(tmp_path):
    sink = FolderSink(tmp_path, worker="w")
    sink.write(b"first\n", TEN)
    sink._file = _DiskFillsUp(sink._file, room=4)
    with pytest.raises(OSError, match="No space left"):
        sink.write(b"second\nthird\n", TEN)
    sink.write(b"fourth\n", TEN)
    sink.close()

    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "predictions-20261125T10Z-w-0000.jsonl": "first\nseco",
        "predictions-20261125T10Z-w-0001.jsonl": "fourth\n",
    }


# --- rotation -----------------------------------------------------------------------------


def test_rotation_by_size_and_by_hour_never_splits_a_line_nor_loses_one(tmp_path):
    sink = FolderSink(tmp_path, rotate_bytes=1000, worker="w")
    batches = []
    for i in range(12):  # batches of a request's 2 lines, ~1.2 kB: past the size each time
        arrived = TEN.replace(second=59, microsecond=990_000) + (i // 6) * timedelta(minutes=1)
        lines = scored_lines(IDENTITY, f"req-{i}", arrived, COLUMNS, PREDICTIONS, full_names=False)
        batches.append("\n".join(lines) + "\n")
    for i, batch in enumerate(batches):
        # The last six are written at 11:00: they arrived at 10:59:59.99, or after.
        sink.write(batch.encode(), TEN + timedelta(seconds=1) * (i // 6 * 61))
    sink.close()

    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == [
        f"predictions-20261125T{hour}Z-w-{n:04d}.jsonl" for hour in ("10", "11") for n in range(3)
    ]
    for path in files:  # every file is whole batches, every batch in one file
        text = path.read_text()
        assert text in ("".join(batches[i : i + 2]) for i in range(0, 12, 2)), path.name
    assert "".join(p.read_text() for p in files) == "".join(batches)
    # Readers select by the lines' own time, not the file's hour: the request that arrived at
    # 10:59:59.99 and was written in the 11:00 file is in 10:00's hour.
    table = read_prediction_log(
        [p.read_text() for p in files], TEN.replace(minute=0), TEN.replace(hour=11, minute=0)
    )
    assert sorted(set(table.scored["request_id"])) == [f"req-{i}" for i in range(6)]


def test_the_documented_bounds_are_the_codes():
    from tests.processes import PROJECT_ROOT
    from titanic_model.serving.log_writer import CLOSE_MARGIN_SECONDS, open_sink

    text = " ".join((PROJECT_ROOT / "docs" / "serving.md").read_text().split())
    s3 = open_sink("s3://log/x", "http://127.0.0.1:9", ("k", "s"))
    assert f"An S3 write gives up after {s3.write_seconds:g} seconds" in text
    assert f"({2 * s3.write_seconds + CLOSE_MARGIN_SECONDS:g} s on S3" in text
    folder = 2 * FolderSink.write_seconds + CLOSE_MARGIN_SECONDS
    assert f"{folder:g} s on a local disk" in text


def test_an_s3_log_writes_again_once_the_store_is_back(caplog):
    """A real S3 server (moto's, in this process) stopped under the log, then started again."""
    from moto.server import ThreadedMotoServer

    from tests.processes import free_port, wait_for
    from titanic_model.serving.log_writer import open_sink

    caplog.set_level(logging.WARNING, logger=log_writer.__name__)
    port = free_port()
    store = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    store.start()
    try:
        sink = open_sink("s3://log/serving", f"http://127.0.0.1:{port}", ("key", "secret"))
        sink._fs.mkdir("log")
        dropped = _Dropped()
        log = _log(sink, dropped, flush_seconds=0.05)

        def objects() -> list[str]:
            sink._fs.invalidate_cache()
            return sorted(sink._fs.find("log/serving"))

        log.rejected("up", ARRIVED, 400, "r", {})
        wait_for(lambda: len(objects()) == 1, "the first line written", timeout=20)
        store.stop()  # the store goes down
        for i in range(2):
            log.rejected(f"down-{i}", ARRIVED, 400, "r", {})
            # Each flush fails on its own.
            wait_for(lambda i=i: dropped.count == i + 1, f"{i + 1} line(s) dropped", timeout=20)
        store = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        store.start()  # and comes back (moto keeps the bucket in this process)
        log.rejected("back", ARRIVED, 400, "r", {})
        wait_for(lambda: len(objects()) == 2, "the line after the store came back", timeout=20)
        log.close()

        written = [sink._fs.cat_file(key).decode() for key in objects()]
        assert [json.loads(text)["request_id"] for text in written] == ["up", "back"]
        assert dropped.count == 2
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2, messages
        assert messages[0].startswith("prediction log: 1 line(s) dropped: ")
        assert messages[1] == "prediction log: writing again"
    finally:
        store.stop()
