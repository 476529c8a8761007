"""``train``: grid-search the candidates with cross-validation, log and register the best."""

from __future__ import annotations

import logging

import mlflow
from mlflow.entities.model_registry import ModelVersion

from titanic_model.config import PrepareConfig, TrainConfig
from titanic_model.io.registry import log_and_register_model
from titanic_model.io.runs import (
    active_run_id,
    load_split,
    log_dataset,
    log_new_params,
    source_commit,
    split_digest,
    split_source,
)
from titanic_model.jobs.prepare import prepare
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.names import (
    HOLDOUT_SPLIT,
    PREPARE_RUN,
    PREPARE_RUN_TAG,
    TRAIN_SPLIT,
    TRAINING_CONTEXT,
    VERSION_GIT_COMMIT_TAG,
    best_param,
    cv_metric,
    cv_score_tag,
    grid_point_run,
    rank_tag,
    split_digest_tag,
)
from titanic_model.training.search import SearchResult, grid_search

logger = logging.getLogger(__name__)


def _log_search(result: SearchResult, refit_metric: str) -> None:
    """Every grid point as a nested run, then the chosen point on the active run."""
    for index, point in enumerate(result.grid):
        with mlflow.start_run(run_name=grid_point_run(index), nested=True):
            mlflow.log_params(point.params)
            mlflow.log_metrics(point.metrics)
            mlflow.set_tag(rank_tag(refit_metric), str(point.rank))
    mlflow.log_params({best_param(name): value for name, value in result.best_params.items()})
    mlflow.log_metrics(result.best_metrics)


def train(config: TrainConfig) -> ModelVersion:
    """Train in the active run and register the refitted best model.

    Runs ``prepare`` first, as a nested run, when ``config.prepare_run_id`` is None.

    Args:
        config: Data, grid search and registry settings.

    Returns:
        The newly registered model version.
    """
    prepare_run_id = config.prepare_run_id
    if prepare_run_id is None:
        with mlflow.start_run(run_name=PREPARE_RUN, nested=True):
            prepare_run_id = prepare(PrepareConfig.of(config))
    log_new_params(config.parameters())
    mlflow.set_tag(PREPARE_RUN_TAG, prepare_run_id)

    raw_training = load_split(prepare_run_id, TRAIN_SPLIT)
    training = validate_passengers(raw_training, with_label=True)
    digest = log_dataset(raw_training, TRAIN_SPLIT, split_source(prepare_run_id), TRAINING_CONTEXT)
    result = grid_search(
        training.drop(columns=[LABEL]),
        training[LABEL].astype(int),
        config.candidate_grids(),
        cv_folds=config.cv_folds,
        seed=config.seed,
        refit_metric=config.refit_metric,
    )
    _log_search(result, config.refit_metric)

    refit_score = result.best_metrics[cv_metric(config.refit_metric, "mean")]
    version = log_and_register_model(
        result.best_pipeline,
        input_example=raw_training.drop(columns=[LABEL]).head(3),
        model_name=config.model_name,
        tags={
            PREPARE_RUN_TAG: prepare_run_id,
            VERSION_GIT_COMMIT_TAG: source_commit(active_run_id()) or "unknown",
            split_digest_tag(TRAIN_SPLIT): digest,
            split_digest_tag(HOLDOUT_SPLIT): split_digest(prepare_run_id, HOLDOUT_SPLIT),
            cv_score_tag(config.refit_metric): f"{refit_score:.4f}",
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
