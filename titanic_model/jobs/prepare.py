"""``prepare``: read and validate the raw passengers, split them, log both splits."""

from __future__ import annotations

import logging

import mlflow

from titanic_model.config import PrepareConfig
from titanic_model.io.data import read_passenger_csv
from titanic_model.io.runs import active_run_id, log_new_params, log_split
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.names import (
    DATA_URI_TAG,
    HOLDOUT_SPLIT,
    RAW_DATA,
    TRAIN_SPLIT,
    rows_metric,
    split_digest_tag,
)
from titanic_model.training.search import holdout_split

logger = logging.getLogger(__name__)


def prepare(config: PrepareConfig) -> str:
    """Validate the raw data and log a stratified train/holdout split in the active run.

    Args:
        config: Data location, holdout share and seed.

    Returns:
        The id of the active run, which holds ``splits/train.csv`` and ``splits/holdout.csv``.

    Raises:
        DataSourceError: When the data cannot be read.
        SchemaError: When a row breaks the passenger schema.
    """
    raw = read_passenger_csv(config.data_uri, config.storage)
    labels = validate_passengers(raw, with_label=True)[LABEL]
    train, holdout = holdout_split(raw, labels, config.test_fraction, config.seed)
    splits = {TRAIN_SPLIT: train, HOLDOUT_SPLIT: holdout}
    log_new_params(config.parameters())
    # The resolved data URI is a tag: under `mlflow run`, the data_uri parameter may be empty.
    mlflow.set_tag(DATA_URI_TAG, config.data_uri)
    for name, split in splits.items():
        mlflow.set_tag(split_digest_tag(name), log_split(split, name, config.data_uri))
    mlflow.log_metrics(
        {rows_metric(RAW_DATA): float(len(raw))}
        | {rows_metric(name): float(len(s)) for name, s in splits.items()}
    )
    run_id = active_run_id()
    logger.info("prepared %d train and %d holdout rows in run %s", len(train), len(holdout), run_id)
    return run_id
