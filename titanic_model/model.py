"""The MLflow pyfunc: a thin adapter from MLflow's request formats to :func:`predict_survival`."""

from __future__ import annotations

import joblib
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from titanic_model.prediction import predict_survival
from titanic_model.schema import PASSENGER_FIELDS, PASSENGER_ID, FieldKind, SchemaError

PIPELINE_ARTIFACT = "pipeline"

# MLflow refuses int64 -> double in-process (not a "safe" cast), so integer fields stay long
# (Kaggle's CSV read by pandas gives int64) and fields that may be missing are double or string.
_MLFLOW_TYPES = {FieldKind.INTEGER: "long", FieldKind.NUMBER: "double", FieldKind.STRING: "string"}


def model_signature() -> ModelSignature:
    """Build the MLflow signature from the one input schema.

    Returns:
        Inputs: every passenger field, optional ones marked ``required=False``; outputs:
        ``PassengerId`` (optional), ``survived`` and ``probability``.
    """
    inputs = Schema(
        [ColSpec(_MLFLOW_TYPES[f.kind], f.name, required=f.required) for f in PASSENGER_FIELDS]
    )
    outputs = Schema(
        [
            ColSpec("long", PASSENGER_ID, required=False),
            ColSpec("long", "survived"),
            ColSpec("double", "probability"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


class TitanicSurvivalModel(PythonModel):
    """Survival of raw Titanic passenger records, as served by ``mlflow models serve``."""

    def load_context(self, context) -> None:
        """Load the fitted scikit-learn pipeline logged beside the model."""
        self.pipeline = joblib.load(context.artifacts[PIPELINE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Predict survival for raw passenger records.

        Args:
            context: MLflow's model context (unused once loaded).
            model_input: Passenger records with Kaggle's columns, as MLflow parsed them.
            params: Unused; accepted for MLflow's interface.

        Returns:
            ``PassengerId`` (when given), ``survived`` and ``probability`` per record.

        Raises:
            MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400) naming the bad row and field.
        """
        try:
            return predict_survival(self.pipeline, model_input)
        except SchemaError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
