"""``prepare``: read and validate the raw passengers, split them, log both splits."""

from __future__ import annotations

import logging

import mlflow
from sklearn.model_selection import train_test_split

from entrypoints.cli import run_entry_point
from titanic_model.config import PrepareConfig
from titanic_model.data import read_passenger_csv
from titanic_model.schema import LABEL, validate_passengers
from titanic_model.tracking import DATA_URI_TAG, log_new_params, log_split

PARAMETERS = ("data_uri", "test_fraction", "seed")
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
    # A fresh index: the logged CSVs, and so the dataset digests, carry no row positions.
    train, holdout = (
        split.reset_index(drop=True)
        for split in train_test_split(
            raw, test_size=config.test_fraction, stratify=labels, random_state=config.seed
        )
    )
    # The resolved data URI is a tag: under `mlflow run`, the data_uri parameter may be empty.
    log_new_params({"test_fraction": config.test_fraction, "seed": config.seed})
    mlflow.set_tag(DATA_URI_TAG, config.data_uri)
    digests = {name: log_split(split, name, config.data_uri) for name, split in
               (("train", train), ("holdout", holdout))}  # fmt: skip
    mlflow.set_tags({f"{name}_digest": digest for name, digest in digests.items()})
    mlflow.log_metrics(
        {"rows_raw": len(raw), "rows_train": len(train), "rows_holdout": len(holdout)}
    )
    run_id = mlflow.active_run().info.run_id
    logger.info("prepared %d train and %d holdout rows in run %s", len(train), len(holdout), run_id)
    return run_id


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, PrepareConfig.from_params, prepare)
