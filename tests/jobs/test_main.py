from __future__ import annotations

import mlflow

from titanic_model.config import MainConfig
from titanic_model.jobs.main import main


def test_main_chains_prepare_train_and_evaluate_as_child_runs(store):
    name = store.new_model_name()
    config = MainConfig.of(store.prepare(), store.search(), model_name=name)

    with mlflow.start_run() as parent:
        version = main(config)

    children = {
        run.info.run_name: run
        for run in store.client.search_runs([parent.info.experiment_id])
        if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == {"prepare", "train", "evaluate"}
    assert version.run_id == children["train"].info.run_id
    assert version.tags["prepare_run_id"] == children["prepare"].info.run_id
    evaluation = children["evaluate"].data
    assert evaluation.tags["model_uri"] == f"models:/{name}/1"
    assert evaluation.tags["prepare_run_id"] == children["prepare"].info.run_id
    assert evaluation.tags["champion_decision"] == "promoted: first champion"
    assert children["train"].data.params["n_trees"] == "8"
