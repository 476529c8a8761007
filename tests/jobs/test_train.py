from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from tests.passengers import make_passengers
from titanic_model.config import TrainConfig
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train


@pytest.fixture(scope="module")
def prepared(store) -> str:
    with mlflow.start_run():
        return prepare(store.prepare())


def _train(store, prepare_run_id: str | None, model_name: str, **search: str):
    config = TrainConfig.of(
        store.prepare(),
        store.search(**search),
        prepare_run_id=prepare_run_id,
        model_name=model_name,
    )
    with mlflow.start_run() as run:
        version = train(config)
    return version, store.client.get_run(run.info.run_id)


def test_train_registers_the_best_grid_point_with_its_lineage(store, prepared):
    name = store.new_model_name()
    version, run = _train(store, prepared, name)

    assert (version.name, str(version.version), version.run_id) == (name, "1", run.info.run_id)
    prepare_run = store.client.get_run(prepared)
    assert version.tags["prepare_run_id"] == prepared
    assert version.tags["train_digest"] == prepare_run.data.tags["train_digest"]
    assert version.tags["holdout_digest"] == prepare_run.data.tags["holdout_digest"]
    assert "train_data_digest" not in version.tags  # one name for one digest
    assert version.tags["cv_accuracy"] == f"{run.data.metrics['cv_accuracy_mean']:.4f}"
    assert version.tags["git_commit"] == "unknown"  # in-process: not run from a git checkout
    assert run.data.tags["prepare_run_id"] == prepared
    (training_input,) = run.inputs.dataset_inputs
    assert training_input.dataset.digest == prepare_run.data.tags["train_digest"]

    grid = [
        r for r in store.client.search_runs([run.info.experiment_id])
        if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
    ]  # fmt: skip
    assert sorted(r.info.run_name for r in grid) == ["grid-00", "grid-01", "grid-02", "grid-03"]
    best = min(grid, key=lambda r: int(r.data.tags["rank_accuracy"]))
    assert run.data.metrics == best.data.metrics
    assert {k.removeprefix("best_"): v for k, v in run.data.params.items()
            if k.startswith("best_")} == best.data.params  # fmt: skip
    assert run.data.params["n_trees"] == "8"
    assert run.data.params["model_name"] == name


def test_train_runs_prepare_first_when_given_no_prepare_run(store):
    version, run = _train(store, None, store.new_model_name(), candidates="logistic_regression")

    (prepare_run,) = [
        r for r in store.client.search_runs([run.info.experiment_id])
        if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
        and r.info.run_name == "prepare"
    ]  # fmt: skip
    assert version.tags["prepare_run_id"] == prepare_run.info.run_id
    assert run.data.params["best_model"] == "logistic_regression"


def test_the_version_is_tagged_with_the_cv_score_of_its_refit_metric(store, prepared):
    version, run = _train(store, prepared, store.new_model_name(), refit_metric="roc_auc")

    assert version.tags["cv_roc_auc"] == f"{run.data.metrics['cv_roc_auc_mean']:.4f}"
    assert "cv_accuracy" not in version.tags


def test_same_data_and_parameters_give_the_same_model(store, prepared):
    name = store.new_model_name()
    (one, first), (two, second) = (_train(store, prepared, name) for _ in range(2))

    assert first.data.metrics == second.data.metrics
    passengers = make_passengers(60).drop(columns=["Survived"])
    answers = [
        mlflow.pyfunc.load_model(f"models:/{name}/{version.version}").predict(passengers)
        for version in (one, two)
    ]
    pd.testing.assert_frame_equal(*answers, check_exact=True)
