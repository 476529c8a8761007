"""The prediction log's contract: what one line says, for its writer and its readers (pure).

The serving layer writes the log (:mod:`titanic_model.serving.log_writer`); the monitoring
job and the labelling jobs read it. Both sides go through the models here, so the format is
spelt once: JSON Lines, version :data:`SCHEMA_VERSION`, documented in README's "Prediction
log" (a version changes whenever a field changes meaning or goes away).

Every line has ``schema_version``, ``time`` (UTC, ISO 8601, to the millisecond: when the
request arrived), ``request_id``, ``model_name``, ``model_version`` (null outside the
registry), ``run_id``, ``status`` and ``role``: ``served`` for what the client was answered,
``shadow`` for the shadow model's answer to the same record, never sent. A scored record
(:class:`ScoredLine`, status 200) adds ``record``, ``input``, ``survived`` and
``probability``; a refused request (:class:`RefusedLine`, always ``served``) adds ``reason``
and ``rejected_records``.

Version 2 added ``role``; version 1 lines, written before shadows, are still read, as
``served``.

Reading: :func:`parse_line` reads one line, :func:`read_prediction_log` files' text into
tables. A line that is not JSON, not an object, of a schema version not read here, missing a
field or with a field of the wrong type is skipped and counted, never fatal on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import pandas as pd
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    model_validator,
)

#: The version the writer writes.
SCHEMA_VERSION: Final = 2
#: The versions readers read: 1 (before ``role``: every line is ``served``) and 2.
READABLE_VERSIONS: Final = (1, 2)
#: ``role`` of what a client was answered, and of the shadow model's answer to the same record.
SERVED: Final = "served"
SHADOW: Final = "shadow"
Role = Literal["served", "shadow"]


def _readable(version: int) -> int:
    if version not in READABLE_VERSIONS:
        raise ValueError(f"schema version {version} is not one of {READABLE_VERSIONS}")
    return version


def _utc_milliseconds(time: datetime) -> str:
    """An instant as the log writes it: ``2026-11-25T10:00:01.234Z``."""
    return time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Dumped as the log writes it, also by model_dump(): the line's dict is what json.dumps lays out.
_Time = Annotated[AwareDatetime, PlainSerializer(_utc_milliseconds, return_type=str)]

# A passenger field's name: what a refusal counts records by (the monitoring job makes metric
# names of them, which MLflow allows few characters in).
_FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+$")]


class _Line(BaseModel):
    """The fields every line starts with, in the order they are written."""

    model_config = ConfigDict(frozen=True)

    schema_version: Annotated[int, AfterValidator(_readable)]
    #: When the request arrived.
    time: _Time
    request_id: str
    #: The registered model ("" outside the registry).
    model_name: str
    #: The resolved version number, also when served by alias; None outside the registry.
    model_version: str | None
    #: The run that logged the model.
    run_id: str | None
    #: The HTTP status answered.
    status: int
    #: ``served``: what the client was answered; ``shadow``: the shadow model's answer.
    role: Role

    @model_validator(mode="before")
    @classmethod
    def _served_before_version_2(cls, raw: object) -> object:
        """A version 1 line has no ``role``: it was served."""
        if isinstance(raw, dict) and raw.get("schema_version") == 1:
            if "role" in raw:
                raise ValueError("a version 1 line has no role")
            return {**raw, "role": SERVED}
        return raw


class ScoredLine(_Line):
    """One scored record of a request answered 200."""

    status: Literal[200]
    #: The record's position in its request, from 0.
    record: int
    #: Its validated fields: integers as integers, numbers as floats, text with its spaces
    #: normalised, None when absent; ``Title`` instead of ``Name`` unless names are logged.
    input: dict[str, int | float | str | None]
    survived: int
    probability: float


class RefusedLine(_Line):
    """A refused request, one line for all its records: why, never the data."""

    #: Only what a client was answered is refused: the shadow scores accepted records only.
    role: Literal["served"]

    #: The one-line reason answered.
    reason: str
    #: Refused records by field of their first broken rule (empty when the body could not
    #: be read as records).
    rejected_records: dict[_FieldName, int]


PredictionLogLine = ScoredLine | RefusedLine


def format_line(line: PredictionLogLine) -> str:
    """The line's JSON text, without newline: what the writer appends to the log.

    Laid out by :func:`json.dumps` (``", "`` and ``": "`` between items, non-ASCII escaped),
    as the log has been written since version 1. Not by pydantic's JSON mode, which cannot
    write a lone surrogate (which a client may send, escaped in JSON) as text or as a key.
    """
    return json.dumps(line.model_dump(), allow_nan=False)


def parse_line(text: str) -> PredictionLogLine | None:
    """Read one line of the log.

    Args:
        text: The line's text.

    Returns:
        The line, or None when it is not a line of a version read here.
    """
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    model = ScoredLine if raw.get("status") == 200 else RefusedLine
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


# The tables' columns: every field but the version, with a scored record's input spread out.
_SCORED_COLUMNS = [f for f in ScoredLine.model_fields if f not in ("schema_version", "input")]
_REFUSED_COLUMNS = [f for f in RefusedLine.model_fields if f != "schema_version"]


@dataclass(frozen=True)
class PredictionLogTable:
    """The log's lines in a time window.

    Attributes:
        scored: One row per scored record and role: ``time`` (UTC), ``request_id``, the model
            columns (``model_name``, ``model_version``, ``run_id``), ``status``, ``role``,
            ``record``, ``survived``, ``probability`` and every logged input field.
        refused: One row per refused request: ``time``, ``request_id``, the model columns,
            ``status``, ``role``, ``reason`` and ``rejected_records`` (a dict of records by
            field).
        lines: Lines read in all (the window's and the others).
        corrupt_lines: Lines skipped as unreadable.
    """

    scored: pd.DataFrame
    refused: pd.DataFrame
    lines: int
    corrupt_lines: int

    def served(self) -> PredictionLogTable:
        """The same lines without the shadow's answers: only what clients were answered."""
        return replace(self, scored=self.scored[self.scored["role"] == SERVED])


def _table(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    return frame.assign(time=pd.to_datetime(frame["time"], utc=True))


def read_prediction_log(
    texts: Iterable[str], since: datetime | None = None, until: datetime | None = None
) -> PredictionLogTable:
    """Turn log files' text into tables, keeping the lines of ``[since, until)``.

    Args:
        texts: Each file's text (or any chunks of whole lines).
        since: Keep lines at or after this instant (aware); None: from the start.
        until: Keep lines before this instant (aware); None: to the end.

    Returns:
        The tables, with counts of lines read and skipped.
    """
    scored: list[dict] = []
    refused: list[dict] = []
    lines = corrupt = 0
    for text in texts:
        for raw in text.splitlines():
            if not raw.strip():
                continue
            lines += 1
            line = parse_line(raw)
            if line is None:
                corrupt += 1
            elif (since is None or line.time >= since) and (until is None or line.time < until):
                if isinstance(line, ScoredLine):
                    row = {name: getattr(line, name) for name in _SCORED_COLUMNS}
                    scored.append(row | line.input)
                else:
                    refused.append({name: getattr(line, name) for name in _REFUSED_COLUMNS})
    return PredictionLogTable(
        scored=_table(scored, _SCORED_COLUMNS),
        refused=_table(refused, _REFUSED_COLUMNS),
        lines=lines,
        corrupt_lines=corrupt,
    )
