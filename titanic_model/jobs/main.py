"""``main`` (what ``mlflow run .`` runs): prepare -> train -> evaluate as three child runs."""

from __future__ import annotations

import mlflow
from mlflow.entities.model_registry import ModelVersion

from titanic_model.config import EvaluateConfig, MainConfig, PrepareConfig, TrainConfig
from titanic_model.errors import one_line
from titanic_model.io.registry import mark_failed, version_uri
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train
from titanic_model.names import EVALUATE_RUN, PREPARE_RUN, TRAIN_RUN


def main(config: MainConfig) -> ModelVersion:
    """Run prepare, train and evaluate as three child runs of the active run.

    Args:
        config: Every step's parameters.

    Returns:
        The version the train step registered (champion if the gate let it through).
    """
    with mlflow.start_run(run_name=PREPARE_RUN, nested=True):
        prepare_run_id = prepare(PrepareConfig.of(config))
    with mlflow.start_run(run_name=TRAIN_RUN, nested=True):
        version = train(TrainConfig.of(config, prepare_run_id=prepare_run_id))
    try:
        with mlflow.start_run(run_name=EVALUATE_RUN, nested=True):
            evaluate(
                EvaluateConfig.of(
                    config, model_uri=version_uri(version), prepare_run_id=prepare_run_id
                )
            )
    except Exception as error:
        # The version was registered but never decided on: it says so.
        mark_failed(version, one_line(getattr(error, "message", None) or error))
        raise
    return version
