"""Turn raw passenger records into survival predictions (pure: DataFrame in, DataFrame out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from titanic_model.model.schema import PASSENGER_ID, check_passengers

# The probability from which a passenger is predicted to survive. It lives here, not beside
# the metrics, so that serving does not import plotting and metrics code at start-up.
DECISION_THRESHOLD = 0.5


def predict_survival(pipeline: Pipeline, passengers: pd.DataFrame) -> pd.DataFrame:
    """Validate raw passenger records and predict who survives.

    Args:
        pipeline: The fitted model pipeline.
        passengers: Raw records with Kaggle's columns; ``PassengerId`` and the optional
            columns may be absent, extra columns (a ``Survived`` label among them) are ignored.

    Returns:
        One row per input row, in input order: ``PassengerId`` (when given; int64, or
        nullable Int64 when some records have none), ``survived``
        (0/1) and ``probability`` (of survival, in [0, 1]).

    Raises:
        SchemaError: When a record breaks the input schema.
    """
    columns = check_passengers(passengers)
    probability = pipeline.predict_proba(columns)[:, 1]
    predictions = {}
    if PASSENGER_ID in passengers.columns:
        ids = columns[PASSENGER_ID]
        # Plain int64 unless some ids are missing: it is also faster for MLflow to serialise.
        predictions[PASSENGER_ID] = (
            pd.array(ids, "Int64") if np.isnan(ids).any() else ids.astype("int64")
        )
    predictions["survived"] = (probability >= DECISION_THRESHOLD).astype("int64")
    predictions["probability"] = probability.astype("float64")
    return pd.DataFrame(predictions, copy=False)  # the arrays are new: no need to copy them
