"""``predict``: score a CSV in chunks with a registered model; bad rows go to a rejects file."""

from __future__ import annotations

import logging

import mlflow

from entrypoints.cli import run_entry_point
from titanic_model.batch import score_chunks
from titanic_model.config import PredictConfig
from titanic_model.data import iter_passenger_csv, open_output
from titanic_model.tracking import log_new_params

PARAMETERS = ("input_uri", "output_uri", "rejects_uri", "model_uri", "chunk_rows")
logger = logging.getLogger(__name__)


def predict(config: PredictConfig) -> dict[str, int]:
    """Score ``config.input_uri`` into the predictions and rejects files, in the active run.

    Args:
        config: Input, outputs, model and chunk size.

    Returns:
        Row counts: ``rows_total``, ``rows_scored`` and ``rows_rejected``.
    """
    log_new_params({"model_uri": config.model_uri, "chunk_rows": config.chunk_rows})
    mlflow.set_tags(
        {"input_uri": config.input_uri, "output_uri": config.output_uri,
         "rejects_uri": config.rejects_uri}
    )  # fmt: skip
    # The model's own adapter, without MLflow's signature casting: it validates every row itself.
    model = mlflow.pyfunc.load_model(config.model_uri).unwrap_python_model()
    counts = {"rows_total": 0, "rows_scored": 0, "rows_rejected": 0}
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
            counts["rows_scored"] += len(scored.predictions)
            counts["rows_rejected"] += len(scored.rejects)
    counts["rows_total"] = counts["rows_scored"] + counts["rows_rejected"]
    mlflow.log_metrics(counts)
    logger.info("scored %(rows_scored)d of %(rows_total)d rows, rejected %(rows_rejected)d", counts)
    return counts


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, PredictConfig.from_params, predict)
