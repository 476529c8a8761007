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

    Args:
        labels: The labels file as read.

    Returns:
        ``PassengerId`` (int64) and ``Survived`` (int64).

    Raises:
        SchemaError: Naming the column or the first bad row.
    """
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
        unknown_ids: Labels whose ``PassengerId`` no scored record has.
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

    Args:
        scored: The log's scored records (their ``PassengerId`` may be missing).
        labels: Output of :func:`check_labels`.

    Returns:
        The joined rows and what could not be joined, counted.
    """
    ids = pd.to_numeric(scored.get(PASSENGER_ID, pd.Series(dtype=float)), errors="coerce")
    with_id = scored.assign(**{PASSENGER_ID: ids}).dropna(subset=[PASSENGER_ID])
    with_id = with_id.astype({PASSENGER_ID: "int64"})
    joined = with_id.merge(labels, on=PASSENGER_ID, how="inner")
    return LabelledPredictions(
        joined=joined,
        unknown_ids=int((~labels[PASSENGER_ID].isin(with_id[PASSENGER_ID])).sum()),
        unlabelled=len(scored) - len(joined),
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
