"""The pandas engine's split of the model's reasoned answers into predictions and rejects.

Pure: the rows and the model's answers in (its ``invalid_rows=reason`` mode, one answer per
row), the two outputs out. The Spark engine makes the same split with Spark's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from titanic_model.model.schema import PASSENGER_ID
from titanic_model.names import PROBABILITY_COLUMN, REASON_COLUMN, ROW_COLUMN, SURVIVED_COLUMN


@dataclass(frozen=True)
class ScoredChunk:
    """What became of one chunk of input rows.

    Attributes:
        predictions: ``row`` (the chunk's index), ``PassengerId`` (when the input has that
            column), ``survived`` and ``probability``.
        rejects: ``row``, ``reason``, then the rejected input row as it was read.
    """

    predictions: pd.DataFrame
    rejects: pd.DataFrame


def split_answers(chunk: pd.DataFrame, answers: pd.DataFrame) -> ScoredChunk:
    """Every input row in exactly one of the outputs: scored, or rejected with its reason.

    Args:
        chunk: Raw rows; their index is what the ``row`` column reports.
        answers: The model's reasoned answers to ``chunk``, one per row, in order.

    Returns:
        The predictions and the rejects.
    """
    bad = (answers[REASON_COLUMN] != "").to_numpy()
    scored = answers[~bad]
    predictions = {ROW_COLUMN: chunk.index[~bad].to_numpy()}
    if PASSENGER_ID in chunk.columns:
        ids = scored[PASSENGER_ID]
        # As the model answers in its default mode: int64 unless some ids are missing.
        predictions[PASSENGER_ID] = ids.array if ids.hasnans else ids.to_numpy("int64")
    predictions[SURVIVED_COLUMN] = scored[SURVIVED_COLUMN].to_numpy("int64")
    predictions[PROBABILITY_COLUMN] = scored[PROBABILITY_COLUMN].to_numpy("float64")
    rejects = chunk[bad].astype(object)
    rejects.insert(0, REASON_COLUMN, answers[REASON_COLUMN].to_numpy()[bad])
    rejects.insert(0, ROW_COLUMN, chunk.index[bad].to_numpy())
    return ScoredChunk(pd.DataFrame(predictions), rejects.reset_index(drop=True))
