"""Turn raw passenger records into survival predictions (pure: DataFrame in, DataFrame out)."""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from titanic_model.evaluation import DECISION_THRESHOLD
from titanic_model.schema import LABEL, PASSENGER_ID, validate_passengers


def predict_survival(pipeline: Pipeline, passengers: pd.DataFrame) -> pd.DataFrame:
    """Validate raw passenger records and predict who survives.

    Args:
        pipeline: The fitted model pipeline.
        passengers: Raw records with Kaggle's columns; ``PassengerId`` and the optional
            columns may be absent, extra columns are ignored.

    Returns:
        One row per input row, in input order: ``PassengerId`` (when given), ``survived``
        (0/1) and ``probability`` (of survival, in [0, 1]).

    Raises:
        SchemaError: When a record breaks the input schema.
    """
    records = validate_passengers(passengers.drop(columns=[LABEL], errors="ignore"))
    probability = pipeline.predict_proba(records)[:, 1]
    predictions = pd.DataFrame(
        {
            "survived": (probability >= DECISION_THRESHOLD).astype("int64"),
            "probability": probability.astype("float64"),
        },
        index=passengers.index,
    )
    if PASSENGER_ID in passengers.columns:
        predictions.insert(0, PASSENGER_ID, records[PASSENGER_ID].astype("Int64"))
    return predictions.reset_index(drop=True)
