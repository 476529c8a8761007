"""``predict``: score a CSV in chunks with a registered model; bad rows go to a rejects file."""

from __future__ import annotations

import logging

import mlflow

from titanic_model.batch import score_chunks
from titanic_model.config import PredictConfig
from titanic_model.data import iter_passenger_csv, open_output
from titanic_model.names import (
    INPUT_URI_TAG,
    OUTPUT_URI_TAG,
    REJECTS_URI_TAG,
    ROWS_REJECTED_METRIC,
    ROWS_SCORED_METRIC,
    ROWS_TOTAL_METRIC,
)
from titanic_model.runs import log_new_params

logger = logging.getLogger(__name__)


def predict(config: PredictConfig) -> dict[str, int]:
    """Score ``config.input_uri`` into the predictions and rejects files, in the active run.

    Args:
        config: Input, outputs, model and chunk size.

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
    # The model's own adapter, without MLflow's signature casting: it validates every row itself.
    model = mlflow.pyfunc.load_model(config.model_uri).unwrap_python_model()
    scored_rows = rejected_rows = 0
    chunks = iter_passenger_csv(config.input_uri, config.storage, config.chunk_rows)
    with (
        open_output(config.output_uri, config.storage) as predictions_file,
        open_output(config.rejects_uri, config.storage) as rejects_file,
    ):
        for index, scored in enumerate(
            score_chunks(chunks, lambda rows: model.predict(None, rows))
        ):
            scored.predictions.to_csv(predictions_file, header=index == 0, index=False)
            scored.rejects.to_csv(rejects_file, header=index == 0, index=False)
            scored_rows += len(scored.predictions)
            rejected_rows += len(scored.rejects)
    counts = {
        ROWS_TOTAL_METRIC: scored_rows + rejected_rows,
        ROWS_SCORED_METRIC: scored_rows,
        ROWS_REJECTED_METRIC: rejected_rows,
    }
    mlflow.log_metrics(counts)
    logger.info("scored %d of %d rows, rejected %d", scored_rows, scored_rows + rejected_rows,
                rejected_rows)  # fmt: skip
    return counts
