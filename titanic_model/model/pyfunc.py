"""The MLflow pyfunc: a thin adapter from MLflow's request formats to :func:`predict_survival`.

Why the logged signature declares outputs only, and the input schema travels as metadata:
MLflow 3 casts request columns to the signature's types before the model sees them, and no
choice of column types is right for raw passenger records. With ``long`` a JSON ``Pclass`` of
2.5 becomes 2 (a silent wrong answer) and a null ``PassengerId`` fails the cast; with
``double``, pandas' own int64 columns are refused in-process; with ``any``, ``text/csv``
requests are refused. So the model validates its input itself, against the one schema in
:mod:`titanic_model.model.schema`, which is also stored in the model's metadata
(``metadata["input_schema"]``) for people and tools to read.

No pickle: the pyfunc is logged as code (``model_code.py``), and the fitted pipeline is a
skops file read with :func:`load_pipeline`, which trusts exactly :data:`TRUSTED_TYPES`. The
list lives here, in the project's code, not in the model's own files: whoever can write to
the artifact store could rewrite those, and would then run code in every server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from titanic_model.model.prediction import answer, predict_survival
from titanic_model.model.schema import PASSENGER_ID, SchemaError, check_passengers
from titanic_model.model.scoring import score_with_reasons
from titanic_model.names import (
    INVALID_ROWS_PARAM,
    PIPELINE_ARTIFACT,
    PROBABILITY_COLUMN,
    REASON_FOR_INVALID_ROWS,
    REFUSE_INVALID_ROWS,
    SURVIVED_COLUMN,
)

# What skops must be told to trust to load our pipeline, whichever candidate won the search:
# exactly the types skops.io.get_untrusted_types reports for each of them, nothing broader
# (tests/unit/model/test_pipeline_file.py holds the list to it).
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.frozenset",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "titanic_model.model.features.PassengerFeatures",
    "titanic_model.model.forest.LowLatencyRandomForestClassifier",
)


class UntrustedPipelineError(MlflowException):
    """A pipeline file that references a type outside :data:`TRUSTED_TYPES`; one line."""


def save_pipeline(pipeline: Pipeline, path: Path) -> None:
    """Write a fitted pipeline as a skops file (no pickle).

    Args:
        pipeline: The fitted pipeline.
        path: Where to write it.
    """
    skops.io.dump(pipeline, path)


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a pipeline written by :func:`save_pipeline`, trusting only :data:`TRUSTED_TYPES`.

    Args:
        path: The skops file.

    Returns:
        The fitted pipeline.

    Raises:
        UntrustedPipelineError: When the file references any other type; nothing of it is
            loaded, and the message names the types.
    """
    try:
        return skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        raise UntrustedPipelineError(
            f"refusing to load {Path(path).name}: it references untrusted type(s) "
            + ", ".join(untrusted)
        ) from None


def model_signature() -> ModelSignature:
    """The MLflow signature: the output columns (see the module docstring for the inputs).

    Returns:
        Outputs ``PassengerId`` (when given), ``survived`` and ``probability``, and the
        parameter ``invalid_rows``: ``refuse`` (the default) or ``reason``, which answers
        every row and adds a ``reason`` column instead of refusing the request.
    """
    outputs = Schema(
        [
            ColSpec("long", PASSENGER_ID, required=False),
            ColSpec("long", SURVIVED_COLUMN),
            ColSpec("double", PROBABILITY_COLUMN),
        ]
    )
    params = ParamSchema([ParamSpec(INVALID_ROWS_PARAM, "string", REFUSE_INVALID_ROWS)])
    return ModelSignature(inputs=None, outputs=outputs, params=params)


class InvalidPassengersError(MlflowException):
    """A 400 (``INVALID_PARAMETER_VALUE``) whose message stays the one line it was given.

    MLflow's scoring server rewrites the message of any ``MlflowException`` raised by a model
    into ``"Failed to predict data '<the whole request as a table>'. Error: …"``, which is
    many lines long and echoes the client's data back; the first message set is kept instead.
    """

    def __init__(self, message: str, rejected_by_field: dict[str, int] | None = None):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)
        #: Refused records by the field of their first broken rule (see ``SchemaError``).
        self.rejected_by_field = rejected_by_field or {}

    @property
    def message(self) -> str:
        """The one-line reason."""
        return self._one_line_message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_one_line_message"):
            self._one_line_message = value


def _plain(value: object) -> object:
    """Numpy arrays and scalars from a parsed request (nested in object arrays), as Python."""
    if isinstance(value, np.ndarray):
        return _plain(value.item()) if value.ndim == 0 else [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def as_passenger_frame(model_input: object) -> pd.DataFrame:
    """Turn any of MLflow's parsed request shapes into a DataFrame of records.

    ``dataframe_split``, ``dataframe_records`` and CSV bodies arrive as DataFrames;
    ``instances`` and ``inputs`` arrive as a list of records or as a dict of columns, whose
    values may be numpy arrays (0-d for a single record).

    Args:
        model_input: What MLflow hands to ``predict``.

    Returns:
        One row per record.

    Raises:
        SchemaError: When the input is not records or columns of equal length.
    """
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        columns = {str(name): _plain(values) for name, values in model_input.items()}
        if all(not isinstance(values, list) for values in columns.values()):
            return pd.DataFrame([columns])
        lengths = {len(v) if isinstance(v, list) else None for v in columns.values()}
        if len(lengths) == 1 and None not in lengths:
            return pd.DataFrame(columns)
        raise SchemaError("columns must all be lists of the same length, one value per record")
    if isinstance(model_input, list | np.ndarray) and all(
        isinstance(record, dict) for record in model_input
    ):
        return pd.DataFrame([{k: _plain(v) for k, v in record.items()} for record in model_input])
    raise SchemaError("expected passenger records (objects with the passenger fields)")


class TitanicSurvivalModel(PythonModel):
    """Survival of raw Titanic passenger records, as served by ``mlflow models serve``."""

    def load_context(self, context) -> None:
        """Load the fitted scikit-learn pipeline logged beside the model (skops, trusted types).

        Raises:
            UntrustedPipelineError: When the pipeline file references an untrusted type.
        """
        self.pipeline = load_pipeline(context.artifacts[PIPELINE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Predict survival for raw passenger records.

        Args:
            context: MLflow's model context (unused once loaded).
            model_input: Passenger records with Kaggle's columns, in any of MLflow's shapes.
            params: ``{"invalid_rows": "reason"}`` answers every record, a bad one with
                missing answers and the rule it broke in a ``reason`` column, instead of
                refusing them all (``"refuse"``, the default).

        Returns:
            ``PassengerId`` (when given), ``survived`` and ``probability`` per record; with
            ``invalid_rows=reason``, always ``PassengerId`` and ``reason`` too.

        Raises:
            InvalidPassengersError: HTTP 400 naming the bad row, field and rule (or a
                required column absent altogether, or an unknown ``invalid_rows``).
        """
        invalid_rows = (params or {}).get(INVALID_ROWS_PARAM, REFUSE_INVALID_ROWS)
        if invalid_rows not in (REFUSE_INVALID_ROWS, REASON_FOR_INVALID_ROWS):
            raise InvalidPassengersError(
                f"parameter {INVALID_ROWS_PARAM}={invalid_rows!r}: must be "
                f"{REFUSE_INVALID_ROWS} or {REASON_FOR_INVALID_ROWS}"
            )
        try:
            passengers = as_passenger_frame(model_input)
            if invalid_rows == REFUSE_INVALID_ROWS:
                return predict_survival(self.pipeline, passengers)
            return score_with_reasons(
                passengers, lambda columns: answer(self.pipeline, columns, with_ids=False)
            )
        except SchemaError as error:
            raise InvalidPassengersError(str(error), error.rejected_by_field) from None

    def predict_validated(self, model_input: object) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """Validate the records once, and answer them all or refuse them all.

        The serving layer calls this instead of :meth:`predict` to log the records as the
        model read them, without validating them a second time.

        Args:
            model_input: Passenger records, in any of MLflow's shapes.

        Returns:
            The records' canonical columns (:func:`~titanic_model.model.schema.check_passengers`)
            and the answers (:meth:`predict`'s default mode).

        Raises:
            InvalidPassengersError: HTTP 400 naming the bad row, field and rule; its
                ``rejected_by_field`` counts the bad records by field.
        """
        try:
            passengers = as_passenger_frame(model_input)
            columns = check_passengers(passengers)
        except SchemaError as error:
            raise InvalidPassengersError(str(error), error.rejected_by_field) from None
        with_ids = PASSENGER_ID in passengers.columns
        return columns, answer(self.pipeline, columns, with_ids=with_ids)
