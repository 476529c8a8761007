"""``monitor``: drift and live quality of the served model, from the serving layer's log.

Reads the prediction log of a window, compares the passengers each model version was asked
about with the training split it learnt from (found from the version's lineage tags), its
answers with its answers on its holdout, and, when outcomes learnt later are given, its
answers with the truth. Everything is computed before anything is logged: a run either holds
the whole assessment or does not exist. It logs one run in the monitoring experiment (nested
under the project run when that one is elsewhere), an HTML report, and tags each version seen
with its latest status.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from titanic_model import names
from titanic_model.config import ConfigError, MonitorConfig
from titanic_model.data import DataSourceError, read_labels_csv, read_log_files
from titanic_model.drift import (
    MONITORED_FIELDS,
    DriftDetectedError,
    DriftKind,
    FieldDrift,
    Thresholds,
    field_drifts,
    flagged_fields,
    numeric_drift,
)
from titanic_model.features import extract_titles
from titanic_model.metrics import live_metrics
from titanic_model.monitoring import (
    LiveQuality,
    PredictionLogTable,
    check_labels,
    join_labels,
    live_quality,
    parse_prediction_log,
    rejected_by_field,
)
from titanic_model.plots import calibration_figure, distribution_figure
from titanic_model.prediction import DECISION_THRESHOLD
from titanic_model.registry import registered_version, tag_version
from titanic_model.runs import load_split, log_new_params
from titanic_model.schema import LABEL, PASSENGER_FIELDS, FieldKind, validate_passengers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """What a version learnt from and how it answered on its holdout.

    Attributes:
        model_name: The registered model ("" outside the registry).
        version: The version number, or None.
        run_id: The run that logged the model.
        training: The training split, validated, with ``Title``.
        holdout_probabilities: The version's answers on its holdout.
        holdout_quality: How right those answers were (the live metrics, on the holdout).
    """

    model_name: str
    version: str | None
    run_id: str
    training: pd.DataFrame
    holdout_probabilities: np.ndarray
    holdout_quality: dict[str, float]


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
        return self.scored["probability"].to_numpy(dtype=float)


def _answer_summary(probabilities: np.ndarray) -> dict[str, float]:
    """A set of answers in two figures: ``positive_rate`` and ``mean_probability``."""
    return {
        "positive_rate": float(np.mean(probabilities >= DECISION_THRESHOLD)),
        "mean_probability": float(np.mean(probabilities)),
    }


def _with_titles(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(Title=extract_titles(frame["Name"]))


def _monitored(frame: pd.DataFrame) -> pd.DataFrame:
    """The monitored fields, typed alike on both sides.

    Integers become nullable integers, so that a class logged as 3 and one validated as 3.0
    are one category.
    """
    kinds = {field.name: field.kind for field in PASSENGER_FIELDS}
    monitored = frame.reindex(columns=list(MONITORED_FIELDS))
    for name in monitored.columns:
        if kinds.get(name) is FieldKind.INTEGER:
            monitored[name] = pd.to_numeric(monitored[name]).astype("Int64")
        elif kinds.get(name) is FieldKind.NUMBER:
            monitored[name] = pd.to_numeric(monitored[name]).astype(float)
    return monitored


def _reference(model_name: str, version: str | None, run_id: str) -> Reference:
    """Find a version's training split and holdout from its lineage tags."""
    tags = {}
    if version is not None:
        tags = registered_version(f"models:/{model_name}/{version}").tags
    prepare_run_id = tags.get(names.PREPARE_RUN_TAG)
    if prepare_run_id is None:  # a model outside the registry: its train run knows
        prepare_run_id = MlflowClient().get_run(run_id).data.tags.get(names.PREPARE_RUN_TAG)
    if prepare_run_id is None:
        raise ConfigError(
            f"cannot find what model {model_name or run_id} {version or ''} was trained on: "
            f"neither the version nor run {run_id} has a {names.PREPARE_RUN_TAG} tag"
        )
    training = validate_passengers(load_split(prepare_run_id, names.TRAIN_SPLIT), with_label=True)
    holdout = load_split(prepare_run_id, names.HOLDOUT_SPLIT)
    model_uri = f"models:/{model_name}/{version}" if version else f"runs:/{run_id}/model"
    answers = mlflow.pyfunc.load_model(model_uri).predict(holdout.drop(columns=[LABEL]))
    probabilities = answers["probability"].to_numpy()
    labels = validate_passengers(holdout, with_label=True)[LABEL].to_numpy().astype(int)
    return Reference(
        model_name=model_name,
        version=version,
        run_id=run_id,
        training=_monitored(_with_titles(training)),
        holdout_probabilities=probabilities,
        holdout_quality=live_metrics(labels, probabilities),
    )


def assess(reference: Reference, scored: pd.DataFrame, thresholds: Thresholds) -> Assessment:
    """Compare one version's logged passengers and answers with its reference.

    Args:
        reference: The version's training split and holdout answers.
        scored: The log's scored records of that version.
        thresholds: When a field counts as drifted.

    Returns:
        The assessment.
    """
    current = _monitored(scored)
    drifts = field_drifts(reference.training, current)
    # The served probabilities against the holdout's: KS test, PSI on the holdout's deciles.
    prediction = numeric_drift(
        "probability",
        pd.Series(reference.holdout_probabilities),
        scored["probability"].astype(float),
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


def _read(config: MonitorConfig, since, until) -> PredictionLogTable:
    table = parse_prediction_log(read_log_files(config.log_uri, config.log_storage), since, until)
    if table.lines == table.corrupt_lines:
        raise DataSourceError(
            f"cannot read log_uri {config.log_uri}: none of its {table.lines} line(s) is a "
            "prediction-log line (schema version 1)"
        )
    if table.scored.empty and table.refused.empty:
        window = f"between {since or 'the start'} and {until or 'now'}"
        raise DataSourceError(f"no prediction-log line in {config.log_uri} {window}")
    if table.corrupt_lines:
        logger.warning("skipped %d unreadable log line(s)", table.corrupt_lines)
    return table


def _versions(scored: pd.DataFrame) -> list[tuple[str, str | None, str]]:
    """Each (model, version, run id) seen, the one answering most recently last."""
    latest = scored.groupby(["model_name", "model_version", "run_id"], dropna=False)["time"].max()
    return [
        (name, None if pd.isna(version) else str(version), run_id)
        for (name, version, run_id) in latest.sort_values().index
    ]


def monitor(config: MonitorConfig) -> None:
    """Assess the window of the log, then log one monitoring run and tag the versions seen.

    Args:
        config: The job's parameters.

    Raises:
        DataSourceError: For a log or labels location that cannot be read, or an empty window.
        ConfigError: For a version whose training data cannot be found.
        SchemaError: For a labels file that breaks its rules.
        DriftDetectedError: With ``fail_on_drift``, after logging, when a field drifted.
    """
    now = datetime.now(UTC)
    since, until = config.window(now)
    table = _read(config, since, until)
    thresholds = Thresholds(
        config.p_value_threshold, config.psi_threshold, config.missing_share_threshold
    )
    assessments = [
        assess(_reference(name, version, run_id), table.scored[
            (table.scored["model_name"] == name) & (table.scored["run_id"] == run_id)
        ], thresholds)
        for name, version, run_id in (_versions(table.scored) if not table.scored.empty else [])
    ]  # fmt: skip
    current = assessments[-1] if assessments else None
    quality = None
    labelled = None
    if config.labels_uri:
        labels = check_labels(read_labels_csv(config.labels_uri, config.storage))
        if current is None:
            raise DataSourceError("labels were given but the window holds no scored record")
        labelled = join_labels(current.scored, labels)
        if labelled.joined.empty:
            raise DataSourceError(
                f"none of the {len(labels)} labels matches a PassengerId scored in the window"
            )
        quality = live_quality(
            labelled.joined[LABEL].to_numpy(), labelled.joined["probability"].to_numpy()
        )
    metrics = _metrics(table, current, quality, labelled)
    report = render_report(config, since, until, table, assessments, quality, labelled)
    flagged = current.flagged if current else []
    run_id = _log_run(config, metrics, current, report, assessments)
    for assessment in assessments:
        reference = assessment.reference
        if reference.version is None:
            continue
        tags = {
            names.MONITORING_RUN_VERSION_TAG: run_id,
            names.MONITORING_TIME_VERSION_TAG: now.isoformat(timespec="seconds"),
            names.MONITORING_DRIFT_VERSION_TAG: ",".join(assessment.flagged),
        }
        if quality is not None and assessment is current:
            tags[names.MONITORING_LIVE_ACCURACY_VERSION_TAG] = f"{quality.metrics['accuracy']:.4f}"
        tag_version(reference.model_name, reference.version, tags)
    logger.info("monitored %d scored record(s); drifted: %s", len(table.scored),
                ", ".join(flagged) or "nothing")  # fmt: skip
    if config.fail_on_drift and flagged:
        raise DriftDetectedError("drift in " + ", ".join(flagged) + f" (monitoring run {run_id})")


def _metrics(
    table: PredictionLogTable, current: Assessment | None, quality: LiveQuality | None, labelled
) -> dict[str, float]:
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
            if drift.field != "probability":
                metrics[names.drift_metric("missing_share_change", drift.field)] = (
                    drift.missing_share_change
                )
        reference = current.reference
        for source, probabilities in (
            ("served", current.probabilities), ("holdout", reference.holdout_probabilities)
        ):  # fmt: skip
            for statistic, value in _answer_summary(probabilities).items():
                metrics[names.prediction_metric(statistic, source)] = value
        for name, value in reference.holdout_quality.items():
            metrics[names.holdout_metric(name)] = value
    if quality is not None:
        for name, value in quality.metrics.items():
            metrics[names.live_metric(name)] = value
            low, high = quality.intervals[name]
            metrics[names.live_metric(name, "low")] = low
            metrics[names.live_metric(name, "high")] = high
        metrics[names.LIVE_ROWS_METRIC] = quality.rows
        metrics[names.LABELS_UNKNOWN_IDS_METRIC] = labelled.unknown_ids
        metrics[names.PREDICTIONS_UNLABELLED_METRIC] = labelled.unlabelled
    return {k: float(v) for k, v in metrics.items() if not np.isnan(v)}


def _monitoring_experiment(name: str) -> str:
    """The experiment's id, created if need be; MLflow's UI shows it as runs and charts."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    if experiment is None or names.MLFLOW_EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(
            experiment_id, names.MLFLOW_EXPERIMENT_KIND_TAG, names.MODEL_DEVELOPMENT_KIND
        )
    return experiment_id


def _log_run(
    config: MonitorConfig,
    metrics: dict[str, float],
    current: Assessment | None,
    report: str,
    assessments: list[Assessment],
) -> str:
    """Log the monitoring run; return its id.

    It is the active run when that one is in the monitoring experiment, else a run nested
    under it there.
    """
    experiment_id = _monitoring_experiment(config.experiment_name)
    active = mlflow.active_run()
    tags = {
        names.DRIFT_FIELDS_TAG: ",".join(current.flagged) if current else "",
        names.PREDICTION_DRIFT_TAG: str(bool(current and current.prediction_flagged)).lower(),
    }
    if current is not None:
        tags[names.MONITORED_MODEL_TAG] = current.reference.model_name
        tags[names.MONITORED_VERSION_TAG] = current.reference.version or ""
    drift_table = pd.DataFrame(
        [
            {"model_version": a.reference.version, "field": d.field, "kind": d.kind.value,
             "p_value": d.p_value, "psi": d.psi,
             "missing_share_reference": d.missing_share_reference,
             "missing_share_current": d.missing_share_current,
             "flagged": d.field in a.flagged or (d.field == "probability" and a.prediction_flagged)}
            for a in assessments for d in [*a.drifts, a.prediction_drift]
        ]
    )  # fmt: skip

    def log_everything() -> str:
        run_id = mlflow.active_run().info.run_id
        # `mlflow run -e monitor --experiment-name <this one>` logged the -P values already.
        log_new_params(config.parameters())
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        mlflow.log_text(report, names.MONITORING_REPORT_ARTIFACT)
        mlflow.log_text(drift_table.to_csv(index=False), names.DRIFT_TABLE_ARTIFACT)
        return run_id

    if active is not None and active.info.experiment_id == experiment_id:
        mlflow.set_tag("mlflow.runName", names.MONITOR_RUN)
        return log_everything()
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=names.MONITOR_RUN, nested=active is not None
    ):
        run_id = log_everything()
    if active is not None:
        mlflow.set_tag(names.MONITORING_RUN_TAG, run_id)
    return run_id


# ------------------------------------------------------------------------- the report


def _image(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="" src="data:image/png;base64,{encoded}">'


def _shown(values: pd.Series, kind: DriftKind) -> pd.Series:
    """What a field's plot shows: for free text, only whether it is there."""
    if kind is DriftKind.MISSING_ONLY:
        return values.notna().map({True: "present", False: "missing"})
    return values


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def render_report(
    config: MonitorConfig,
    since,
    until,
    table: PredictionLogTable,
    assessments: list[Assessment],
    quality: LiveQuality | None,
    labelled,
) -> str:
    """The HTML report people read: what was seen, what drifted, how right the model was.

    Returns:
        One self-contained page (plots embedded as PNG).
    """
    escape = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Titanic model monitoring"
        "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        ".flag{background:#fdd}img{max-width:49%}</style></head><body>",
        "<h1>Titanic model monitoring</h1>",
        f"<p>Log <code>{escape(config.log_uri)}</code>, window "
        f"{escape(str(since or 'start'))} to {escape(str(until or 'now'))}: "
        f"{table.lines} line(s) read, {table.corrupt_lines} unreadable, "
        f"{len(table.scored)} scored record(s), {len(table.refused)} refused request(s).</p>",
    ]
    rejected = rejected_by_field(table.refused)
    if rejected:
        rows = "".join(f"<tr><td>{escape(f)}</td><td>{n}</td></tr>" for f, n in rejected.items())
        parts.append(f"<h2>Refused records by field</h2><table>{rows}</table>")
    for assessment in reversed(assessments):  # the current version first
        reference = assessment.reference
        who = f"{reference.model_name} version {reference.version}" if reference.version else (
            f"run {reference.run_id}")  # fmt: skip
        parts.append(f"<h2>{escape(who)}: {len(assessment.current)} scored record(s)</h2>")
        flagged = ", ".join(assessment.flagged) or "none"
        parts.append(
            f"<p>Drifted fields: <b>{escape(flagged)}</b>. Thresholds: p-value &lt; "
            f"{config.p_value_threshold} and PSI &gt; {config.psi_threshold}, or a change in "
            f"missing share &gt; {config.missing_share_threshold}.</p>"
        )
        rows = []
        for drift in [*assessment.drifts, assessment.prediction_drift]:
            is_flagged = drift.field in assessment.flagged or (
                drift.field == "probability" and assessment.prediction_flagged
            )
            test = {"number": "Kolmogorov-Smirnov", "category": "chi-square"}.get(
                drift.kind.value, "missing share only"
            )
            rows.append(
                f"<tr class='{'flag' if is_flagged else ''}'><td>{escape(drift.field)}</td>"
                f"<td>{test}</td><td>{_number(drift.p_value, 4)}</td><td>{_number(drift.psi)}"
                f"</td><td>{_number(drift.missing_share_reference)}</td>"
                f"<td>{_number(drift.missing_share_current)}</td></tr>"
            )
        parts.append(
            "<table><tr><th>field</th><th>test</th><th>p-value</th><th>PSI</th>"
            "<th>missing (reference)</th><th>missing (now)</th></tr>" + "".join(rows) + "</table>"
        )
        served = _answer_summary(assessment.probabilities)
        holdout = _answer_summary(reference.holdout_probabilities)
        parts.append(
            f"<p>Served: positive rate {served['positive_rate']:.3f}, mean probability "
            f"{served['mean_probability']:.3f}; on its holdout: {holdout['positive_rate']:.3f} "
            f"and {holdout['mean_probability']:.3f}.</p>"
        )
        figures = [
            distribution_figure(
                field, _shown(reference.training[field], kind),
                _shown(assessment.current[field], kind), numeric=kind is DriftKind.NUMBER,
            )
            for field, kind in MONITORED_FIELDS.items()
        ] + [
            distribution_figure(
                "probability (holdout vs served)",
                pd.Series(reference.holdout_probabilities), pd.Series(assessment.probabilities),
                numeric=True,
            )
        ]  # fmt: skip
        parts.append("<div>" + "".join(_image(figure) for figure in figures) + "</div>")
    if quality is not None:
        holdout = assessments[-1].reference.holdout_quality
        rows = "".join(
            f"<tr><td>{name}</td><td>{_number(value)}</td>"
            f"<td>{_number(quality.intervals[name][0])} to {_number(quality.intervals[name][1])}"
            f"</td><td>{_number(holdout[name])}</td></tr>"
            for name, value in quality.metrics.items()
        )
        parts.append(
            f"<h2>Live quality: {quality.rows} labelled record(s)</h2><p>{labelled.unknown_ids} "
            f"label(s) for unknown ids, {labelled.unlabelled} scored record(s) without a label."
            "</p><table><tr><th>metric</th><th>live</th><th>95 % interval</th>"
            f"<th>holdout</th></tr>{rows}</table>"
        )
        calibration = calibration_figure(
            labelled.joined[LABEL].to_numpy(), labelled.joined["probability"].to_numpy(), "Live"
        )
        parts.append(_image(calibration))
    parts.append("</body></html>")
    return "\n".join(parts)
