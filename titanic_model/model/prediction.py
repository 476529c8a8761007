"""Turn raw passenger records into survival predictions (pure: DataFrame in, DataFrame out)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from titanic_model.model.schema import PASSENGER_ID, check_passengers
from titanic_model.names import PROBABILITY_COLUMN, SURVIVED_COLUMN

# The probability from which a passenger is predicted to survive. It lives here, not beside
# the metrics, so that serving does not import plotting and metrics code at start-up.
DECISION_THRESHOLD = 0.5


def answer(
    pipeline: Pipeline, columns: Mapping[str, np.ndarray], *, with_ids: bool
) -> pd.DataFrame:
    """Predict who survives from records already validated by the schema.

    Args:
        pipeline: The fitted model pipeline.
        columns: The canonical columns :func:`~titanic_model.model.schema.check_passengers`
            returned (or a subset of their rows).
        with_ids: Answer with the ``PassengerId`` column (the request had one).

    Returns:
        One row per record, in order: ``PassengerId`` (with ``with_ids``; int64, or nullable
        Int64 when some records have none), ``survived`` (0/1) and ``probability`` (of
        survival, in [0, 1]).
    """
    probability = pipeline.predict_proba(columns)[:, 1]
    predictions = {}
    if with_ids:
        ids = columns[PASSENGER_ID]
        # Plain int64 unless some ids are missing: it is also faster for MLflow to serialise.
        predictions[PASSENGER_ID] = (
            pd.array(ids, "Int64") if np.isnan(ids).any() else ids.astype("int64")
        )
    predictions[SURVIVED_COLUMN] = (probability >= DECISION_THRESHOLD).astype("int64")
    predictions[PROBABILITY_COLUMN] = probability.astype("float64")
    return pd.DataFrame(predictions, copy=False)  # the arrays are new: no need to copy them


def predict_survival(pipeline: Pipeline, passengers: pd.DataFrame) -> pd.DataFrame:
    """Validate raw passenger records and predict who survives.

    Args:
        pipeline: The fitted model pipeline.
        passengers: Raw records with Kaggle's columns; ``PassengerId`` and the optional
            columns may be absent, extra columns (a ``Survived`` label among them) are ignored.

    Returns:
        :func:`answer`'s frame, ``PassengerId`` when the records have that column.

    Raises:
        SchemaError: When a record breaks the input schema.
    """
    columns = check_passengers(passengers)
    return answer(pipeline, columns, with_ids=PASSENGER_ID in passengers.columns)
