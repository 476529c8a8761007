"""Batch scoring: split rows into scored rows and rejected rows with their reason.

The single-machine ``predict`` job and the Spark path (the model's ``invalid_rows=reason``
mode, run by ``mlflow.pyfunc.spark_udf``) both score through :func:`score_chunk`, so a row
gets the same answer, or the same reason, whichever engine reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from titanic_model.model.schema import PASSENGER_ID, find_violations

ROW = "row"
REASON = "reason"
SURVIVED = "survived"
PROBABILITY = "probability"
#: The columns of :func:`score_with_reasons`' answer, one per input row.
REASONED_COLUMNS = (PASSENGER_ID, SURVIVED, PROBABILITY, REASON)


@dataclass(frozen=True)
class ScoredChunk:
    """What became of one chunk of input rows.

    Attributes:
        predictions: ``row`` (the chunk's index), then the model's output columns.
        rejects: ``row``, ``reason``, then the rejected input row as it was read.
    """

    predictions: pd.DataFrame
    rejects: pd.DataFrame


def score_chunk(
    chunk: pd.DataFrame, predict: Callable[[pd.DataFrame], pd.DataFrame]
) -> ScoredChunk:
    """Score raw passenger rows, setting aside the rows that break the schema.

    A bad row never fails the chunk: it goes to the rejects with the rule it broke, and every
    input row ends up in exactly one of the two outputs.

    Args:
        chunk: Raw rows; their index is what the ``row`` column reports.
        predict: The model's prediction function for valid raw rows.

    Returns:
        The predictions and the rejects.

    Raises:
        SchemaError: When a required column is absent from the input altogether.
    """
    reasons = find_violations(chunk)
    bad = reasons.notna()
    good_rows = chunk[~bad]
    if len(good_rows):
        predictions = predict(good_rows)
    else:
        has_id = PASSENGER_ID in chunk.columns
        predictions = pd.DataFrame(columns=[PASSENGER_ID] * has_id + [SURVIVED, PROBABILITY])
    predictions.insert(0, ROW, good_rows.index.to_numpy())
    rejects = chunk[bad].astype(object)
    rejects.insert(0, REASON, reasons[bad].astype(object))
    rejects.insert(0, ROW, chunk.index[bad].to_numpy())
    return ScoredChunk(predictions, rejects.reset_index(drop=True))


def score_chunks(
    chunks: Iterable[pd.DataFrame], predict: Callable[[pd.DataFrame], pd.DataFrame]
) -> Iterator[ScoredChunk]:
    """:func:`score_chunk` for each chunk of a stream (each chunk indexed by input position).

    Yields:
        One :class:`ScoredChunk` per input chunk.
    """
    for chunk in chunks:
        yield score_chunk(chunk, predict)


def _missing_integers(length: int) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.IntegerArray(np.zeros(length, "int64"), np.ones(length, dtype=bool))


def score_with_reasons(
    rows: pd.DataFrame, predict: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """Score rows into one answer per row, in input order, with a reason instead of a refusal.

    Args:
        rows: Raw passenger rows, in any index.
        predict: The model's prediction function for valid raw rows.

    Returns:
        :data:`REASONED_COLUMNS`: ``PassengerId``, ``survived`` and ``probability`` for a
        scored row and an empty ``reason``; for a rejected row, missing answers and the rule
        it broke. ``PassengerId`` and ``survived`` are nullable integers. (An empty string,
        not a missing one: MLflow's ``spark_udf`` turns a missing string into "None".)

    Raises:
        SchemaError: When a required column is absent from the input altogether.
    """
    scored = score_chunk(rows.reset_index(drop=True), predict)
    positions = scored.predictions[ROW].to_numpy(dtype="int64")
    answers = {
        PASSENGER_ID: _missing_integers(len(rows)),
        SURVIVED: _missing_integers(len(rows)),
        PROBABILITY: np.full(len(rows), np.nan),
        REASON: np.full(len(rows), "", dtype=object),
    }
    for column in (PASSENGER_ID, SURVIVED, PROBABILITY):
        if column in scored.predictions.columns:
            answers[column][positions] = scored.predictions[column].to_numpy()
    answers[REASON][scored.rejects[ROW].to_numpy(dtype="int64")] = scored.rejects[REASON]
    return pd.DataFrame(answers)
