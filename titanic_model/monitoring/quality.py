"""The prediction log as tables, joined with outcomes learnt later (pure: text in, frames out).

Reads what the serving layer writes (:mod:`titanic_model.serving.log_writer`, schema
version 1): a line that is not JSON, not an object, of another schema version or missing a
field is skipped and counted, never fatal on its own.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from titanic_model.evaluation.metrics import live_metrics
from titanic_model.model.schema import LABEL, PASSENGER_ID, SchemaError

SCHEMA_VERSION = 1
_COMMON = ("time", "request_id", "model_name", "model_version", "run_id", "status")
_SCORED = (*_COMMON, "record", "input", "survived", "probability")
_REFUSED = (*_COMMON, "reason", "rejected_records")
# Bootstrap resamples of the live metrics' 95 % intervals (seeded: the same rows give the
# same interval).
_RESAMPLES = 1000


@dataclass(frozen=True)
class PredictionLogTable:
    """The log's lines in a time window.

    Attributes:
        scored: One row per scored record: ``time`` (UTC), the request and model columns,
            ``survived``, ``probability`` and every logged input field.
        refused: One row per refused request: ``time``, the model columns, ``status``,
            ``reason`` and ``rejected_records`` (a dict of records by field).
        lines: Lines read in all (the window's and the others).
        corrupt_lines: Lines skipped as unreadable.
    """

    scored: pd.DataFrame
    refused: pd.DataFrame
    lines: int
    corrupt_lines: int


def _parse_line(text: str) -> dict | None:
    try:
        line = json.loads(text)
    except ValueError:
        return None
    if not isinstance(line, dict) or line.get("schema_version") != SCHEMA_VERSION:
        return None
    expected = _SCORED if line.get("status") == 200 else _REFUSED
    if any(key not in line for key in expected):
        return None
    if line["status"] == 200 and not isinstance(line["input"], dict):
        return None
    try:
        line["time"] = pd.Timestamp(line["time"])
    except ValueError:
        return None
    return line if line["time"].tzinfo is not None else None


def parse_prediction_log(
    texts: list[str], since: datetime | None = None, until: datetime | None = None
) -> PredictionLogTable:
    """Turn log files' text into tables, keeping the lines of ``[since, until)``.

    Args:
        texts: Each file's text.
        since: Keep lines at or after this instant (aware); None: from the start.
        until: Keep lines before this instant; None: to the end.

    Returns:
        The tables, with counts of lines read and skipped.
    """
    scored, refused = [], []
    lines = corrupt = 0
    for text in texts:
        for raw in text.splitlines():
            if not raw.strip():
                continue
            lines += 1
            line = _parse_line(raw)
            if line is None:
                corrupt += 1
                continue
            if (since is not None and line["time"] < since) or (
                until is not None and line["time"] >= until
            ):
                continue
            if line["status"] == 200:
                scored.append({key: line[key] for key in _SCORED if key != "input"} | line["input"])
            else:
                refused.append({key: line[key] for key in _REFUSED})
    return PredictionLogTable(
        scored=pd.DataFrame(scored, columns=None if scored else list(_SCORED)),
        refused=pd.DataFrame(refused, columns=list(_REFUSED)),
        lines=lines,
        corrupt_lines=corrupt,
    )


def rejected_by_field(refused: pd.DataFrame) -> dict[str, int]:
    """Refused records by field, over every refused request."""
    counts: Counter[str] = Counter()
    for rejected in refused["rejected_records"]:
        counts.update(rejected)
    return dict(sorted(counts.items()))


def check_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Validate outcomes learnt later: ``PassengerId`` and ``Survived`` (0 or 1), one per id.

    A file with ``request_id`` and ``record`` columns too (what ``collect_labels`` writes)
    labels logged records themselves: a row with both is checked by :func:`_check_keyed_labels`.

    Args:
        labels: The labels file as read.

    Returns:
        ``PassengerId`` (int64) and ``Survived`` (int64); for a keyed file, also
        ``request_id`` and ``record``, with ``PassengerId`` nullable.

    Raises:
        SchemaError: Naming the column or the first bad row.
    """
    if all(column in labels.columns for column in RECORD_KEY):
        return _check_keyed_labels(labels)
    missing = [c for c in (PASSENGER_ID, LABEL) if c not in labels.columns]
    if missing:
        raise SchemaError("labels: missing column(s) " + ", ".join(missing))
    ids = pd.to_numeric(labels[PASSENGER_ID], errors="coerce")
    outcomes = pd.to_numeric(labels[LABEL], errors="coerce")
    bad_id = ids.isna() | (ids != ids.round())
    bad_outcome = ~outcomes.isin([0, 1])
    bad = np.flatnonzero((bad_id | bad_outcome).to_numpy())
    if len(bad):
        row = int(bad[0])
        field = PASSENGER_ID if bad_id.iloc[row] else LABEL
        rule = "an integer" if field == PASSENGER_ID else "0 or 1"
        value = labels[field].iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise SchemaError(f"labels: row {row}: {field} {value!r} is not {rule}")
    checked = pd.DataFrame({PASSENGER_ID: ids.astype("int64"), LABEL: outcomes.astype("int64")})
    duplicated = checked[PASSENGER_ID].duplicated(keep=False)
    if duplicated.any():
        first = int(checked.loc[duplicated, PASSENGER_ID].iloc[0])
        conflicting = checked.loc[checked[PASSENGER_ID] == first, LABEL].nunique() > 1
        if conflicting:
            raise SchemaError(f"labels: PassengerId {first} has two different outcomes")
    return checked.drop_duplicates(PASSENGER_ID)


@dataclass(frozen=True)
class LabelledPredictions:
    """Scored records whose outcome is now known.

    Attributes:
        joined: The scored rows that have a label, with ``Survived``.
        unknown_ids: Labels whose ``PassengerId`` (or key) no scored record has.
        unlabelled: Scored records with no label (or no ``PassengerId``).
    """

    joined: pd.DataFrame
    unknown_ids: int
    unlabelled: int


def join_labels(scored: pd.DataFrame, labels: pd.DataFrame) -> LabelledPredictions:
    """Join scored records with their outcomes on ``PassengerId``.

    Keyed labels (with ``request_id`` and ``record``) join on those: the one record a reviewer
    labelled, with or without a ``PassengerId``. Their rows without a key join on the id, with
    the records no key took.

    Args:
        scored: The log's scored records (their ``PassengerId`` may be missing).
        labels: Output of :func:`check_labels`.

    Returns:
        The joined rows and what could not be joined, counted.
    """
    if "request_id" in labels.columns:
        return _join_keyed_labels(scored, labels)
    ids = pd.to_numeric(scored.get(PASSENGER_ID, pd.Series(dtype=float)), errors="coerce")
    with_id = scored.assign(**{PASSENGER_ID: ids}).dropna(subset=[PASSENGER_ID])
    with_id = with_id.astype({PASSENGER_ID: "int64"})
    joined = with_id.merge(labels, on=PASSENGER_ID, how="inner")
    return LabelledPredictions(
        joined=joined,
        unknown_ids=int((~labels[PASSENGER_ID].isin(with_id[PASSENGER_ID])).sum()),
        unlabelled=len(scored) - len(joined),
    )


#: What identifies a logged record: the request and the record's position in it.
RECORD_KEY = ("request_id", "record")


def _check_keyed_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Labels of logged records, as :func:`check_labels` returns them.

    Every row needs ``Survived`` 0 or 1, and either a key (a ``request_id`` and a ``record``
    >= 0) or an integer ``PassengerId``; a key, or an id among the rows without a key, has one
    outcome.
    """
    if LABEL not in labels.columns:
        raise SchemaError(f"labels: missing column(s) {LABEL}")
    given_ids = labels.get(PASSENGER_ID, pd.Series(np.nan, index=labels.index, dtype=float))
    ids = pd.to_numeric(given_ids, errors="coerce")
    records = pd.to_numeric(labels["record"], errors="coerce")
    outcomes = pd.to_numeric(labels[LABEL], errors="coerce")
    keyed = labels["request_id"].notna() & (labels["request_id"].astype(str) != "")
    rules = {
        LABEL: (~outcomes.isin([0, 1]), "0 or 1"),
        "record": (keyed & ~((records >= 0) & (records == records.round())), "an integer >= 0"),
        PASSENGER_ID: ((given_ids.notna() | ~keyed) & (ids.isna() | (ids != ids.round())),
                       "an integer"),
    }  # fmt: skip
    broken = {field: np.flatnonzero(rows.to_numpy()) for field, (rows, _) in rules.items()}
    first = min(((rows[0], field) for field, rows in broken.items() if len(rows)), default=None)
    if first is not None:
        row, field = first
        value = given_ids.iloc[row] if field == PASSENGER_ID else labels[field].iloc[row]
        if field == PASSENGER_ID and pd.isna(value):
            raise SchemaError(f"labels: row {row}: no PassengerId, nor request_id and record")
        value = value.item() if isinstance(value, np.generic) else value
        raise SchemaError(f"labels: row {row}: {field} {value!r} is not {rules[field][1]}")
    checked = pd.DataFrame(
        {
            PASSENGER_ID: ids.astype("Int64"),
            LABEL: outcomes.astype("int64"),
            "request_id": labels["request_id"].astype(str).where(keyed),
            "record": records.where(keyed).astype("Int64"),
        }
    )
    for rows, columns in ((keyed, list(RECORD_KEY)), (~keyed, [PASSENGER_ID])):
        outcomes_of = checked[rows].groupby(columns)[LABEL].nunique()
        if (outcomes_of > 1).any():
            which = " ".join(map(str, np.atleast_1d(outcomes_of[outcomes_of > 1].index[0])))
            raise SchemaError(f"labels: {' '.join(columns)} {which} has two different outcomes")
    return pd.concat(
        [checked[keyed].drop_duplicates(list(RECORD_KEY)),
         checked[~keyed].drop_duplicates(PASSENGER_ID)],
        ignore_index=True,
    )  # fmt: skip


def _join_keyed_labels(scored: pd.DataFrame, labels: pd.DataFrame) -> LabelledPredictions:
    """Join on the record's key where the label has one, else on ``PassengerId``."""
    scored = scored.assign(
        request_id=scored["request_id"].astype(str), record=scored["record"].astype("int64")
    )
    keyed = labels[labels["request_id"].notna()].astype({"record": "int64"})
    by_key = scored.merge(keyed[[*RECORD_KEY, LABEL]], on=list(RECORD_KEY), how="inner")
    scored_keys = pd.MultiIndex.from_frame(scored[list(RECORD_KEY)])
    label_keys = pd.MultiIndex.from_frame(keyed[list(RECORD_KEY)])
    by_id = join_labels(
        scored[~scored_keys.isin(label_keys)],
        labels[labels["request_id"].isna()][[PASSENGER_ID, LABEL]].astype({PASSENGER_ID: "int64"}),
    )
    return LabelledPredictions(
        joined=pd.concat([by_key, by_id.joined], ignore_index=True),
        unknown_ids=int((~label_keys.isin(scored_keys)).sum()) + by_id.unknown_ids,
        unlabelled=by_id.unlabelled,
    )


@dataclass(frozen=True)
class LiveQuality:
    """How right the model was on the labelled records, with 95 % bootstrap intervals.

    Attributes:
        metrics: ``accuracy``, ``roc_auc``, ``brier_score``.
        intervals: Per metric, the (low, high) bounds of its 95 % interval.
        rows: Labelled records used.
    """

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    rows: int


def live_quality(labels: np.ndarray, probabilities: np.ndarray, seed: int = 0) -> LiveQuality:
    """Score the served answers against the outcomes, as evaluate scores the holdout.

    Args:
        labels: 0/1 outcomes.
        probabilities: The probabilities the model answered.
        seed: Seed of the bootstrap.

    Returns:
        The metrics and their intervals; ``roc_auc`` is NaN when only one outcome occurs.

    Raises:
        ValueError: When there is nothing to score.
    """
    if len(labels) == 0:
        raise ValueError("no labelled predictions")
    metrics = live_metrics(labels, probabilities)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(_RESAMPLES):
        pick = rng.integers(0, len(labels), len(labels))
        for name, value in live_metrics(labels[pick], probabilities[pick]).items():
            samples[name].append(value)
    intervals = {
        name: (float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5)))
        if not np.all(np.isnan(values)) else (float("nan"), float("nan"))
        for name, values in samples.items()
    }  # fmt: skip
    return LiveQuality(metrics, intervals, len(labels))
