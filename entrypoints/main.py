"""``main`` (what ``mlflow run .`` runs): prepare -> train -> evaluate as three child runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import mlflow

from entrypoints.cli import run_entry_point
from entrypoints.evaluate import evaluate
from entrypoints.prepare import prepare
from entrypoints.train import PARAMETERS as TRAIN_PARAMETERS
from entrypoints.train import train
from titanic_model.config import EvaluateConfig, TrainConfig
from titanic_model.tracking import version_uri

PARAMETERS = (*(name for name in TRAIN_PARAMETERS if name != "prepare_run_id"), "gate_metric")


def _main(params: Mapping[str, str], environ: Mapping[str, str]) -> None:
    # Every parameter is checked before the first step starts.
    train_config = TrainConfig.from_params(params, environ)
    evaluate_config = EvaluateConfig.from_params(params)
    with mlflow.start_run():
        with mlflow.start_run(run_name="prepare", nested=True):
            prepare_run_id = prepare(train_config.prepare)
        with mlflow.start_run(run_name="train", nested=True):
            version = train(replace(train_config, prepare_run_id=prepare_run_id))
        with mlflow.start_run(run_name="evaluate", nested=True):
            evaluate(
                replace(
                    evaluate_config, model_uri=version_uri(version), prepare_run_id=prepare_run_id
                )
            )


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, _main)
