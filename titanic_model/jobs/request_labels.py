"""``request_labels``: send a sample of the served predictions to reviewers in Label Studio.

Reads the scored records of the prediction log in a window, samples them (the answers the
model was least sure of first, or a seeded random sample), and adds each one as a task to the
Label Studio project, created with its labelling interface when missing, with the model's
answer pre-selected. A record already in the project (same request id and record) is never
added again: the sample depends only on the window and the parameters, so running the job
twice adds nothing the second time. The log is read, and Label Studio asked, before anything
is created: a failure leaves the project as it was.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import mlflow

from titanic_model.config import RequestLabelsConfig
from titanic_model.io.data import DataSourceError, read_log_files
from titanic_model.io.label_studio import LabelStudio
from titanic_model.io.runs import log_new_params
from titanic_model.labelling.tasks import (
    KEY,
    LABEL_CONFIG,
    build_task,
    distinct_records,
    model_version_label,
    record_key,
    sample_records,
)
from titanic_model.names import (
    LABEL_STUDIO_PROJECT_TAG,
    ROWS_SCORED_METRIC,
    TASKS_CREATED_METRIC,
    TASKS_METRIC,
)
from titanic_model.prediction_log import read_prediction_log

logger = logging.getLogger(__name__)

#: How the review project is set up when request_labels creates it.
PROJECT_SETTINGS = {
    "description": "Did the passenger survive? The model's answer is selected: keep it or "
    "correct it, then submit. Skip when the record does not let you tell.",
    # Its choice is required: a submitted annotation carries an answer, "I cannot tell" is a skip.
    "label_config": LABEL_CONFIG,
}


def request_labels(config: RequestLabelsConfig) -> int:
    """Add a sample of the window's scored records to the review project, in the active run.

    Args:
        config: The log and its window, the sample, the project and where Label Studio is.

    Returns:
        How many tasks were created.

    Raises:
        ConfigError: Without ``LABEL_STUDIO_URL`` or ``LABEL_STUDIO_API_KEY``.
        DataSourceError: For a log that cannot be read or holds no scored record in the window.
        LabelStudioError: When Label Studio cannot be reached or refuses the key or a call.
    """
    url, api_key = config.label_studio.require()
    log_new_params(config.parameters())
    since, until = config.window(datetime.now(UTC))
    texts = read_log_files(config.log_uri, config.log_storage)
    # Reviewers see what clients were answered, never a shadow model's answers.
    table = read_prediction_log(texts, since, until).served()
    if table.scored.empty:
        raise DataSourceError(
            f"no scored record in log_uri {config.log_uri} between {since or 'the start'} and "
            f"{'now' if config.until is None else until} ({table.lines} line(s) read, "
            f"{table.corrupt_lines} unreadable)"
        )
    records = distinct_records(table.scored)
    sample = sample_records(records, config.sample_size, config.strategy, config.seed)
    label_studio = LabelStudio(url, api_key)
    label_studio.whoami()
    project = label_studio.find_project(config.project)
    tasks = [] if project is None else label_studio.tasks(project["id"])
    existing = {
        record_key(task["data"]["request_id"], task["data"]["record"])
        for task in tasks
        if all(key in task["data"] for key in KEY)
    }
    keys = zip(sample["request_id"], sample["record"], strict=True)
    new = sample[[record_key(*key) not in existing for key in keys]]
    created = 0
    if not new.empty:
        if project is None:
            project = label_studio.create_project({"title": config.project, **PROJECT_SETTINGS})
        created = label_studio.import_tasks(
            project["id"], [build_task(row) for row in new.to_dict(orient="records")]
        )
        # Label Studio pre-selects the predictions of one model version: the latest one's.
        latest = new.iloc[int(new["time"].to_numpy().argmax())]
        version = model_version_label(
            latest["model_name"], latest["model_version"], latest["run_id"]
        )
        if project.get("model_version") != version:
            label_studio.update_project(project["id"], {"model_version": version})
    if project is not None:
        mlflow.set_tag(LABEL_STUDIO_PROJECT_TAG, project["id"])
    mlflow.log_metrics(
        {
            ROWS_SCORED_METRIC: len(records),
            TASKS_CREATED_METRIC: created,
            TASKS_METRIC: len(tasks) + created,
        }
    )
    logger.info(
        "%d of %d sampled record(s) added to Label Studio project %r (%s), %d already there",
        created,
        len(sample),
        config.project,
        url,
        len(sample) - len(new),
    )
    return created
