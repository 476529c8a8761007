"""Batch scoring: split each chunk into scored rows and rejected rows with their reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from titanic_model.schema import PASSENGER_ID, find_violations

ROW = "row"
REASON = "reason"


@dataclass(frozen=True)
class ScoredChunk:
    """What became of one chunk of input rows.

    Attributes:
        predictions: ``row`` (position in the input, from 0), then the model's output columns.
        rejects: ``row``, ``reason``, then the rejected input row as it was read.
    """

    predictions: pd.DataFrame
    rejects: pd.DataFrame


def score_chunks(
    chunks: Iterable[pd.DataFrame], predict: Callable[[pd.DataFrame], pd.DataFrame]
) -> Iterator[ScoredChunk]:
    """Score chunks of raw passenger rows, setting aside the rows that break the schema.

    A bad row never fails the batch: it goes to the rejects with the rule it broke, and every
    input row ends up in exactly one of the two outputs.

    Args:
        chunks: Raw rows; each chunk's index is the rows' position in the input.
        predict: The model's prediction function for valid raw rows.

    Yields:
        One :class:`ScoredChunk` per input chunk.

    Raises:
        SchemaError: When a required column is absent from the input altogether.
    """
    for chunk in chunks:
        reasons = find_violations(chunk)
        bad = reasons.notna()
        good_rows = chunk[~bad]
        if len(good_rows):
            predictions = predict(good_rows)
        else:
            has_id = PASSENGER_ID in chunk.columns
            predictions = pd.DataFrame(
                columns=[PASSENGER_ID] * has_id + ["survived", "probability"]
            )
        predictions.insert(0, ROW, good_rows.index.to_numpy())
        rejects = chunk[bad].astype(object)
        rejects.insert(0, REASON, reasons[bad].astype(object))
        rejects.insert(0, ROW, chunk.index[bad].to_numpy())
        yield ScoredChunk(predictions, rejects.reset_index(drop=True))
