"""``collect_labels``: the reviewers' answers in Label Studio, as the labels ``monitor`` reads.

Exports the review project's tasks, takes the majority of each task's reviewers (each
reviewer's latest annotation; skipped ones are no answer; ties and tasks with too few answers
are left out and counted) and writes one CSV, ``PassengerId,Survived,request_id,record,
annotations,agreement``, that the ``monitor`` entry point takes as ``labels_uri`` unchanged: it
joins a row on ``request_id`` and ``record`` (the exact record reviewed), and on
``PassengerId`` only where those are empty. Everything is read and computed before the file is
written and the run's metrics are logged.
"""

from __future__ import annotations

import logging
import math

import mlflow

from titanic_model.config import CollectLabelsConfig
from titanic_model.io.data import open_output
from titanic_model.io.label_studio import LabelStudio, LabelStudioError
from titanic_model.io.runs import log_new_params
from titanic_model.labelling.votes import collect, model_answers
from titanic_model.names import (
    LABEL_STUDIO_PROJECT_TAG,
    LABELS_WRITTEN_METRIC,
    MODEL_AGREEMENT_METRIC,
    OUTPUT_URI_TAG,
    REVIEWER_AGREEMENT_METRIC,
    TASKS_ANNOTATED_METRIC,
    TASKS_METRIC,
    TASKS_SKIPPED_METRIC,
    TASKS_TIED_METRIC,
    TASKS_TOO_FEW_ANSWERS_METRIC,
)

logger = logging.getLogger(__name__)


def collect_labels(config: CollectLabelsConfig) -> int:
    """Write the review project's labels to ``config.output_uri``, in the active run.

    Args:
        config: The project, where the labels go, and how many answers a task needs.

    Returns:
        How many labels were written.

    Raises:
        ConfigError: Without ``LABEL_STUDIO_URL`` or ``LABEL_STUDIO_API_KEY``.
        LabelStudioError: When Label Studio cannot be reached, refuses the key or a call, or
            has no such project.
        DataSourceError: When the output cannot be written.
    """
    url, api_key = config.label_studio.require()
    log_new_params(config.parameters())
    label_studio = LabelStudio(url, api_key)
    label_studio.whoami()
    project = label_studio.find_project(config.project)
    if project is None:
        raise LabelStudioError(
            f"Label Studio at {url} has no project {config.project!r}: request_labels creates it"
        )
    tasks = label_studio.tasks(project["id"])
    versions = {task["id"]: task["data"].get("model_version") for task in tasks}
    answers = model_answers(label_studio.predictions(project["id"]), versions)
    collection = collect(tasks, answers, config.min_annotations)
    with open_output(config.output_uri, config.storage) as sink:
        collection.labels.to_csv(sink, index=False)
    mlflow.set_tags({LABEL_STUDIO_PROJECT_TAG: project["id"], OUTPUT_URI_TAG: config.output_uri})
    metrics = {
        TASKS_METRIC: collection.tasks,
        TASKS_ANNOTATED_METRIC: collection.annotated,
        LABELS_WRITTEN_METRIC: len(collection.labels),
        TASKS_SKIPPED_METRIC: collection.skipped,
        TASKS_TOO_FEW_ANSWERS_METRIC: collection.too_few,
        TASKS_TIED_METRIC: collection.tied,
        REVIEWER_AGREEMENT_METRIC: collection.reviewer_agreement,
        MODEL_AGREEMENT_METRIC: collection.model_agreement,
    }
    # An agreement over nothing (no task with two answers) is not a figure.
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if not math.isnan(v)})
    logger.info(
        "%d label(s) from %d annotated task(s) of %d written to %s (%d skipped, %d with too few "
        "answers, %d tied)",
        len(collection.labels),
        collection.annotated,
        collection.tasks,
        config.output_uri,
        collection.skipped,
        collection.too_few,
        collection.tied,
    )
    return len(collection.labels)
