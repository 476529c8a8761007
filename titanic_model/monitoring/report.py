"""The monitoring report: one self-contained HTML page people read (pure: figures in memory).

What was seen, what drifted, how right the model was: rendered from the Jinja2 template
``templates/monitoring_report.html``, shipped in the package, with autoescape on, so that
nothing from the log or the parameters can become markup. Plots are embedded as PNG.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from datetime import datetime

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from titanic_model import names
from titanic_model.evaluation.plots import calibration_figure, distribution_figure
from titanic_model.monitoring.assessment import (
    Assessment,
    WindowAssessment,
    answer_summary,
    rejected_by_field,
)
from titanic_model.monitoring.drift import MONITORED_FIELDS, DriftKind, Thresholds

_TEMPLATE = "monitoring_report.html"
# The test behind each kind of drift, as the report names it.
_TESTS = {
    DriftKind.NUMBER: "Kolmogorov-Smirnov",
    DriftKind.CATEGORY: "chi-square",
    DriftKind.MISSING_ONLY: "missing share only",
}


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


@functools.cache
def _template() -> jinja2.Template:
    """The report's template, read once from the package (a checkout or an install)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("titanic_model.monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a name missing from the context fails, loudly
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = _number
    return environment.get_template(_TEMPLATE)


def _image(figure: Figure) -> str:
    """A figure as a ``data:`` URI of its PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _shown(values: pd.Series, kind: DriftKind) -> pd.Series:
    """What a field's plot shows: for free text, only whether it is there."""
    if kind is DriftKind.MISSING_ONLY:
        return values.notna().map({True: "present", False: "missing"})
    return values


def _version(assessment: Assessment) -> dict:
    """One version's section of the report."""
    reference = assessment.reference
    who = f"run {reference.run_id}"
    if reference.version:
        who = f"{reference.model_name} version {reference.version}"
    figures = [
        distribution_figure(
            field,
            _shown(reference.training[field], kind),
            _shown(assessment.current[field], kind),
            numeric=kind is DriftKind.NUMBER,
        )
        for field, kind in MONITORED_FIELDS.items()
    ]
    figures.append(
        distribution_figure(
            f"{names.PROBABILITY_COLUMN} (holdout vs served)",
            pd.Series(reference.holdout_probabilities),
            pd.Series(assessment.probabilities),
            numeric=True,
        )
    )
    return {
        "who": who,
        "records": len(assessment.current),
        "flagged": assessment.flagged,
        "drifts": [
            {"drift": drift, "test": _TESTS[drift.kind], "flagged": assessment.is_flagged(drift)}
            for drift in [*assessment.drifts, assessment.prediction_drift]
        ],
        "served": answer_summary(assessment.probabilities),
        "holdout": answer_summary(reference.holdout_probabilities),
        "images": [_image(figure) for figure in figures],
    }


def _quality(window: WindowAssessment) -> dict | None:
    """The live-quality section, when labels were given."""
    quality, labelled, current = window.quality, window.labelled, window.current
    if quality is None or labelled is None or current is None:
        return None
    holdout = current.reference.holdout_quality
    return {
        "rows": quality.rows,
        "unknown_ids": labelled.unknown_ids,
        "unlabelled": labelled.unlabelled,
        "metrics": [
            {
                "name": name,
                "live": quality.metrics[name],
                "low": quality.intervals[name][0],
                "high": quality.intervals[name][1],
                "holdout": holdout[name],
            }
            for name in names.LIVE_METRICS
        ],
        "calibration": _image(calibration_figure(labelled.labels, labelled.probabilities, "Live")),
    }


def render_report(
    window: WindowAssessment,
    *,
    log_uri: str,
    since: datetime | None,
    until: datetime | None,
    thresholds: Thresholds,
) -> str:
    """The HTML report of a window: what was seen, what drifted, how right the model was.

    Args:
        window: The window, assessed.
        log_uri: Where the log was read.
        since: The window's start (None: the log's start).
        until: The window's end (None: now).
        thresholds: When a field counted as drifted.

    Returns:
        One self-contained page (plots embedded as PNG); the current version first.
    """
    table = window.table
    return _template().render(
        log_uri=log_uri,
        since=since,
        until=until,
        lines=table.lines,
        corrupt_lines=table.corrupt_lines,
        scored=len(table.scored),
        refused=len(table.refused),
        rejected=rejected_by_field(table.refused),
        versions=[_version(assessment) for assessment in reversed(window.assessments)],
        thresholds=thresholds,
        quality=_quality(window),
    )
