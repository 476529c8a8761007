"""``cross_validate``: nested CV of the whole training procedure on every labelled passenger.

The figure to quote for "how good is the default configuration": unlike the train step's
CV score, which is the best of the grid on the training split, the grid search here is
redone inside each outer fold and never sees the passengers it is scored on.
"""

from __future__ import annotations

import logging

import mlflow

from titanic_model.config import CrossValidateConfig
from titanic_model.io.data import read_passenger_csv
from titanic_model.io.runs import log_dataset, log_new_params
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.names import (
    CROSS_VALIDATION_CONTEXT,
    NESTED_CV_FOLDS_ARTIFACT,
    NESTED_CV_METRICS,
    PASSENGERS_DATASET,
    ROWS_METRIC,
    nested_cv_metric,
)
from titanic_model.training.search import nested_cross_validation

logger = logging.getLogger(__name__)


def cross_validate(config: CrossValidateConfig) -> dict[str, float]:
    """Run nested CV on all passengers of ``config.data_uri`` in the active run.

    Args:
        config: The data, and the search to evaluate (its folds serve both loops).

    Returns:
        Mean and standard deviation over outer folds of accuracy, roc_auc and brier_score,
        under their metric names (``nested_cv_accuracy_mean``…).
    """
    raw = read_passenger_csv(config.data_uri, config.storage)
    passengers = validate_passengers(raw, with_label=True)
    log_dataset(raw, PASSENGERS_DATASET, config.data_uri, CROSS_VALIDATION_CONTEXT)
    log_new_params(config.parameters())
    folds = nested_cross_validation(
        passengers.drop(columns=[LABEL]),
        passengers[LABEL].astype(int),
        config.candidate_grids(),
        outer_folds=config.cv_folds,
        inner_folds=config.cv_folds,
        seed=config.seed,
        refit_metric=config.refit_metric,
    )
    summary = {
        nested_cv_metric(metric, statistic): float(getattr(folds[metric], statistic)())
        for metric in NESTED_CV_METRICS
        for statistic in ("mean", "std")
    }
    mlflow.log_metrics(summary | {ROWS_METRIC: len(passengers)})
    mlflow.log_text(folds.to_csv(index_label="outer_fold"), NESTED_CV_FOLDS_ARTIFACT)
    logger.info(
        "nested %d-fold CV on %d passengers: accuracy %.4f ± %.4f, ROC AUC %.4f ± %.4f",
        config.cv_folds,
        len(passengers),
        summary[nested_cv_metric("accuracy", "mean")],
        summary[nested_cv_metric("accuracy", "std")],
        summary[nested_cv_metric("roc_auc", "mean")],
        summary[nested_cv_metric("roc_auc", "std")],
    )
    return summary
