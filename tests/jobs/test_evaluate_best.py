from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from titanic_model.config import EvaluateBestConfig, TrainConfig
from titanic_model.jobs.evaluate_best import evaluate_best
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train


@pytest.fixture(scope="module")
def prepared(store) -> str:
    with mlflow.start_run():
        return prepare(store.prepare())


def _workflow(store, prepared, name: str, grids: list[dict[str, str]]) -> str:
    """Train one version per grid in a new experiment, as the Argo workflow's steps do."""
    experiment = f"workflow-of-{name}"
    experiment_id = store.client.create_experiment(experiment, str(store.folder / experiment))
    for grid in grids:
        config = TrainConfig.of(store.search(**grid), prepare_run_id=prepared, model_name=name)
        with mlflow.start_run(experiment_id=experiment_id):
            train(config)
    return experiment


def test_the_best_version_by_its_refit_metric_is_evaluated_and_promoted(store, prepared):
    """Regression: versions refit on roc_auc are tagged cv_roc_auc, and evaluate_best reads it."""
    name = store.new_model_name()
    weak = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1",
            "min_samples_leaf": "100", "refit_metric": "roc_auc"}  # fmt: skip
    good = {"candidates": "logistic_regression", "refit_metric": "roc_auc"}
    experiment = _workflow(store, prepared, name, [weak, good, weak])

    with mlflow.start_run() as run:
        evaluate_best(EvaluateBestConfig(experiment_name=experiment, model_name=name))

    versions = {v.version: v for v in store.client.search_model_versions(f"name = '{name}'")}
    scores = {number: float(v.tags["cv_roc_auc"]) for number, v in versions.items()}
    assert max(scores, key=scores.get) == 2
    tags = store.client.get_run(run.info.run_id).data.tags
    assert tags["best_of_experiment"] == experiment
    assert tags["model_uri"] == f"models:/{name}/2"
    assert tags["champion_decision"] == "promoted: first champion"
    assert store.client.get_registered_model(name).aliases == {"champion": 2}


def test_versions_chosen_by_different_metrics_are_not_compared(store, prepared):
    name = store.new_model_name()
    quick = {"candidates": "logistic_regression"}
    experiment = _workflow(
        store, prepared, name, [quick | {"refit_metric": "roc_auc"}, quick | {"refit_metric": "f1"}]
    )

    with mlflow.start_run(), pytest.raises(MlflowException, match="different CV metrics"):
        evaluate_best(EvaluateBestConfig(experiment_name=experiment, model_name=name))
    assert store.client.get_registered_model(name).aliases == {}


def test_an_experiment_without_versions_is_an_error(store):
    with mlflow.start_run(), pytest.raises(MlflowException, match="no version of 'titanic'"):
        evaluate_best(EvaluateBestConfig(experiment_name="no-such-experiment"))


def test_only_the_runs_of_the_given_name_compete(store, prepared):
    """The Argo workflow's: its runs share the training experiment with other workflows'."""
    name = store.new_model_name()
    experiment = f"shared-{name}"
    experiment_id = store.client.create_experiment(experiment, str(store.folder / experiment))
    weak = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1",
            "min_samples_leaf": "100"}  # fmt: skip
    for run_name, grid in [
        ("workflow-a", weak),
        ("workflow-b", {"candidates": "logistic_regression"}),
    ]:
        config = TrainConfig.of(store.search(**grid), prepare_run_id=prepared, model_name=name)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name):
            train(config)

    config = EvaluateBestConfig(experiment_name=experiment, run_name="workflow-a", model_name=name)
    with mlflow.start_run() as run:
        evaluate_best(config)

    tags = store.client.get_run(run.info.run_id).data.tags
    assert (tags["model_uri"], tags["best_of_run_name"]) == (f"models:/{name}/1", "workflow-a")
    with mlflow.start_run(), pytest.raises(MlflowException, match="by runs named 'workflow-c'"):
        evaluate_best(config.model_copy(update={"run_name": "workflow-c"}))
