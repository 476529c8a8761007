"""Live quality: the log's scored records joined with outcomes learnt later (pure).

The log itself is read by :func:`titanic_model.prediction_log.read_prediction_log`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from titanic_model.evaluation.metrics import live_metrics
from titanic_model.model.schema import LABEL, PASSENGER_ID, SchemaError
from titanic_model.names import LIVE_METRICS, PROBABILITY_COLUMN

# Bootstrap resamples of the live metrics' 95 % intervals (seeded: the same rows give the
# same interval).
_RESAMPLES = 1000


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

    @property
    def labels(self) -> np.ndarray:
        """The joined records' outcomes."""
        return self.joined[LABEL].to_numpy()

    @property
    def probabilities(self) -> np.ndarray:
        """What the model answered for them."""
        return self.joined[PROBABILITY_COLUMN].to_numpy()


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
        PASSENGER_ID: (
            (given_ids.notna() | ~keyed) & (ids.isna() | (ids != ids.round())),
            "an integer",
        ),
    }
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
        [
            checked[keyed].drop_duplicates(list(RECORD_KEY)),
            checked[~keyed].drop_duplicates(PASSENGER_ID),
        ],
        ignore_index=True,
    )


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

    The intervals are percentile bootstrap intervals (:func:`scipy.stats.bootstrap`, the
    records resampled whole).

    Args:
        labels: 0/1 outcomes.
        probabilities: The probabilities the model answered.
        seed: Seed of the bootstrap.

    Returns:
        The metrics and their intervals; ``roc_auc`` is NaN when only one outcome occurs,
        and its interval NaN when a resample holds only one. A single record has no
        interval (NaN).

    Raises:
        ValueError: When there is nothing to score.
    """
    if len(labels) == 0:
        raise ValueError("no labelled predictions")
    metrics = live_metrics(labels, probabilities)

    if len(labels) < 2:  # one record: nothing to resample
        return LiveQuality(metrics, dict.fromkeys(LIVE_METRICS, (math.nan, math.nan)), 1)

    def statistic(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        values = live_metrics(labels, probabilities)
        return np.array([values[name] for name in LIVE_METRICS])

    with warnings.catch_warnings():
        # A NaN bound (the ROC AUC of a one-outcome resample) is the answer, not a problem.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        interval = stats.bootstrap(
            (labels, probabilities),
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=_RESAMPLES,
            method="percentile",
            rng=seed,
        ).confidence_interval
    intervals = {
        name: (float(low), float(high))
        for name, low, high in zip(LIVE_METRICS, interval.low, interval.high, strict=True)
    }
    return LiveQuality(metrics, intervals, len(labels))
