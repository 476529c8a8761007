"""``train``: grid-search the pipeline with cross-validation, log and register the best."""

from __future__ import annotations

import logging

import mlflow
from mlflow.entities.model_registry import ModelVersion

from entrypoints.cli import run_entry_point
from entrypoints.prepare import PARAMETERS as PREPARE_PARAMETERS
from entrypoints.prepare import prepare
from titanic_model.config import TrainConfig, as_params
from titanic_model.schema import LABEL, validate_passengers
from titanic_model.tracking import (
    PREPARE_RUN_TAG,
    load_split,
    log_and_register_model,
    log_dataset,
    log_new_params,
    source_commit,
    split_source,
)
from titanic_model.training import grid_search

PARAMETERS = (
    *PREPARE_PARAMETERS,
    "prepare_run_id",
    "candidates",
    "n_trees",
    "max_depth",
    "min_samples_leaf",
    "max_features",
    "learning_rate",
    "logistic_c",
    "cv_folds",
    "refit_metric",
    "model_name",
)
logger = logging.getLogger(__name__)


def train(config: TrainConfig) -> ModelVersion:
    """Train in the active run and register the refitted best model.

    Runs ``prepare`` first, as a nested run, when ``config.prepare_run_id`` is None.

    Args:
        config: Grid, cross-validation and registry settings.

    Returns:
        The newly registered model version.
    """
    prepare_run_id = config.prepare_run_id
    if prepare_run_id is None:
        with mlflow.start_run(run_name="prepare", nested=True):
            prepare_run_id = prepare(config.prepare)
    params = {k: v for k, v in as_params(config).items() if not k.startswith("prepare")}
    log_new_params(params)
    mlflow.set_tag(PREPARE_RUN_TAG, prepare_run_id)

    raw_training = load_split(prepare_run_id, "train")
    training = validate_passengers(raw_training, with_label=True)
    digest = log_dataset(raw_training, "train", split_source(prepare_run_id), "training")
    features, labels = training.drop(columns=[LABEL]), training[LABEL].astype(int)
    result = grid_search(
        features,
        labels,
        config.candidate_grids(),
        cv_folds=config.cv_folds,
        seed=config.seed,
        refit_metric=config.refit_metric,
    )
    for index, point in enumerate(result.grid):
        with mlflow.start_run(run_name=f"grid-{index:02d}", nested=True):
            mlflow.log_params(point.params)
            mlflow.log_metrics(point.metrics)
            mlflow.set_tag("rank_" + config.refit_metric, str(point.rank))
    mlflow.log_params({f"best_{name}": value for name, value in result.best_params.items()})
    mlflow.log_metrics(result.best_metrics)

    refit_score = result.best_metrics[f"cv_{config.refit_metric}_mean"]
    _, version = log_and_register_model(
        result.best_pipeline,
        input_example=raw_training.drop(columns=[LABEL]).head(3),
        model_name=config.model_name,
        tags={
            PREPARE_RUN_TAG: prepare_run_id,
            "git_commit": source_commit(mlflow.active_run().info.run_id) or "unknown",
            "train_data_digest": digest,
            f"cv_{config.refit_metric}": f"{refit_score:.4f}",
        },
    )
    logger.info(
        "registered %s version %s (CV %s %.4f)",
        version.name,
        version.version,
        config.refit_metric,
        refit_score,
    )
    return version


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, TrainConfig.from_params, train)
