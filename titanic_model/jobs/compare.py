"""``compare``: the served version and its shadow on the same logged records and labels.

Reads the prediction log of a window, pairs each served answer with the shadow's answer to
the same record, and, with outcomes learnt later, compares the two versions' live accuracy on
the same labelled records (:mod:`titanic_model.monitoring.comparison`, where the decision
rule is). Everything is computed before anything is logged: one run in the monitoring
experiment, named ``compare``, holds the whole comparison and its ``decision``, which
``promote`` reads.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import mlflow

from titanic_model import names
from titanic_model.config import CompareConfig
from titanic_model.io.data import DataSourceError, read_labels_csv, read_log_files
from titanic_model.io.runs import log_new_params, run_in_experiment
from titanic_model.monitoring.comparison import (
    Comparison,
    DecisionRule,
    Pairing,
    compare_pairs,
    pair_answers,
)
from titanic_model.monitoring.quality import check_labels, join_labels
from titanic_model.prediction_log import READABLE_VERSIONS, read_prediction_log

logger = logging.getLogger(__name__)


def _pairs(config: CompareConfig, since: datetime | None, until: datetime) -> Pairing:
    """The window's served and shadow answers to the same records."""
    table = read_prediction_log(read_log_files(config.log_uri, config.log_storage), since, until)
    if table.lines == table.corrupt_lines:
        versions = " or ".join(map(str, READABLE_VERSIONS))
        raise DataSourceError(
            f"cannot read log_uri {config.log_uri}: none of its {table.lines} line(s) is a "
            f"prediction-log line (schema version {versions})"
        )
    pairing = pair_answers(table.scored)
    if pairing is None:
        window = f"between {since or 'the start'} and {until}"
        raise DataSourceError(
            f"no record in {config.log_uri} {window} was answered by both the served model "
            "and a shadow: serve with TITANIC_SHADOW_MODEL_URI first"
        )
    if pairing.left_out:
        logger.warning("left out %d pair(s) of other versions in the window", pairing.left_out)
    return pairing


def compare(config: CompareConfig) -> str:
    """Compare the served and the shadow version on a window; log one run with the decision.

    Args:
        config: The job's parameters.

    Returns:
        The decision: ``promote``, ``keep`` or ``insufficient_labels``.

    Raises:
        DataSourceError: For a log or labels location that cannot be read, or a window
            without a record both versions answered.
        SchemaError: For a labels file that breaks its rules.
    """
    since, until = config.window(datetime.now(UTC))
    pairing = _pairs(config, since, until)
    labelled = None
    if config.labels_uri:
        labels = check_labels(read_labels_csv(config.labels_uri, config.storage))
        labelled = join_labels(pairing.pairs, labels).joined
    rule = DecisionRule(config.min_labelled, config.min_accuracy_gain, config.confidence)
    comparison = compare_pairs(pairing.pairs, labelled, rule)
    run_id = _log_run(config, pairing, comparison)
    versions = pairing.versions
    logger.info(
        "%s v%s (served) vs v%s (shadow): %d pair(s), %d labelled; %s (run %s)",
        versions.served_name,
        versions.served_version,
        versions.shadow_version,
        comparison.pairs,
        comparison.labelled_pairs,
        comparison.decision,
        run_id,
    )
    return comparison.decision


def _log_run(config: CompareConfig, pairing: Pairing, comparison: Comparison) -> str:
    """Log the comparison in its experiment; return the run's id."""
    versions = pairing.versions
    tags = {
        names.SERVED_MODEL_NAME_TAG: versions.served_name,
        names.SERVED_MODEL_VERSION_TAG: versions.served_version or "",
        names.SHADOW_MODEL_NAME_TAG: versions.shadow_name,
        names.SHADOW_MODEL_VERSION_TAG: versions.shadow_version or "",
        names.DECISION_TAG: comparison.decision,
    }
    with run_in_experiment(config.experiment_name, names.COMPARE_RUN) as run_id:
        # `mlflow run -e compare --experiment-name <this one>` logged the -P values already.
        log_new_params(config.parameters())
        mlflow.log_metrics(comparison.metrics())
        mlflow.set_tags(tags)
    return run_id
