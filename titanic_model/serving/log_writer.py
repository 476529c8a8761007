"""The prediction log's writer: one JSON line per scored record, written off the request path.

The lines are :mod:`titanic_model.prediction_log`'s (the contract the monitoring job reads):
a scored record's line holds its validated fields, ``Name`` replaced by its ``Title`` unless
full names are logged, and the model's answer; a refused request's line holds the reason it
was given and its refused records by field, never the data.

A request only appends its records to a queue. One thread per worker process turns them
into lines and hands them to the sink every :data:`FLUSH_SECONDS` and at shutdown. With a
shadow model (:mod:`titanic_model.serving.shadow`), the same thread has it score the
flush's accepted records, and writes its answers as ``shadow`` lines beside the served ones.
When the queue is full, the sink fails (disk full, S3 down) or shutdown cannot wait any
longer for the sink, the lines are dropped and counted
(``titanic_prediction_log_dropped_total``); predictions go on.

Every start of a worker process writes its own files or objects: their names hold the host,
the pid and the start (a restarted container's worker has the same host and pid, often 1),
so that no process ever appends to a file another one cut short, or replaces its objects.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import numpy as np
import pandas as pd

from titanic_model.model.features import extract_titles
from titanic_model.model.schema import PASSENGER_FIELDS, FieldKind
from titanic_model.names import PROBABILITY_COLUMN, SURVIVED_COLUMN
from titanic_model.prediction_log import (
    SCHEMA_VERSION,
    SERVED,
    SHADOW,
    RefusedLine,
    Role,
    ScoredLine,
    format_line,
)

if TYPE_CHECKING:
    from titanic_model.serving.shadow import ShadowAnswers, ShadowScorer

# How long a line may wait in memory before it is written.
FLUSH_SECONDS = 2.0
# A local file is closed and a new one started every hour, or sooner at this size.
ROTATE_BYTES = 64 * 1024 * 1024
# Requests waiting for the writer thread; beyond, their lines are dropped (and counted).
MAX_QUEUED_REQUESTS = 10_000
# A local write has no timeout of its own: shutdown waits this long for one, then counts its
# lines as dropped.
FOLDER_WRITE_SECONDS = 5.0
# One S3 write's bounds: a store that is down or hung must fail it quickly (the batch is dropped
# and counted, predictions go on), and shutdown waits as long as a write may take.
S3_CONNECT_SECONDS = 2.0
S3_READ_SECONDS = 3.0
S3_ATTEMPTS = 2  # the first try and one retry
# What shutdown allows beyond the writes: the last requests turned into lines, the shadow's
# answers to them.
CLOSE_MARGIN_SECONDS = 5.0

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelIdentity:
    """Which model answered: what every log line and ``titanic_model_info`` carry.

    Attributes:
        name: Registered model name ("" for a model outside the registry).
        version: Resolved version number, or None outside the registry.
        run_id: The run that logged the model, or None.
    """

    name: str
    version: str | None
    run_id: str | None


def _plain(value: object) -> object:
    """A validated value as JSON writes it: NaN (missing) as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _head(
    identity: ModelIdentity, request_id: str, arrived: datetime, status: int, role: Role
) -> dict:
    """The fields every line starts with."""
    return {
        "schema_version": SCHEMA_VERSION,
        "time": arrived,
        "request_id": request_id,
        "model_name": identity.name,
        "model_version": identity.version,
        "run_id": identity.run_id,
        "status": status,
        "role": role,
    }


def scored_lines(
    identity: ModelIdentity,
    request_id: str,
    arrived: datetime,
    columns: Mapping[str, np.ndarray],
    predictions: pd.DataFrame,
    *,
    full_names: bool,
    role: Role = SERVED,
) -> list[str]:
    """The log lines of a scored request, one per record.

    Args:
        identity: The model that answered.
        request_id: The request's id.
        arrived: When the request arrived (aware).
        columns: The records as the model validated them: the canonical columns of
            :func:`titanic_model.model.schema.check_passengers` (not validated again).
        predictions: The model's answer, one row per record (``survived``, ``probability``).
        full_names: Log ``Name`` itself, not only its title.
        role: ``served`` (what the client got) or ``shadow`` (the shadow model's answer).

    Returns:
        JSON texts without newlines.
    """
    return [
        format_line(line)
        for line in _scored_models(
            identity,
            request_id,
            arrived,
            _logged_input(columns, full_names),
            predictions[SURVIVED_COLUMN].tolist(),
            predictions[PROBABILITY_COLUMN].tolist(),
            role,
        )
    ]


def _logged_input(columns: Mapping[str, np.ndarray], full_names: bool) -> dict[str, list]:
    """The records' fields as lines hold them, by field."""
    fields: dict[str, list[object]] = {}
    for field in PASSENGER_FIELDS:
        values = columns[field.name]
        if field.kind is FieldKind.INTEGER:
            fields[field.name] = [None if math.isnan(v) else int(v) for v in values.tolist()]
        elif field.name == "Name":
            fields["Title"] = extract_titles(values).tolist()
            if full_names:
                fields["Name"] = [_plain(v) for v in values.tolist()]
        else:
            fields[field.name] = [_plain(v) for v in values.tolist()]
    return fields


def _scored_models(
    identity: ModelIdentity,
    request_id: str,
    arrived: datetime,
    fields: dict[str, list],
    survived: list,
    probability: list,
    role: Role,
) -> list[ScoredLine]:
    """One line per record of a request: its logged input and one model's answer."""
    head = _head(identity, request_id, arrived, 200, role)
    return [
        ScoredLine(
            **head,
            record=i,
            input={name: values[i] for name, values in fields.items()},
            survived=survived[i],
            probability=probability[i],
        )
        for i in range(len(survived))
    ]


def _shadow_lines(
    served: list[ScoredLine], shadow: ModelIdentity, answer: ShadowAnswers
) -> list[str]:
    """The shadow's lines: the served ones, with the shadow's version and answers.

    Copied, not validated again: the input is the served line's, already validated, the
    identity is text, and :class:`ShadowScorer` checked the answers (0 or 1, and a
    probability in [0, 1], as Python numbers); validating the same input twice was half the
    cost of a shadow.
    """
    same = {
        "model_name": shadow.name,
        "model_version": shadow.version,
        "run_id": shadow.run_id,
        "role": SHADOW,
    }
    return [
        format_line(line.model_copy(update=same | {"survived": s, "probability": p}))
        for line, s, p in zip(served, answer.survived, answer.probability, strict=True)
    ]


def rejected_line(
    identity: ModelIdentity,
    request_id: str,
    arrived: datetime,
    status: int,
    reason: str,
    rejected_records: Mapping[str, int],
) -> str:
    """The one log line of a refused request: why, never the data.

    Args:
        identity: The model that was asked.
        request_id: The request's id.
        arrived: When the request arrived (aware).
        status: The HTTP status answered.
        reason: The one-line reason answered.
        rejected_records: Refused records by field of their first broken rule.

    Returns:
        A JSON text without newline.
    """
    head = _head(identity, request_id, arrived, status, SERVED)
    return format_line(RefusedLine(**head, reason=reason, rejected_records=dict(rejected_records)))


class Sink(Protocol):
    """Where batches of lines go.

    Attributes:
        write_seconds: The longest one write may take; shutdown waits for two (the one under
            way and the last one), then counts what is left as dropped.
    """

    write_seconds: float

    def write(self, data: bytes, now: datetime) -> None:
        """Write a batch of whole lines; raise on failure (the batch is then dropped)."""

    def close(self) -> None:
        """Release what the sink holds."""


def _worker_name() -> str:
    """``<host>-<pid>-<start>``: this start of this worker process.

    The start (microseconds since 1970, UTC) tells apart the starts of a process that has the
    same host and pid every time, as a container's first process has (pid 1).
    """
    return f"{socket.gethostname()}-{os.getpid()}-{time.time_ns() // 1000}"


class FolderSink:
    """Append-only files in a local folder, one series per start of a worker process.

    Files are named ``predictions-<UTC hour>-<host>-<pid>-<start>-<n>.jsonl``; a new one starts
    every hour, whenever the current one reaches ``rotate_bytes`` (a batch is never split: a
    file may end past it by one batch), and after a write that failed half-way (whose cut
    line is never extended).
    """

    write_seconds = FOLDER_WRITE_SECONDS

    def __init__(self, folder: Path, rotate_bytes: int = ROTATE_BYTES, worker: str | None = None):
        self.folder = folder
        self.rotate_bytes = rotate_bytes
        self.worker = worker or _worker_name()
        self._file: BinaryIO | None = None
        self._hour = ""
        self._sequence = 0
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, hour: str, sequence: int) -> Path:
        """The file of one hour and sequence number for this worker."""
        return self.folder / f"predictions-{hour}-{self.worker}-{sequence:04d}.jsonl"

    def write(self, data: bytes, now: datetime) -> None:
        """Append ``data``, rotating first when the hour changed or the file is full."""
        hour = now.strftime("%Y%m%dT%HZ")
        if hour != self._hour:
            self.close()
            self._hour, self._sequence = hour, 0
        elif self._file is not None and self._file.tell() >= self.rotate_bytes:
            self.close()
            self._sequence += 1
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)  # it may have been removed
            # Unbuffered: what a write reports written is in the file, nothing waits in memory.
            self._file = open(self.path_for(hour, self._sequence), "ab", buffering=0)  # noqa: SIM115
        written = 0
        try:
            while written < len(data):  # a write may take part of the data only
                written += self._file.write(memoryview(data)[written:]) or 0
        except OSError:
            self.close()  # the next batch starts from a newly opened file,
            if written:  # a new name when this one ends in a cut line: it is never extended
                self._sequence += 1
            raise

    def close(self) -> None:
        """Close the current file."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()


class S3Sink:
    """Objects under an ``s3://bucket/prefix``: each flush is its own object (S3 cannot append).

    Objects are named ``<prefix>/predictions-<UTC time>-<host>-<pid>-<start>-<n>.jsonl``.

    Args:
        uri: ``s3://bucket/prefix``.
        endpoint_url: Endpoint of an S3-compatible store, or None for AWS.
        worker: The names' ``<host>-<pid>-<start>``; None: this process's.
        keys: The access key id and secret, or None for the AWS SDK's own.
        connect_seconds: How long an attempt may take to connect.
        read_seconds: How long an attempt may wait for the store's answer.
    """

    def __init__(
        self,
        uri: str,
        endpoint_url: str | None,
        worker: str | None = None,
        keys: tuple[str, str] | None = None,
        *,
        connect_seconds: float = S3_CONNECT_SECONDS,
        read_seconds: float = S3_READ_SECONDS,
    ):
        import s3fs  # only when the log goes to S3

        self.prefix = uri.removeprefix("s3://").rstrip("/")
        self.worker = worker or _worker_name()
        self._sequence = 0
        # Every attempt connects and waits for its answer; a second of back-off between them.
        # Enforced as the write's deadline: botocore waits for a store's "100 Continue" to a
        # PUT without any timeout, so that a store that accepts and never answers would hang
        # the write for good.
        self.write_seconds = S3_ATTEMPTS * (connect_seconds + read_seconds) + 1.0
        client = {"endpoint_url": endpoint_url} if endpoint_url else {}
        config = {
            "connect_timeout": connect_seconds,
            "read_timeout": read_seconds,
            "retries": {"mode": "standard", "total_max_attempts": S3_ATTEMPTS},
        }
        # The log's own keys when given (never the artifact store's), else the SDK's.
        credentials = {"key": keys[0], "secret": keys[1]} if keys else {}
        self._fs = s3fs.S3FileSystem(
            client_kwargs=client, config_kwargs=config, skip_instance_cache=True, **credentials
        )
        # s3fs would try a timed-out write five times over the client's attempts: not here.
        self._fs.retries = 1

    def write(self, data: bytes, now: datetime) -> None:
        """Write ``data`` as a new object, within :attr:`write_seconds`."""
        stamp = now.strftime("%Y%m%dT%H%M%S")
        key = f"{self.prefix}/predictions-{stamp}-{self.worker}-{self._sequence:06d}.jsonl"
        self._sequence += 1
        self._fs.pipe_file(key, data, timeout=self.write_seconds)

    def close(self) -> None:
        """Nothing is held between writes."""


def open_sink(
    location: str, s3_endpoint_url: str | None, s3_keys: tuple[str, str] | None = None
) -> Sink:
    """The sink for ``TITANIC_PREDICTION_LOG``: a local folder or an ``s3://`` prefix.

    Args:
        location: The folder or ``s3://bucket/prefix``.
        s3_endpoint_url: Endpoint of an S3-compatible store, or None for AWS.
        s3_keys: The log bucket's access key id and secret, or None for the AWS SDK's own.

    Returns:
        The sink (a local folder is created if needed).
    """
    if location.startswith("s3://"):
        return S3Sink(location, s3_endpoint_url, keys=s3_keys)
    return FolderSink(Path(location))


@dataclass(frozen=True)
class _Scored:
    request_id: str
    arrived: datetime
    columns: Mapping[str, np.ndarray]
    predictions: pd.DataFrame


@dataclass(frozen=True)
class _Rejected:
    request_id: str
    arrived: datetime
    status: int
    reason: str
    rejected_records: Mapping[str, int]


def _served_lines(entry: _Scored | _Rejected) -> int:
    """The lines an entry is written as, before any shadow answers it (what a drop counts)."""
    return len(entry.predictions) if isinstance(entry, _Scored) else 1


class PredictionLog:
    """The writer thread of one worker process: requests append, the thread drains and writes.

    A request appends its entry to a deque and returns: it never wakes the thread, whose
    work would then compete for the GIL with the answer still being sent. The thread wakes
    every ``flush_seconds`` (sooner when ``max_queued`` entries wait), turns what is pending
    into lines and writes them in one batch. With a shadow, it first has the shadow score
    the batch's accepted records, in as few calls as :class:`ShadowScorer` makes of them,
    and writes each of its answers as a ``shadow`` line beside the served one.

    Args:
        identity: The served model, on every line.
        sink: Where lines go, or None for no log (the thread then only observes the
            predictions).
        full_names: Log ``Name`` whole instead of its title.
        on_dropped: Called with the number of lines dropped (the metric).
        observe: Called with each scored request's predictions, off the request path (the
            prediction counters and histogram); on the request path only for a request
            whose lines are dropped, so that the counts stay exact.
        flush_seconds: Longest wait before lines are written.
        max_queued: Requests that may wait for the thread; beyond, lines are dropped (and
            the shadow does not score them).
        shadow: The shadow model, or None (only with a sink: its answers go nowhere else).
    """

    def __init__(
        self,
        identity: ModelIdentity,
        sink: Sink | None,
        *,
        full_names: bool,
        on_dropped: Callable[[int], None],
        observe: Callable[[pd.DataFrame], None],
        flush_seconds: float = FLUSH_SECONDS,
        max_queued: int = MAX_QUEUED_REQUESTS,
        shadow: ShadowScorer | None = None,
    ):
        self.identity = identity
        self.shadow = shadow if sink is not None else None
        self.sink = sink
        self.full_names = full_names
        self.on_dropped = on_dropped
        self.observe = observe
        self.flush_seconds = flush_seconds
        self.max_queued = max_queued
        self._pending: deque[_Scored | _Rejected] = deque()
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._failing = False
        # Between the thread and close(): the lines the thread has taken from the queue and
        # not yet written or counted, and whether close() stopped waiting (and counted them).
        self._lock = threading.Lock()
        self._in_hand = 0
        self._given_up = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def scored(
        self,
        request_id: str,
        arrived: datetime,
        columns: Mapping[str, np.ndarray],
        predictions: pd.DataFrame,
    ) -> None:
        """Hand over a scored request (never blocks).

        Args:
            request_id: The request's id.
            arrived: When it arrived.
            columns: Its records as the model validated them (see :func:`scored_lines`).
            predictions: The model's answer.
        """
        self._put(_Scored(request_id, arrived, columns, predictions))

    def rejected(
        self,
        request_id: str,
        arrived: datetime,
        status: int,
        reason: str,
        rejected_records: Mapping[str, int],
    ) -> None:
        """Hand over a refused request (never blocks)."""
        self._put(_Rejected(request_id, arrived, status, reason, rejected_records))

    def _put(self, entry: _Scored | _Rejected) -> None:
        if len(self._pending) >= self.max_queued:
            self._wake.set()  # the thread is late: write now
            if isinstance(entry, _Scored):
                self.observe(entry.predictions)
            if self.sink is not None:
                self.on_dropped(_served_lines(entry))
            return
        self._pending.append(entry)  # deque.append is atomic: no lock on the request path

    @property
    def close_seconds(self) -> float:
        """How long :meth:`close` waits: the write under way, the last one, and a margin."""
        writes = 2 * self.sink.write_seconds if self.sink is not None else 0.0
        return writes + CLOSE_MARGIN_SECONDS

    def close(self, timeout: float | None = None) -> None:
        """Write what is pending and stop the thread (at shutdown).

        Args:
            timeout: How long to wait for the thread; None: :attr:`close_seconds`. Lines still
                unwritten then are counted as dropped (and their predictions observed), also
                those of a write under way that might still land in the process's last moments.
        """
        self._stopping.set()
        self._wake.set()
        self._thread.join(self.close_seconds if timeout is None else timeout)
        with self._lock:
            if self._thread.is_alive():  # stuck in a write: what it holds is lost with us
                self._given_up = True
                left = self._take_pending()
                for entry in left:
                    if isinstance(entry, _Scored):
                        self.observe(entry.predictions)
                lost = self._in_hand + sum(map(_served_lines, left))
                if self.sink is not None and lost:
                    self.on_dropped(lost)
                    _logger.warning("prediction log: %d line(s) unwritten at shutdown", lost)
        if self.sink is not None:
            self.sink.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            # Read before draining: everything handed over before close() is in this drain.
            stopping = self._stopping.is_set()
            self._drain()

    def _drain(self) -> None:
        # What is pending now; later ones wait their turn.
        with self._lock:
            entries = self._take_pending()
            self._in_hand = sum(map(_served_lines, entries))
        shadow_answers = self._shadow_answers(entries)
        lines: list[str] = []
        dropped = 0
        for index, entry in enumerate(entries):
            entry_lines, entry_dropped = self._lines_of(entry, shadow_answers.get(index))
            lines += entry_lines
            dropped += entry_dropped
            # Hand the GIL back after each request's lines. Otherwise the event loop waits
            # for the interpreter's switch interval (5 ms) at every step of a request while
            # a drain runs: a second of traffic took 200 ms to drain, and stalled answers.
            time.sleep(0)
        error = None
        if lines and self.sink is not None:
            with self._lock:
                self._in_hand = len(lines) + dropped
            try:
                self.sink.write(("\n".join(lines) + "\n").encode(), datetime.now(UTC))
            except Exception as failure:  # disk full, S3 down, …: predictions go on
                error = failure
        with self._lock:
            if self._given_up:  # close() counted them all
                return
            self._in_hand = 0
            if self.sink is not None and dropped + (len(lines) if error else 0):
                self.on_dropped(dropped + (len(lines) if error else 0))
        if error is not None:
            if not self._failing:  # once per outage
                _logger.warning("prediction log: %d line(s) dropped: %s", len(lines), error)
            self._failing = True
        elif lines and self._failing:
            _logger.warning("prediction log: writing again")
            self._failing = False

    def _take_pending(self) -> list[_Scored | _Rejected]:
        """Everything pending now, in order (the caller holds the lock); later ones wait."""
        return [self._pending.popleft() for _ in range(len(self._pending))]

    def _shadow_answers(self, entries: list[_Scored | _Rejected]) -> dict[int, ShadowAnswers]:
        """The shadow's answers to the scored entries, by position (none where it failed)."""
        if self.shadow is None:
            return {}
        scored = [(i, entry) for i, entry in enumerate(entries) if isinstance(entry, _Scored)]
        answers = self.shadow.score([entry.columns for _, entry in scored])
        pairs = zip(scored, answers, strict=True)
        return {i: answer for (i, _), answer in pairs if answer is not None}

    def _lines_of(
        self, entry: _Scored | _Rejected, shadow_answer: ShadowAnswers | None = None
    ) -> tuple[list[str], int]:
        """An entry's lines, and how many of them could not be formatted (dropped)."""
        if isinstance(entry, _Rejected):
            if self.sink is None:
                return [], 0
            return [
                rejected_line(
                    self.identity,
                    entry.request_id,
                    entry.arrived,
                    entry.status,
                    entry.reason,
                    entry.rejected_records,
                )
            ], 0
        self.observe(entry.predictions)
        if self.sink is None:
            return [], 0
        try:
            served = _scored_models(
                self.identity,
                entry.request_id,
                entry.arrived,
                _logged_input(entry.columns, self.full_names),
                entry.predictions[SURVIVED_COLUMN].tolist(),
                entry.predictions[PROBABILITY_COLUMN].tolist(),
                SERVED,
            )
            lines = [format_line(line) for line in served]
        except Exception:  # a bug here must not stop the thread: count it and say so
            _logger.exception("could not format the log lines of request %s", entry.request_id)
            return [], len(entry.predictions)
        shadow = self.shadow.identity if self.shadow is not None else None
        if shadow_answer is not None and shadow is not None:
            try:
                lines += _shadow_lines(served, shadow, shadow_answer)
            except Exception:  # the served lines are written whatever becomes of these
                _logger.exception("could not format the shadow lines of %s", entry.request_id)
                return lines, len(served)
        return lines, 0
