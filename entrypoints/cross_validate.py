"""``cross_validate``: nested CV of the whole training procedure on every labelled passenger.

The figure to quote for "how good is the default configuration": unlike the train step's
CV score, which is the best of the grid on the training split, the grid search here is
redone inside each outer fold and never sees the passengers it is scored on.
"""

from __future__ import annotations

import logging

import mlflow

from entrypoints.cli import run_entry_point
from entrypoints.train import PARAMETERS as TRAIN_PARAMETERS
from titanic_model.config import TrainConfig, as_params
from titanic_model.data import read_passenger_csv
from titanic_model.schema import LABEL, validate_passengers
from titanic_model.tracking import log_dataset, log_new_params
from titanic_model.training import nested_cross_validation

PARAMETERS = tuple(
    p for p in TRAIN_PARAMETERS if p not in ("prepare_run_id", "model_name", "test_fraction")
)
logger = logging.getLogger(__name__)


def cross_validate(config: TrainConfig) -> dict[str, float]:
    """Run nested CV on all passengers of ``config.prepare.data_uri`` in the active run.

    Args:
        config: The grid, folds (outer and inner alike) and seed to evaluate.

    Returns:
        Mean and standard deviation over outer folds of accuracy, roc_auc and brier_score.
    """
    raw = read_passenger_csv(config.prepare.data_uri, config.prepare.storage)
    passengers = validate_passengers(raw, with_label=True)
    log_dataset(raw, "passengers", config.prepare.data_uri, "cross-validation")
    log_new_params({k: v for k, v in as_params(config).items() if not k.startswith("prepare")})
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
        f"nested_cv_{metric}_{stat}": float(getattr(folds[metric], stat)())
        for metric in ("accuracy", "roc_auc", "brier_score")
        for stat in ("mean", "std")
    }
    mlflow.log_metrics(summary | {"rows": len(passengers)})
    mlflow.log_text(folds.to_csv(index_label="outer_fold"), "nested_cv_folds.csv")
    logger.info(
        "nested %d-fold CV on %d passengers: accuracy %.4f ± %.4f, ROC AUC %.4f ± %.4f",
        config.cv_folds,
        len(passengers),
        summary["nested_cv_accuracy_mean"],
        summary["nested_cv_accuracy_std"],
        summary["nested_cv_roc_auc_mean"],
        summary["nested_cv_roc_auc_std"],
    )
    return summary


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, TrainConfig.from_params, cross_validate)
