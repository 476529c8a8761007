"""The runs module against a real (sqlite) tracking store, race included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import sqlalchemy
from mlflow import MlflowClient
from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException

from tests.projects import activate_sqlite_store
from titanic_model.io.runs import log_dataset

pytestmark = pytest.mark.integration

FRAME = pd.DataFrame({"Survived": [0, 1], "Age": [22.0, 38.0]})
SOURCE = "s3://bucket/train.csv"


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    activate_sqlite_store(tmp_path, "runs", monkeypatch)
    return tmp_path / "mlflow.db"


@pytest.fixture
def another_run_logs_it_first() -> Iterator[list[str]]:
    """Make the race happen: as our run inserts the dataset row, another run inserts it first.

    The store reads, finds no row and inserts one; between the two, the other run's insert
    commits on its own connection, so ours collides on the datasets' unique key in the
    database itself, as with two processes.
    """
    client = MlflowClient()
    other = client.create_run(client.get_experiment_by_name("runs").experiment_id)
    dataset = mlflow.data.from_pandas(FRAME, source=SOURCE, name="train", targets="Survived")
    raced: list[str] = [other.info.run_id]

    def insert_first(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO DATASETS") and len(raced) == 1:
            raced.append(statement)
            client.log_inputs(other.info.run_id, [DatasetInput(dataset._to_mlflow_entity())])

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", insert_first)
    try:
        yield raced
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", insert_first)


def test_a_dataset_another_run_created_at_the_same_moment_is_linked_to_that_row(
    store, another_run_logs_it_first
):
    with mlflow.start_run() as ours:
        digest = log_dataset(FRAME, "train", SOURCE, "training")

    other_run_id, _ = another_run_logs_it_first  # the race happened
    with sqlite3.connect(store) as database:
        (dataset,) = database.execute("SELECT dataset_uuid, digest FROM datasets").fetchall()
        linked = database.execute(
            "SELECT destination_id FROM inputs WHERE source_id = ?", (dataset[0],)
        ).fetchall()
    assert dataset[1] == digest
    assert sorted(run for (run,) in linked) == sorted([other_run_id, ours.info.run_id])
    (logged,) = MlflowClient().get_run(ours.info.run_id).inputs.dataset_inputs
    assert (logged.dataset.digest, [t.value for t in logged.tags]) == (digest, ["training"])


def test_any_other_logging_error_fails_at_once(store, monkeypatch):
    attempts = []
    log_input = mlflow.log_input
    monkeypatch.setattr(
        mlflow, "log_input", lambda *a, **k: attempts.append(1) or log_input(*a, **k)
    )

    with mlflow.start_run(), pytest.raises(MlflowException, match="exceeds the maximum length"):
        log_dataset(FRAME, "x" * 1000, SOURCE, "training")  # a name the store refuses
    assert attempts == [1]
