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


def parse_config(
    params: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[TrainConfig, EvaluateConfig]:
    """Every step's config, so that any bad parameter stops the run before the first step."""
    return TrainConfig.from_params(params, environ), EvaluateConfig.from_params(params)


def main(configs: tuple[TrainConfig, EvaluateConfig]) -> None:
    """Run prepare, train and evaluate as three child runs of the active run.

    Args:
        configs: The train config (with prepare's) and the evaluate config.
    """
    train_config, evaluate_config = configs
    with mlflow.start_run(run_name="prepare", nested=True):
        prepare_run_id = prepare(train_config.prepare)
    with mlflow.start_run(run_name="train", nested=True):
        version = train(replace(train_config, prepare_run_id=prepare_run_id))
    with mlflow.start_run(run_name="evaluate", nested=True):
        evaluate(
            replace(evaluate_config, model_uri=version_uri(version), prepare_run_id=prepare_run_id)
        )


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, parse_config, main)
