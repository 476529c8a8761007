"""``monitor``: drift and live quality of the served model, from the serving layer's log.

Reads the prediction log of a window (its served lines: a shadow's answers are ``compare``'s),
compares the passengers each model version was asked about with the training split it learnt
from (found from the version's lineage tags), its answers with its answers on its holdout,
and, when outcomes learnt later are given, its answers with the truth. Everything is computed
before anything is logged: a run either holds the whole assessment or does not exist. It logs
one run in the monitoring experiment (nested under the project run when that one is
elsewhere), an HTML report, and tags each version seen with its latest status. The
assessment itself is :mod:`titanic_model.monitoring.assessment`'s.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient

from titanic_model import names
from titanic_model.config import MonitorConfig
from titanic_model.errors import ConfigError, DriftDetectedError
from titanic_model.io.data import DataSourceError, read_labels_csv, read_log_files
from titanic_model.io.registry import registered_version, tag_version
from titanic_model.io.runs import load_split, log_new_params, monitoring_experiment
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.monitoring.assessment import (
    Reference,
    WindowAssessment,
    assess,
    build_reference,
    drift_table,
    records_of,
    versions,
    window_metrics,
)
from titanic_model.monitoring.drift import Thresholds
from titanic_model.monitoring.quality import check_labels, join_labels, live_quality
from titanic_model.monitoring.report import render_report
from titanic_model.prediction_log import (
    READABLE_VERSIONS,
    PredictionLogTable,
    read_prediction_log,
)

logger = logging.getLogger(__name__)


def _reference(model_name: str, version: str | None, run_id: str) -> Reference:
    """Find a version's training split and holdout from its lineage tags, and answer it."""
    found = registered_version(names.version_model_uri(model_name, version)) if version else None
    tags = found.tags if found is not None else {}
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
    model_uri = (
        names.version_model_uri(model_name, version) if version else names.run_model_uri(run_id)
    )
    answers = mlflow.pyfunc.load_model(model_uri).predict(holdout.drop(columns=[LABEL]))
    labels = validate_passengers(holdout, with_label=True)[LABEL].to_numpy().astype(int)
    probabilities = answers[names.PROBABILITY_COLUMN].to_numpy()
    return build_reference(model_name, version, run_id, training, labels, probabilities)


def _read(
    config: MonitorConfig, since: datetime | None, until: datetime | None
) -> PredictionLogTable:
    table = read_prediction_log(read_log_files(config.log_uri, config.log_storage), since, until)
    if table.lines == table.corrupt_lines:
        raise DataSourceError(
            f"cannot read log_uri {config.log_uri}: none of its {table.lines} line(s) is a "
            f"prediction-log line (schema version {' or '.join(map(str, READABLE_VERSIONS))})"
        )
    if table.scored.empty and table.refused.empty:
        window = f"between {since or 'the start'} and {until or 'now'}"
        raise DataSourceError(f"no prediction-log line in {config.log_uri} {window}")
    if table.corrupt_lines:
        logger.warning("skipped %d unreadable log line(s)", table.corrupt_lines)
    # What clients were answered: a shadow's answers are compare's.
    return table.served()


def _assess(config: MonitorConfig, table: PredictionLogTable) -> WindowAssessment:
    """Assess every version seen, and the current one's live quality when labels are given."""
    thresholds = _thresholds(config)
    assessments = []
    for name, version, run_id in versions(table.scored):
        scored = records_of(table.scored, name, run_id)
        assessments.append(assess(_reference(name, version, run_id), scored, thresholds))
    window = WindowAssessment(table, assessments)
    if not config.labels_uri:
        return window
    labels = check_labels(read_labels_csv(config.labels_uri, config.storage))
    if window.current is None:
        raise DataSourceError("labels were given but the window holds no scored record")
    labelled = join_labels(window.current.scored, labels)
    if labelled.joined.empty:
        raise DataSourceError(
            f"none of the {len(labels)} labels matches a record scored in the window "
            "(by request_id and record, or by PassengerId)"
        )
    quality = live_quality(labelled.labels, labelled.probabilities)
    return WindowAssessment(table, assessments, quality, labelled)


def _thresholds(config: MonitorConfig) -> Thresholds:
    return Thresholds(
        config.p_value_threshold, config.psi_threshold, config.missing_share_threshold
    )


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
    window = _assess(config, _read(config, since, until))
    report = render_report(
        window, log_uri=config.log_uri, since=since, until=until, thresholds=_thresholds(config)
    )
    current = window.current
    flagged = current.flagged if current else []
    run_id = _log_run(config, window, report)
    for assessment in window.assessments:
        reference = assessment.reference
        if reference.version is None:
            continue
        tags = {
            names.MONITORING_RUN_VERSION_TAG: run_id,
            names.MONITORING_TIME_VERSION_TAG: now.isoformat(timespec="seconds"),
            names.MONITORING_DRIFT_VERSION_TAG: ",".join(assessment.flagged),
        }
        if window.quality is not None and assessment is current:
            accuracy = window.quality.metrics["accuracy"]
            tags[names.MONITORING_LIVE_ACCURACY_VERSION_TAG] = f"{accuracy:.4f}"
        tag_version(reference.model_name, reference.version, tags)
    logger.info(
        "monitored %d scored record(s); drifted: %s",
        len(window.table.scored),
        ", ".join(flagged) or "nothing",
    )
    if config.fail_on_drift and flagged:
        raise DriftDetectedError("drift in " + ", ".join(flagged) + f" (monitoring run {run_id})")


def _log_run(config: MonitorConfig, window: WindowAssessment, report: str) -> str:
    """Log the monitoring run; return its id.

    It is the active run when that one is in the monitoring experiment, else a run nested
    under it there.
    """
    experiment_id = monitoring_experiment(config.experiment_name)
    active = mlflow.active_run()
    current = window.current
    tags = {
        names.DRIFT_FIELDS_TAG: ",".join(current.flagged) if current else "",
        names.PREDICTION_DRIFT_TAG: str(bool(current and current.prediction_flagged)).lower(),
    }
    if current is not None:
        tags[names.MONITORED_MODEL_TAG] = current.reference.model_name
        tags[names.MONITORED_VERSION_TAG] = current.reference.version or ""
    metrics, drifts = window_metrics(window), drift_table(window)

    def log_everything() -> None:
        # `mlflow run -e monitor --experiment-name <this one>` logged the -P values already.
        log_new_params(config.parameters())
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        mlflow.log_text(report, names.MONITORING_REPORT_ARTIFACT)
        mlflow.log_text(drifts.to_csv(index=False), names.DRIFT_TABLE_ARTIFACT)

    if active is not None and active.info.experiment_id == experiment_id:
        mlflow.set_tag("mlflow.runName", names.MONITOR_RUN)
        log_everything()
        return active.info.run_id
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=names.MONITOR_RUN, nested=active is not None
    ) as run:
        log_everything()
    if active is not None:
        mlflow.set_tag(names.MONITORING_RUN_TAG, run.info.run_id)
    return run.info.run_id
