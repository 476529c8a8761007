"""A window of the log assessed without MLflow: drift per version, metrics, the drift table."""

from __future__ import annotations

import numpy as np
import pytest

from titanic_model.monitoring.assessment import (
    WindowAssessment,
    drift_table,
    rejected_by_field,
    versions,
    window_metrics,
)
from titanic_model.monitoring.drift import MONITORED_FIELDS
from titanic_model.prediction_log import read_prediction_log


def test_versions_are_found_in_the_log_the_latest_answering_last(log_lines):
    scored = read_prediction_log(["\n".join(reversed(log_lines))]).scored
    assert versions(scored) == [("titanic", "1", "run-1"), ("titanic", "2", "run-2")]
    assert versions(scored.iloc[:0]) == []


def test_each_version_is_compared_with_what_it_learnt_from(window):
    old, new = window.assessments
    assert (len(old.current), len(new.current)) == (40, 120)
    assert (old.flagged, new.flagged) == ([], ["Pclass"])
    assert window.current is new
    assert [drift.field for drift in new.drifts] == list(MONITORED_FIELDS)


def test_the_metrics_are_the_current_versions_with_the_windows_volume(window, log_lines):
    metrics = window_metrics(window)

    assert (metrics["log_lines"], metrics["log_lines_corrupt"]) == (len(log_lines), 0)
    assert (metrics["requests"], metrics["requests_refused"]) == (4 + 12 + 2, 2)
    assert metrics["rejection_rate"] == pytest.approx(2 / 18)
    assert metrics["rows_scored"] == 40 + 120
    assert (metrics["rejected_records_Age"], metrics["rejected_records_Sex"]) == (2, 3)
    assert metrics["drift_psi_Pclass"] > 0.2
    cabin = window.current.drifts[list(MONITORED_FIELDS).index("Cabin")]
    assert metrics["drift_missing_share_change_Cabin"] == cabin.missing_share_change
    assert "drift_psi_Cabin" not in metrics  # NaN: free text has no test
    served = window.current.probabilities
    holdout = window.current.reference.holdout_probabilities
    assert metrics["served_positive_rate"] == pytest.approx(np.mean(served >= 0.5))
    assert metrics["holdout_mean_probability"] == pytest.approx(holdout.mean())
    assert metrics["holdout_accuracy"] == window.current.reference.holdout_quality["accuracy"]
    for name in ("accuracy", "roc_auc", "brier_score"):
        assert metrics[f"live_{name}"] == window.quality.metrics[name]
        low, high = metrics[f"live_{name}_ci_low"], metrics[f"live_{name}_ci_high"]
        assert (low, high) == window.quality.intervals[name]
        assert low <= metrics[f"live_{name}"] <= high
    assert (metrics["live_rows"], metrics["labels_unknown_ids"]) == (120, 360 - 120)
    assert metrics["predictions_unlabelled"] == 0


def test_without_labels_there_is_no_live_metric(window):
    unlabelled = WindowAssessment(window.table, window.assessments)
    assert not [name for name in window_metrics(unlabelled) if name.startswith("live_")]


def test_the_drift_table_has_every_field_of_every_version(window):
    table = drift_table(window)

    assert table["model_version"].tolist() == ["1"] * 10 + ["2"] * 10
    assert table["field"].tolist() == [*MONITORED_FIELDS, "probability"] * 2
    flagged = [
        (assessment.reference.version, drift.field)
        for assessment in window.assessments
        for drift in [*assessment.drifts, assessment.prediction_drift]
        if assessment.is_flagged(drift)
    ]
    assert ("2", "Pclass") in flagged
    assert table.loc[table["flagged"], ["model_version", "field"]].values.tolist() == [
        list(pair) for pair in flagged
    ]


def test_refused_records_are_counted_by_field(window):
    assert rejected_by_field(window.table.refused) == {"Age": 2, "Sex": 3}
