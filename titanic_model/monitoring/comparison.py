"""Champion and challenger on the same live records: agreement, accuracy, a decision (pure).

The serving layer logs, for each accepted record, the served model's answer and, when a
shadow runs, the shadow's answer to the same record (``role`` ``served`` and ``shadow``, the
same ``request_id``, ``record`` and ``time``). :func:`pair_answers` pairs them;
:func:`compare_pairs` compares the two versions on the pairs, and on those whose outcome is
known:

- agreement rate: the share of pairs with the same predicted outcome;
- live accuracy of each, on the same labelled records, and the paired difference
  (shadow minus served: the accuracy gain) with a percentile bootstrap interval that
  resamples the records whole (:func:`scipy.stats.bootstrap`, ``paired=True``, seeded);
- McNemar's exact test: under "equally accurate", the records only one of them got right
  are as likely to be the shadow's as the served one's (a binomial test with p = 1/2 on
  those discordant pairs, :func:`scipy.stats.binomtest`).

The decision, by the stated rule (:func:`decide`): ``insufficient_labels`` with fewer than
``min_labelled`` labelled pairs; else ``promote`` only when the interval's lower bound is
above ``min_accuracy_gain``; else ``keep``. McNemar's p-value is reported, not decided on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from titanic_model import names
from titanic_model.model.schema import LABEL
from titanic_model.prediction_log import SERVED, SHADOW

#: What identifies one record's answers: its request (with the instant it arrived, which
#: tells apart two requests a client gave the same id) and its position in it.
RECORD_KEY = ["request_id", "record", "time"]
_MODEL = ["model_name", "model_version", "run_id"]
_ANSWER = [names.SURVIVED_COLUMN, names.PROBABILITY_COLUMN]
#: Suffixes of the two versions' columns in the pairs.
SERVED_SUFFIX = "_served"
SHADOW_SUFFIX = "_shadow"
# Bootstrap resamples of the accuracy gain's interval, and how many are held at a time.
_RESAMPLES = 5000
_BATCH = 500


@dataclass(frozen=True)
class VersionPair:
    """The two versions compared, as their log lines name them (None outside the registry)."""

    served_name: str
    served_version: str | None
    shadow_name: str
    shadow_version: str | None


@dataclass(frozen=True)
class Pairing:
    """The records both versions answered.

    Attributes:
        versions: The served and the shadow version.
        pairs: One row per record: its key (``request_id``, ``record``, ``time``), the input
            fields of the served line, and each version's ``survived`` and ``probability``
            with the suffix ``_served`` or ``_shadow``.
        left_out: Pairs of other versions in the window (the pair answering last is kept).
    """

    versions: VersionPair
    pairs: pd.DataFrame
    left_out: int


def _one_per_key(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines whose key no other line has (a key seen twice pairs with nothing)."""
    return lines[~lines.duplicated(RECORD_KEY, keep=False)]


def pair_answers(scored: pd.DataFrame) -> Pairing | None:
    """Pair each served answer with the shadow's answer to the same record.

    Args:
        scored: The log's scored records (:attr:`PredictionLogTable.scored`, with ``role``).

    Returns:
        The pairs of the two versions that answered a pair last, or None when no record
        has both a served and a shadow answer.
    """
    served = _one_per_key(scored[scored["role"] == SERVED])
    shadow = _one_per_key(scored[scored["role"] == SHADOW])[RECORD_KEY + _MODEL + _ANSWER]
    merged = served.drop(columns=["role", "status"]).merge(
        shadow, on=RECORD_KEY, suffixes=(SERVED_SUFFIX, SHADOW_SUFFIX)
    )
    if merged.empty:
        return None
    models = [f"{column}{suffix}" for suffix in (SERVED_SUFFIX, SHADOW_SUFFIX) for column in _MODEL]
    groups = merged.groupby(models, dropna=False, sort=False).ngroup()
    latest = merged.groupby(groups)["time"].max().idxmax()
    pairs = merged[groups == latest].reset_index(drop=True)
    first = pairs.iloc[0]

    def version(suffix: str) -> str | None:
        value = first[f"model_version{suffix}"]
        return None if pd.isna(value) else str(value)

    versions = VersionPair(
        served_name=str(first[f"model_name{SERVED_SUFFIX}"]),
        served_version=version(SERVED_SUFFIX),
        shadow_name=str(first[f"model_name{SHADOW_SUFFIX}"]),
        shadow_version=version(SHADOW_SUFFIX),
    )
    return Pairing(versions, pairs, left_out=len(merged) - len(pairs))


@dataclass(frozen=True)
class DecisionRule:
    """When a comparison says ``promote``.

    Attributes:
        min_labelled: Labelled pairs needed for any decision but ``insufficient_labels``.
        min_accuracy_gain: What the gain's lower bound must be above.
        confidence: Confidence level of the gain's interval.
    """

    min_labelled: int
    min_accuracy_gain: float
    confidence: float


def decide(labelled_pairs: int, gain_low: float, rule: DecisionRule) -> str:
    """The stated rule: ``insufficient_labels``, ``promote`` or ``keep``.

    Args:
        labelled_pairs: Pairs whose outcome is known.
        gain_low: Lower bound of the accuracy gain's interval (NaN when there is none).
        rule: The thresholds.

    Returns:
        The decision.
    """
    if labelled_pairs < rule.min_labelled:
        return names.INSUFFICIENT_LABELS_DECISION
    if gain_low > rule.min_accuracy_gain:  # False for NaN: no interval, no promotion
        return names.PROMOTE_DECISION
    return names.KEEP_DECISION


def _gain(served_right: np.ndarray, shadow_right: np.ndarray, axis: int = -1) -> np.ndarray:
    return shadow_right.mean(axis=axis) - served_right.mean(axis=axis)


def gain_interval(
    served_right: np.ndarray, shadow_right: np.ndarray, confidence: float, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy gain, the records resampled whole.

    Args:
        served_right: Per labelled record, 1.0 where the served version was right.
        shadow_right: The same for the shadow.
        confidence: The interval's confidence level.
        seed: Seed of the resampling.

    Returns:
        (low, high); NaN for fewer than two records (nothing to resample).
    """
    if len(served_right) < 2:
        return math.nan, math.nan
    interval = stats.bootstrap(
        (served_right, shadow_right),
        _gain,
        paired=True,
        vectorized=True,
        n_resamples=_RESAMPLES,
        batch=_BATCH,
        confidence_level=confidence,
        method="percentile",
        rng=seed,
    ).confidence_interval
    return float(interval.low), float(interval.high)


def mcnemar_exact(served_only: int, shadow_only: int) -> float:
    """McNemar's exact two-sided p-value from the two counts of discordant pairs.

    Args:
        served_only: Labelled pairs only the served version got right.
        shadow_only: Labelled pairs only the shadow got right.

    Returns:
        The p-value; 1.0 when no pair is discordant.
    """
    discordant = served_only + shadow_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(shadow_only, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class Comparison:
    """The two versions on the same records, and what to do.

    Attributes:
        pairs: Records both answered.
        agreement_rate: Share of them with the same predicted outcome.
        labelled_pairs: Pairs whose outcome is known.
        accuracy_served: The served version's accuracy on those (NaN with none).
        accuracy_shadow: The shadow's, on the same ones.
        accuracy_gain: ``accuracy_shadow - accuracy_served``.
        interval: The gain's bootstrap interval (low, high).
        mcnemar_p_value: McNemar's exact test of "equally accurate".
        served_only_correct: Labelled pairs only the served version got right.
        shadow_only_correct: Labelled pairs only the shadow got right.
        decision: ``promote``, ``keep`` or ``insufficient_labels``.
    """

    pairs: int
    agreement_rate: float
    labelled_pairs: int
    accuracy_served: float
    accuracy_shadow: float
    accuracy_gain: float
    interval: tuple[float, float]
    mcnemar_p_value: float
    served_only_correct: int
    shadow_only_correct: int
    decision: str

    def metrics(self) -> dict[str, float]:
        """The compare run's metrics (those without a value left out)."""
        metrics = {
            names.PAIRS_METRIC: self.pairs,
            names.AGREEMENT_RATE_METRIC: self.agreement_rate,
            names.LABELLED_PAIRS_METRIC: self.labelled_pairs,
            names.LIVE_ACCURACY_SERVED_METRIC: self.accuracy_served,
            names.LIVE_ACCURACY_SHADOW_METRIC: self.accuracy_shadow,
            names.ACCURACY_GAIN_METRIC: self.accuracy_gain,
            names.ACCURACY_GAIN_CI_LOW_METRIC: self.interval[0],
            names.ACCURACY_GAIN_CI_HIGH_METRIC: self.interval[1],
            names.MCNEMAR_P_VALUE_METRIC: self.mcnemar_p_value,
            names.SERVED_ONLY_CORRECT_METRIC: self.served_only_correct,
            names.SHADOW_ONLY_CORRECT_METRIC: self.shadow_only_correct,
        }
        return {k: float(v) for k, v in metrics.items() if not math.isnan(v)}


def compare_pairs(
    pairs: pd.DataFrame, labelled: pd.DataFrame | None, rule: DecisionRule, seed: int = 0
) -> Comparison:
    """Compare the two versions on their pairs, and on the labelled ones.

    Args:
        pairs: :attr:`Pairing.pairs`.
        labelled: The pairs whose outcome is known, with ``Survived`` (one row per labelled
            record), or None without labels.
        rule: When to promote.
        seed: Seed of the bootstrap.

    Returns:
        The comparison and its decision.
    """
    served = f"{names.SURVIVED_COLUMN}{SERVED_SUFFIX}"
    shadow = f"{names.SURVIVED_COLUMN}{SHADOW_SUFFIX}"
    agreement = float((pairs[served] == pairs[shadow]).mean())
    labelled = labelled if labelled is not None else pairs.iloc[:0].assign(**{LABEL: 0})
    truth = labelled[LABEL].to_numpy(dtype=int)
    served_right = (labelled[served].to_numpy(dtype=int) == truth).astype(float)
    shadow_right = (labelled[shadow].to_numpy(dtype=int) == truth).astype(float)
    count = len(truth)
    served_only = int(np.sum((served_right == 1) & (shadow_right == 0)))
    shadow_only = int(np.sum((served_right == 0) & (shadow_right == 1)))
    accuracy_served = float(served_right.mean()) if count else math.nan
    accuracy_shadow = float(shadow_right.mean()) if count else math.nan
    interval = gain_interval(served_right, shadow_right, rule.confidence, seed)
    return Comparison(
        pairs=len(pairs),
        agreement_rate=agreement,
        labelled_pairs=count,
        accuracy_served=accuracy_served,
        accuracy_shadow=accuracy_shadow,
        accuracy_gain=accuracy_shadow - accuracy_served,
        interval=interval,
        mcnemar_p_value=mcnemar_exact(served_only, shadow_only) if count else math.nan,
        served_only_correct=served_only,
        shadow_only_correct=shadow_only,
        decision=decide(count, interval[0], rule),
    )
