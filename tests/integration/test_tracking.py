"""The MLflow I/O shell against a real (sqlite) tracking store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from titanic_model.tracking import log_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def test_a_dataset_another_run_created_at_the_same_moment_is_still_linked(
    sqlite_store, monkeypatch
):
    frame = pd.DataFrame({"Survived": [0, 1], "Age": [22.0, 38.0]})
    log_input = mlflow.log_input
    attempts = []

    def collide_once(dataset, context=None, **kwargs):
        attempts.append(context)
        if len(attempts) == 1:  # as the store answers when a parallel run won the race
            raise MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                "datasets.name, datasets.digest"
            )
        return log_input(dataset, context=context, **kwargs)

    monkeypatch.setattr(mlflow, "log_input", collide_once)
    with mlflow.start_run() as run:
        digest = log_dataset(frame, "train", "s3://bucket/train.csv", "training")

    inputs = MlflowClient(sqlite_store).get_run(run.info.run_id).inputs.dataset_inputs
    assert [dataset_input.dataset.digest for dataset_input in inputs] == [digest]
    assert attempts == ["training", "training"]


def test_a_dataset_that_cannot_be_logged_still_fails(sqlite_store, monkeypatch):
    def always_fail(dataset, context=None, **kwargs):
        raise MlflowException("the store is read-only")

    monkeypatch.setattr(mlflow, "log_input", always_fail)
    with mlflow.start_run(), pytest.raises(MlflowException, match="read-only"):
        log_dataset(pd.DataFrame({"Survived": [1]}), "train", "train.csv", "training")
