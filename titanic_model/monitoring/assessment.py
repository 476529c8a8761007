"""A window of the prediction log, assessed: per version, drift against what it learnt from (pure).

The monitoring job reads the log and each version's reference data; everything it then
logs (metrics, tags, the drift table, the report) is computed here from those, before
anything is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from titanic_model import names
from titanic_model.evaluation.metrics import live_metrics
from titanic_model.model.features import extract_titles
from titanic_model.model.prediction import DECISION_THRESHOLD
from titanic_model.model.schema import PASSENGER_FIELDS, FieldKind
from titanic_model.monitoring.drift import (
    MONITORED_FIELDS,
    FieldDrift,
    Thresholds,
    field_drifts,
    flagged_fields,
    numeric_drift,
)
from titanic_model.monitoring.quality import LabelledPredictions, LiveQuality
from titanic_model.prediction_log import PredictionLogTable


@dataclass(frozen=True)
class Reference:
    """What a version learnt from and how it answered on its holdout.

    Attributes:
        model_name: The registered model ("" outside the registry).
        version: The version number, or None.
        run_id: The run that logged the model.
        training: The training split's monitored fields, typed (see :func:`monitored`).
        holdout_probabilities: The version's answers on its holdout.
        holdout_quality: How right those answers were (the live metrics, on the holdout).
    """

    model_name: str
    version: str | None
    run_id: str
    training: pd.DataFrame
    holdout_probabilities: np.ndarray
    holdout_quality: dict[str, float]


def build_reference(
    model_name: str,
    version: str | None,
    run_id: str,
    training: pd.DataFrame,
    holdout_labels: np.ndarray,
    holdout_probabilities: np.ndarray,
) -> Reference:
    """A version's reference, from its validated training split and its holdout answers.

    Args:
        model_name: The registered model ("" outside the registry).
        version: The version number, or None.
        run_id: The run that logged the model.
        training: The training split, validated.
        holdout_labels: The holdout's 0/1 outcomes.
        holdout_probabilities: The version's answers on the holdout.

    Returns:
        The reference.
    """
    return Reference(
        model_name=model_name,
        version=version,
        run_id=run_id,
        training=monitored(training.assign(Title=extract_titles(training["Name"]))),
        holdout_probabilities=holdout_probabilities,
        holdout_quality=live_metrics(holdout_labels, holdout_probabilities),
    )


@dataclass(frozen=True)
class Assessment:
    """One version's window, assessed.

    Attributes:
        reference: The version and what it learnt from.
        scored: The log's scored records of this version.
        current: The passengers it was asked about: their monitored fields, typed.
        drifts: Per monitored field.
        flagged: The fields that drifted.
        prediction_drift: The answers against the holdout's answers (``probability`` field).
        prediction_flagged: Whether the answers drifted.
    """

    reference: Reference
    scored: pd.DataFrame
    current: pd.DataFrame
    drifts: list[FieldDrift]
    flagged: list[str]
    prediction_drift: FieldDrift
    prediction_flagged: bool

    @property
    def probabilities(self) -> np.ndarray:
        """What the version answered."""
        return self.scored[names.PROBABILITY_COLUMN].to_numpy(dtype=float)

    def is_flagged(self, drift: FieldDrift) -> bool:
        """Whether one of this assessment's drifts (a field's, or the answers') is flagged."""
        if drift.field == names.PROBABILITY_COLUMN:
            return self.prediction_flagged
        return drift.field in self.flagged


def answer_summary(probabilities: np.ndarray) -> dict[str, float]:
    """A set of answers in two figures: ``positive_rate`` and ``mean_probability``."""
    return {
        "positive_rate": float(np.mean(probabilities >= DECISION_THRESHOLD)),
        "mean_probability": float(np.mean(probabilities)),
    }


def monitored(frame: pd.DataFrame) -> pd.DataFrame:
    """The monitored fields, typed alike on both sides.

    Integers become nullable integers, so that a class logged as 3 and one validated as 3.0
    are one category.
    """
    kinds = {field.name: field.kind for field in PASSENGER_FIELDS}
    typed = frame.reindex(columns=list(MONITORED_FIELDS))
    for name in typed.columns:
        if kinds.get(name) is FieldKind.INTEGER:
            typed[name] = pd.to_numeric(typed[name]).astype("Int64")
        elif kinds.get(name) is FieldKind.NUMBER:
            typed[name] = pd.to_numeric(typed[name]).astype(float)
    return typed


def assess(reference: Reference, scored: pd.DataFrame, thresholds: Thresholds) -> Assessment:
    """Compare one version's logged passengers and answers with its reference.

    Args:
        reference: The version's training split and holdout answers.
        scored: The log's scored records of that version.
        thresholds: When a field counts as drifted.

    Returns:
        The assessment.
    """
    current = monitored(scored)
    drifts = field_drifts(reference.training, current)
    # The served probabilities against the holdout's: KS test, PSI on the holdout's deciles.
    prediction = numeric_drift(
        names.PROBABILITY_COLUMN,
        pd.Series(reference.holdout_probabilities),
        scored[names.PROBABILITY_COLUMN].astype(float),
    )
    return Assessment(
        reference=reference,
        scored=scored,
        current=current,
        drifts=drifts,
        flagged=flagged_fields(drifts, thresholds),
        prediction_drift=prediction,
        prediction_flagged=prediction.flagged(thresholds),
    )


def versions(scored: pd.DataFrame) -> list[tuple[str, str | None, str]]:
    """Each (model, version, run id) seen, the one answering most recently last."""
    if scored.empty:
        return []
    latest = scored.groupby(["model_name", "model_version", "run_id"], dropna=False)["time"].max()
    return [
        (name, None if pd.isna(version) else str(version), run_id)
        for (name, version, run_id) in latest.sort_values().index
    ]


def records_of(scored: pd.DataFrame, model_name: str, run_id: str) -> pd.DataFrame:
    """The scored records one model answered."""
    return scored[(scored["model_name"] == model_name) & (scored["run_id"] == run_id)]


def rejected_by_field(refused: pd.DataFrame) -> dict[str, int]:
    """Refused records by field, over every refused request."""
    counts: Counter[str] = Counter()
    for rejected in refused["rejected_records"]:
        counts.update(rejected)
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class WindowAssessment:
    """Everything the monitoring job found in a window of the log.

    Attributes:
        table: The window's lines.
        assessments: One per version seen, the one answering most recently last.
        quality: The current version's live quality, when labels were given.
        labelled: Its scored records joined with those labels, likewise.
    """

    table: PredictionLogTable
    assessments: list[Assessment]
    quality: LiveQuality | None = None
    labelled: LabelledPredictions | None = None

    @property
    def current(self) -> Assessment | None:
        """The version that answered last: the one the metrics are about."""
        return self.assessments[-1] if self.assessments else None


def window_metrics(window: WindowAssessment) -> dict[str, float]:
    """The monitoring run's metrics: volume, refusals, the current version's drift and quality.

    Returns:
        Every metric that has a value (NaN ones are left out).
    """
    table, current, quality = window.table, window.current, window.quality
    requests = pd.concat([table.scored["request_id"], table.refused["request_id"]]).nunique()
    metrics: dict[str, float] = {
        names.LOG_LINES_METRIC: table.lines,
        names.LOG_LINES_CORRUPT_METRIC: table.corrupt_lines,
        names.REQUESTS_METRIC: requests,
        names.REQUESTS_REFUSED_METRIC: len(table.refused),
        names.REJECTION_RATE_METRIC: len(table.refused) / requests,
        names.ROWS_SCORED_METRIC: len(table.scored),
    }
    for field, count in rejected_by_field(table.refused).items():
        metrics[names.rejected_records_metric(field)] = count
    if current is not None:
        for drift in [*current.drifts, current.prediction_drift]:
            if not np.isnan(drift.psi):
                metrics[names.drift_metric("psi", drift.field)] = drift.psi
                metrics[names.drift_metric("p_value", drift.field)] = drift.p_value
            if drift.field != names.PROBABILITY_COLUMN:
                metrics[names.drift_metric("missing_share_change", drift.field)] = (
                    drift.missing_share_change
                )
        reference = current.reference
        for source, probabilities in (
            ("served", current.probabilities),
            ("holdout", reference.holdout_probabilities),
        ):
            for statistic, value in answer_summary(probabilities).items():
                metrics[names.prediction_metric(statistic, source)] = value
        for name, value in reference.holdout_quality.items():
            metrics[names.holdout_metric(name)] = value
    if quality is not None and window.labelled is not None:
        for name in names.LIVE_METRICS:
            low, high = quality.intervals[name]
            metrics[names.live_metric(name)] = quality.metrics[name]
            metrics[names.live_metric(name, "low")] = low
            metrics[names.live_metric(name, "high")] = high
        metrics[names.LIVE_ROWS_METRIC] = quality.rows
        metrics[names.LABELS_UNKNOWN_IDS_METRIC] = window.labelled.unknown_ids
        metrics[names.PREDICTIONS_UNLABELLED_METRIC] = window.labelled.unlabelled
    return {k: float(v) for k, v in metrics.items() if not np.isnan(v)}


def drift_table(window: WindowAssessment) -> pd.DataFrame:
    """Every version's drift, field by field, and whether it was flagged (``drift.csv``)."""
    return pd.DataFrame(
        [
            {
                "model_version": assessment.reference.version,
                "field": drift.field,
                "kind": drift.kind.value,
                "p_value": drift.p_value,
                "psi": drift.psi,
                "missing_share_reference": drift.missing_share_reference,
                "missing_share_current": drift.missing_share_current,
                "flagged": assessment.is_flagged(drift),
            }
            for assessment in window.assessments
            for drift in [*assessment.drifts, assessment.prediction_drift]
        ]
    )
