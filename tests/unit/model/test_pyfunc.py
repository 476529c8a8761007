from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import DataType

from titanic_model.model.prediction import predict_survival
from titanic_model.model.pyfunc import (
    InvalidPassengersError,
    TitanicSurvivalModel,
    as_passenger_frame,
    model_signature,
)
from titanic_model.model.schema import (
    LABEL,
    PASSENGER_FIELDS,
    PASSENGER_ID,
    SchemaError,
    describe_fields,
)

OPTIONAL_INPUTS = {"PassengerId", "Age", "Fare", "Cabin", "Embarked"}
REQUIRED_INPUTS = {"Pclass", "Name", "Sex", "SibSp", "Parch", "Ticket"}


@pytest.fixture
def incoming(raw_passengers: pd.DataFrame) -> pd.DataFrame:
    """Ten raw records as a client sends them: Kaggle's test-file ids, no label."""
    records = raw_passengers.drop(columns=[LABEL]).iloc[:10].reset_index(drop=True)
    records[PASSENGER_ID] = np.arange(892, 902)
    return records


@pytest.fixture
def model(fitted_pipeline) -> TitanicSurvivalModel:
    model = TitanicSurvivalModel()
    model.pipeline = fitted_pipeline
    return model


# ---------------------------------------------------------------- predict_survival


def test_output_columns_dtypes_and_ids(fitted_pipeline, incoming: pd.DataFrame):
    predictions = predict_survival(fitted_pipeline, incoming)

    assert list(predictions.columns) == [PASSENGER_ID, "survived", "probability"]
    assert predictions[PASSENGER_ID].dtype == np.int64  # every id given: plain int64
    assert predictions["survived"].dtype == np.int64
    assert predictions["probability"].dtype == np.float64
    assert predictions[PASSENGER_ID].tolist() == list(range(892, 902))
    assert len(predictions) == len(incoming)


def test_passenger_id_is_absent_when_not_given(fitted_pipeline, incoming: pd.DataFrame):
    predictions = predict_survival(fitted_pipeline, incoming.drop(columns=[PASSENGER_ID]))

    assert list(predictions.columns) == ["survived", "probability"]


def test_missing_passenger_id_values_stay_missing(fitted_pipeline, incoming: pd.DataFrame):
    incoming[PASSENGER_ID] = [892, None, *range(894, 902)]

    ids = predict_survival(fitted_pipeline, incoming)[PASSENGER_ID]

    assert ids.dtype == "Int64"
    assert ids.isna().tolist() == [False, True] + [False] * 8
    assert ids.iloc[0] == 892


def test_survived_and_probability_are_consistent(fitted_pipeline, incoming: pd.DataFrame):
    predictions = predict_survival(fitted_pipeline, incoming)

    probability = predictions["probability"]
    assert probability.between(0.0, 1.0).all()
    assert set(predictions["survived"]) <= {0, 1}
    assert (predictions["survived"] == (probability >= 0.5).astype(int)).all()
    assert predictions["survived"].nunique() == 2


def test_probability_is_the_pipeline_probability_of_survival(
    fitted_pipeline, incoming: pd.DataFrame, split_features, raw_passengers
):
    features, _ = split_features(raw_passengers)

    predictions = predict_survival(fitted_pipeline, incoming)

    expected = fitted_pipeline.predict_proba(features.iloc[:10])[:, 1]
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected)


def test_rows_keep_input_order_and_index_is_reset(fitted_pipeline, incoming: pd.DataFrame):
    forward = predict_survival(fitted_pipeline, incoming)
    shuffled = incoming.iloc[[3, 0, 7]].set_index(pd.Index([100, 5, 42]))

    predictions = predict_survival(fitted_pipeline, shuffled)

    assert list(predictions.index) == [0, 1, 2]
    assert predictions[PASSENGER_ID].tolist() == [895, 892, 899]
    pd.testing.assert_frame_equal(predictions, forward.iloc[[3, 0, 7]].reset_index(drop=True))


def test_label_and_extra_columns_are_ignored(fitted_pipeline, incoming: pd.DataFrame):
    baseline = predict_survival(fitted_pipeline, incoming)
    noisy = incoming.assign(**{LABEL: 7, "Boat": "13", "Home": "Belfast"})

    pd.testing.assert_frame_equal(predict_survival(fitted_pipeline, noisy), baseline)


def test_passenger_id_does_not_change_predictions(fitted_pipeline, incoming: pd.DataFrame):
    baseline = predict_survival(fitted_pipeline, incoming)
    renumbered = incoming.assign(**{PASSENGER_ID: np.arange(10) * 1_000_003})

    predictions = predict_survival(fitted_pipeline, renumbered)

    pd.testing.assert_series_equal(predictions["probability"], baseline["probability"])
    assert predictions[PASSENGER_ID].tolist() == [i * 1_000_003 for i in range(10)]


def test_only_required_columns_are_enough(fitted_pipeline, incoming: pd.DataFrame):
    minimal = incoming.loc[:, sorted(REQUIRED_INPUTS)]

    predictions = predict_survival(fitted_pipeline, minimal)

    assert list(predictions.columns) == ["survived", "probability"]
    assert predictions["probability"].between(0.0, 1.0).all()


def test_input_is_not_mutated(fitted_pipeline, incoming: pd.DataFrame):
    before = incoming.copy()

    predict_survival(fitted_pipeline, incoming)

    pd.testing.assert_frame_equal(incoming, before)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Sex": "x"}, r"^row 2: field 'Sex': 'x' is not one of female, male$"),
        ({"Pclass": 4}, r"^row 2: field 'Pclass': 4 is not one of 1, 2, 3$"),
        ({"Age": -1.0}, r"^row 2: field 'Age': -1 is not a number in \[0, 120\]$"),
        ({"Name": None}, r"^row 2: field 'Name': is required$"),
    ],
)
def test_bad_record_raises_schema_error(
    fitted_pipeline, incoming: pd.DataFrame, changes: dict[str, object], message: str
):
    bad = incoming.astype(object)
    for column, value in changes.items():
        bad.loc[2, column] = value

    with pytest.raises(SchemaError, match=message):
        predict_survival(fitted_pipeline, bad)


def test_missing_required_column_raises_schema_error(fitted_pipeline, incoming: pd.DataFrame):
    with pytest.raises(SchemaError, match=r"^missing required column\(s\): Sex$"):
        predict_survival(fitted_pipeline, incoming.drop(columns=["Sex"]))


def test_empty_input_raises_schema_error(fitted_pipeline, incoming: pd.DataFrame):
    with pytest.raises(SchemaError, match="empty"):
        predict_survival(fitted_pipeline, incoming.iloc[:0])


# ---------------------------------------------------------------- TitanicSurvivalModel


def test_model_predict_matches_predict_survival(model, fitted_pipeline, incoming: pd.DataFrame):
    predictions = model.predict(None, incoming)

    pd.testing.assert_frame_equal(predictions, predict_survival(fitted_pipeline, incoming))


def test_model_predict_turns_schema_errors_into_bad_request(model, incoming: pd.DataFrame):
    incoming.loc[0, "Sex"] = "x"

    with pytest.raises(MlflowException) as caught:
        model.predict(None, incoming)

    error = caught.value
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert error.get_http_status_code() == 400
    assert error.message == "row 0: field 'Sex': 'x' is not one of female, male"
    assert "\n" not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_model_predict_reports_missing_columns_as_bad_request(model, incoming: pd.DataFrame):
    with pytest.raises(MlflowException) as caught:
        model.predict(None, incoming.drop(columns=["Name", "Ticket"]))

    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.message == "missing required column(s): Name, Ticket"


# ---------------------------------------------------------------- signature


def test_reason_mode_answers_every_record_through_the_pipeline(model, fitted_pipeline, incoming):
    incoming.loc[3, "Sex"] = "x"
    answers = model.predict(None, incoming, params={"invalid_rows": "reason"})

    assert answers["reason"].tolist()[3] == "field 'Sex': 'x' is not one of female, male"
    assert answers["reason"].drop(index=3).eq("").all()
    assert answers["survived"].isna().tolist() == [i == 3 for i in range(10)]
    good = incoming.drop(index=3)
    expected = predict_survival(fitted_pipeline, good)
    np.testing.assert_array_equal(
        answers["probability"].drop(index=3).to_numpy(), expected["probability"].to_numpy()
    )
    # The default, as over HTTP: all or nothing.
    with pytest.raises(InvalidPassengersError, match=r"^row 3: field 'Sex'"):
        model.predict(None, incoming, params={"invalid_rows": "refuse"})


def test_an_unknown_invalid_rows_value_is_a_bad_request(model, incoming):
    with pytest.raises(InvalidPassengersError) as caught:
        model.predict(None, incoming, params={"invalid_rows": "skip"})
    assert caught.value.message == "parameter invalid_rows='skip': must be refuse or reason"


def test_signature_declares_the_invalid_rows_parameter():
    (param,) = model_signature().params.params
    assert (param.name, param.dtype, param.default) == ("invalid_rows", DataType.string, "refuse")


def test_signature_declares_no_input_types_for_mlflow_to_cast():
    # MLflow would truncate a JSON Pclass of 2.5 to 2 under "long": the model validates instead.
    signature = model_signature()

    assert isinstance(signature, ModelSignature)
    assert signature.inputs is None


def test_described_fields_are_the_schema_with_its_rules():
    described = {entry["name"]: entry for entry in describe_fields()}

    assert list(described) == [f.name for f in PASSENGER_FIELDS]
    assert {name for name, e in described.items() if not e["required"]} == OPTIONAL_INPUTS
    assert {name for name, e in described.items() if e["required"]} == REQUIRED_INPUTS
    assert described["Sex"]["allowed"] == ["female", "male"]
    assert described["Pclass"] == {
        "name": "Pclass",
        "type": "integer",
        "required": True,
        "description": "Ticket class: 1 = 1st, 2 = 2nd, 3 = 3rd.",
        "allowed": [1, 2, 3],
    }
    assert (described["Age"]["minimum"], described["Age"]["maximum"]) == (0, 120)
    json.dumps(described)  # plain data: it goes into the MLmodel file


def test_invalid_passengers_error_keeps_its_one_line_message():
    error = InvalidPassengersError("row 0: field 'Sex': 'x' is not one of female, male")
    # What MLflow's scoring server does to any MlflowException raised by a model:
    error.message = f"Failed to predict data 'a\nmulti-line table'. \nError: {error.message}"

    assert error.message == "row 0: field 'Sex': 'x' is not one of female, male"
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert error.get_http_status_code() == 400


@pytest.mark.parametrize(
    "model_input",
    [
        {"Pclass": np.array(3), "Sex": np.array("male")},  # "inputs" with one record
        {"Pclass": np.array([3, 1]), "Sex": np.array(["male", "female"])},  # columns
        [{"Pclass": 3, "Sex": "male"}, {"Pclass": 1, "Sex": "female"}],  # "instances"
    ],
)
def test_every_mlflow_request_shape_becomes_records(model_input):
    frame = as_passenger_frame(model_input)

    assert list(frame.columns) == ["Pclass", "Sex"]
    assert frame["Pclass"].tolist()[0] == 3
    assert frame["Sex"].tolist()[0] == "male"


@pytest.mark.parametrize(
    "model_input",
    [
        {"Pclass": [3, 1], "Sex": ["male"]},
        {"Pclass": [3], "Sex": "male"},
        "just text",
        [1, 2, 3],
    ],
)
def test_shapes_that_are_not_records_are_a_schema_error(model_input):
    with pytest.raises(SchemaError):
        as_passenger_frame(model_input)


def test_signature_outputs():
    outputs = {spec.name: spec for spec in model_signature().outputs.inputs}

    assert list(outputs) == [PASSENGER_ID, "survived", "probability"]
    assert not outputs[PASSENGER_ID].required
    assert outputs["survived"].required
    assert outputs["probability"].required
    assert outputs["survived"].type == DataType.long
    assert outputs["probability"].type == DataType.double
