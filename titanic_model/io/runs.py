"""MLflow runs and their lineage: parameters, datasets, the prepared splits, the source commit.

I/O shell: the jobs call these inside an active run; every name comes from
:mod:`titanic_model.names`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from titanic_model.environment import StorageConfig
from titanic_model.io.data import read_passenger_csv
from titanic_model.model.schema import LABEL
from titanic_model.names import (
    DATA_URI_TAG,
    MLFLOW_EXPERIMENT_KIND_TAG,
    MLFLOW_GIT_COMMIT_TAG,
    MLFLOW_PARENT_RUN_TAG,
    MLFLOW_RUN_NAME_TAG,
    MODEL_DEVELOPMENT_KIND,
    MONITORING_RUN_TAG,
    SPLITS_DIR,
    split_artifact,
    split_digest_tag,
)

# How the tracking stores word a unique-key collision: SQLite, PostgreSQL, MySQL.
_DUPLICATE_KEY = re.compile(r"unique constraint|duplicate key|duplicate entry", re.IGNORECASE)


def active_run_id() -> str:
    """The id of the active run.

    Raises:
        RuntimeError: Outside a run (a job always runs inside one: a bug of the caller).
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run: a job runs inside one")
    return run.info.run_id


def log_new_params(params: Mapping[str, object]) -> None:
    """Log the parameters that the active run does not have yet.

    ``mlflow run`` logs the ``-P`` values, as typed, on the run before the entry point starts;
    MLflow refuses to log a parameter twice, so those keep the user's spelling.

    Args:
        params: Parameter names and values.
    """
    existing = MlflowClient().get_run(active_run_id()).data.params
    mlflow.log_params({k: v for k, v in params.items() if k not in existing})


def log_dataset(frame: pd.DataFrame, name: str, source_uri: str, context: str) -> str:
    """Record ``frame`` as an MLflow dataset input of the active run.

    Args:
        frame: The data, label included.
        name: The dataset's name (``"train"``, ``"holdout"``).
        source_uri: Where the data came from, recorded as the dataset's source.
        context: The dataset's role in this run (``"training"``, ``"evaluation"``…).

    Returns:
        The dataset's digest, which identifies its content.

    Raises:
        MlflowException: When the store refuses the dataset for another reason than a
            parallel run creating it at the same moment (a locked SQLite file, say: only
            the unique-key collision of that race is retried).
    """
    dataset = from_pandas(frame, source=source_uri, name=name, targets=LABEL)
    try:
        mlflow.log_input(dataset, context=context)
    except MlflowException as error:
        # The store's get-or-create of a dataset row is not atomic: runs logging the same
        # data at once (the Argo workflow's parallel train steps) collide on its unique key.
        # The other run has created the row by now, so a second attempt links to it.
        if not _DUPLICATE_KEY.search(error.message):
            raise
        mlflow.log_input(dataset, context=context)
    return dataset.digest


def log_split(frame: pd.DataFrame, name: str, source_uri: str) -> str:
    """Log a split as an artifact (``splits/<name>.csv``) and as a dataset input.

    Args:
        frame: The split, label included.
        name: ``"train"`` or ``"holdout"``; also the dataset's context.
        source_uri: Where the raw data came from.

    Returns:
        The dataset's digest.
    """
    digest = log_dataset(frame, name, source_uri, context=name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=SPLITS_DIR)
    return digest


def split_digest(run_id: str, name: str) -> str:
    """The dataset digest of split ``name`` that prepare run ``run_id`` logged."""
    return MlflowClient().get_run(run_id).data.tags[split_digest_tag(name)]


def split_source(run_id: str) -> str:
    """The raw data URI that the splits of prepare run ``run_id`` were cut from."""
    return MlflowClient().get_run(run_id).data.tags[DATA_URI_TAG]


def load_split(run_id: str, name: str) -> pd.DataFrame:
    """Read a split that ``prepare`` logged in run ``run_id``.

    Args:
        run_id: The prepare run.
        name: ``"train"`` or ``"holdout"``.

    Returns:
        The split as it was logged.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=split_artifact(name), dst_path=folder
        )
        # A local file: the storage settings go unread, so none are read from the environment.
        return read_passenger_csv(path, StorageConfig.model_construct())


def source_commit(run_id: str) -> str | None:
    """The git commit ``mlflow run`` recorded for ``run_id`` or for the nearest parent run."""
    client = MlflowClient()
    while run_id:
        tags = client.get_run(run_id).data.tags
        if MLFLOW_GIT_COMMIT_TAG in tags:
            return tags[MLFLOW_GIT_COMMIT_TAG]
        run_id = tags.get(MLFLOW_PARENT_RUN_TAG, "")
    return None


def monitoring_experiment(name: str) -> str:
    """The experiment's id, created if need be; MLflow's UI shows it as runs and charts."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    if experiment is None or MLFLOW_EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment_id, MLFLOW_EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT_KIND)
    return experiment_id


@contextmanager
def run_in_experiment(experiment_name: str, run_name: str) -> Iterator[str]:
    """Log in ``experiment_name``: the active run when it is there, else a run nested under it.

    A nested run's id is then tagged on the active run (``monitoring_run_id``).

    Args:
        experiment_name: The experiment (created if need be, as :func:`monitoring_experiment`).
        run_name: The name the run gets.

    Yields:
        The id of the run logged to.
    """
    experiment_id = monitoring_experiment(experiment_name)
    active = mlflow.active_run()
    if active is not None and active.info.experiment_id == experiment_id:
        mlflow.set_tag(MLFLOW_RUN_NAME_TAG, run_name)
        yield active.info.run_id
        return
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, nested=active is not None
    ) as run:
        yield run.info.run_id
    if active is not None:
        mlflow.set_tag(MONITORING_RUN_TAG, run.info.run_id)


def last_run_tagged(experiment_name: str, tags: Mapping[str, str]) -> Run | None:
    """The run started last in ``experiment_name`` with all of ``tags``, or None.

    Args:
        experiment_name: Where to look (None when it does not exist).
        tags: Tag values the run must have, exactly.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    # Tag values are ours (names and version numbers), quoted as MLflow's filter wants.
    wanted = " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
    runs = client.search_runs(
        [experiment.experiment_id], wanted, order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0] if runs else None
