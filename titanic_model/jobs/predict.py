"""``predict``: score raw passengers with a registered model; bad rows go to the rejects.

Two engines read the same rows and give the same answers: ``pandas`` streams a CSV through
one process in chunks; ``spark`` scores CSV or Parquet with ``mlflow.pyfunc.spark_udf`` on
a Spark cluster (``local[*]`` by default) and writes folders of Parquet files.
"""

from __future__ import annotations

import logging

import mlflow

from titanic_model.batch.chunks import split_answers
from titanic_model.batch.predict_config import PredictConfig
from titanic_model.errors import ConfigError
from titanic_model.io.data import iter_passenger_csv, open_output
from titanic_model.io.model_files import download_verified, load_verified_model
from titanic_model.io.runs import log_new_params
from titanic_model.names import (
    INPUT_URI_TAG,
    INVALID_ROWS_PARAM,
    OUTPUT_URI_TAG,
    REASON_FOR_INVALID_ROWS,
    REJECTS_URI_TAG,
    ROWS_REJECTED_METRIC,
    ROWS_SCORED_METRIC,
    ROWS_TOTAL_METRIC,
    SPARK_MASTER_TAG,
)

logger = logging.getLogger(__name__)


def predict(config: PredictConfig) -> dict[str, int]:
    """Score ``config.input_uri`` into the predictions and rejects, in the active run.

    Args:
        config: Input, outputs, engine, model and chunk size.

    Returns:
        Row counts: ``rows_total``, ``rows_scored`` and ``rows_rejected``.
    """
    log_new_params(config.parameters())
    mlflow.set_tags(
        {
            INPUT_URI_TAG: config.input_uri,
            OUTPUT_URI_TAG: config.output_uri,
            REJECTS_URI_TAG: config.rejects_uri,
        }
    )
    scored_rows, rejected_rows = (_on_spark if config.engine == "spark" else _in_chunks)(config)
    counts = {
        ROWS_TOTAL_METRIC: scored_rows + rejected_rows,
        ROWS_SCORED_METRIC: scored_rows,
        ROWS_REJECTED_METRIC: rejected_rows,
    }
    mlflow.log_metrics({name: float(count) for name, count in counts.items()})
    logger.info(
        "scored %d of %d rows, rejected %d", scored_rows, scored_rows + rejected_rows, rejected_rows
    )
    return counts


def _in_chunks(config: PredictConfig) -> tuple[int, int]:
    """The single-process engine: CSV in, CSV out, ``chunk_rows`` at a time."""
    # The model's own adapter, without MLflow's signature casting: it validates every row
    # itself, once, and answers a bad one with its reason (as it does for Spark).
    model = load_verified_model(config.model_uri, config.pin.digest).unwrap_python_model()
    reasons = {INVALID_ROWS_PARAM: REASON_FOR_INVALID_ROWS}
    scored_rows = rejected_rows = 0
    chunks = iter_passenger_csv(config.input_uri, config.storage, config.chunk_rows)
    with (
        open_output(config.output_uri, config.storage) as predictions_file,
        open_output(config.rejects_uri, config.storage) as rejects_file,
    ):
        for index, chunk in enumerate(chunks):
            scored = split_answers(chunk, model.predict(None, chunk, reasons))
            scored.predictions.to_csv(predictions_file, header=index == 0, index=False)
            scored.rejects.to_csv(rejects_file, header=index == 0, index=False)
            scored_rows += len(scored.predictions)
            rejected_rows += len(scored.rejects)
    return scored_rows, rejected_rows


def _on_spark(config: PredictConfig) -> tuple[int, int]:
    """The Spark engine: CSV or Parquet in, folders of Parquet out."""
    try:  # pyspark is an extra: the serving image and the pandas engine do without it
        from titanic_model.batch.spark import (
            check_outputs_free,
            read_passengers,
            score_passengers,
            spark_session,
        )
    except ImportError as error:
        raise ConfigError(
            f"engine=spark needs pyspark, the extra 'spark' of this project ({error})"
        ) from None

    spark = spark_session(config.spark)
    mlflow.set_tag(SPARK_MASTER_TAG, spark.sparkContext.master)
    try:
        outputs = (config.output_uri, config.rejects_uri)
        passengers = read_passengers(spark, config.input_uri)
        check_outputs_free(spark, outputs, config.overwrite)
        checked = str(download_verified(config.model_uri, config.pin.digest).path)
        return score_passengers(spark, passengers, checked, outputs, config.overwrite)
    finally:
        spark.stop()
