from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from titanic_model.schema import (
    LABEL,
    PASSENGER_FIELDS,
    SchemaError,
    find_violations,
    validate_passengers,
)

SCHEMA_COLUMNS = [f.name for f in PASSENGER_FIELDS]
REQUIRED = ["Pclass", "Name", "Sex", "SibSp", "Parch", "Ticket"]
OPTIONAL = ["PassengerId", "Age", "Fare", "Cabin", "Embarked"]


def passenger(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "PassengerId": 1,
        "Pclass": 3,
        "Name": "Braund, Mr. Owen Harris",
        "Sex": "male",
        "Age": 22.0,
        "SibSp": 1,
        "Parch": 0,
        "Ticket": "A/5 21171",
        "Fare": 7.25,
        "Cabin": "C85",
        "Embarked": "S",
    }
    record.update(changes)
    return record


def frame(*records: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(records))


def error_of(data: pd.DataFrame, **kwargs: object) -> str:
    with pytest.raises(SchemaError) as caught:
        validate_passengers(data, **kwargs)
    return str(caught.value)


def test_schema_fields_are_kaggle_columns_in_order():
    assert SCHEMA_COLUMNS == [
        "PassengerId", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch",
        "Ticket", "Fare", "Cabin", "Embarked",
    ]  # fmt: skip
    assert [f.name for f in PASSENGER_FIELDS if f.required] == REQUIRED
    assert LABEL not in SCHEMA_COLUMNS


def test_good_record_is_returned_with_canonical_columns_and_types():
    validated = validate_passengers(frame(passenger()))

    assert list(validated.columns) == SCHEMA_COLUMNS
    numeric = ["PassengerId", "Pclass", "Age", "SibSp", "Parch", "Fare"]
    assert all(validated[c].dtype == np.float64 for c in numeric)
    assert all(validated[c].dtype == object for c in ["Name", "Sex", "Ticket", "Cabin", "Embarked"])
    assert validated.iloc[0].to_dict() == {
        "PassengerId": 1.0,
        "Pclass": 3.0,
        "Name": "Braund, Mr. Owen Harris",
        "Sex": "male",
        "Age": 22.0,
        "SibSp": 1.0,
        "Parch": 0.0,
        "Ticket": "A/5 21171",
        "Fare": 7.25,
        "Cabin": "C85",
        "Embarked": "S",
    }


def test_good_records_have_no_violations():
    violations = find_violations(frame(passenger(), passenger(Sex="female", Pclass=1)))

    assert violations.isna().all()
    assert len(violations) == 2


def test_validation_does_not_mutate_its_input():
    raw = frame(passenger(Sex=" female ", Cabin=""), passenger())
    before = raw.copy()

    validate_passengers(raw)

    pd.testing.assert_frame_equal(raw, before)


def test_index_is_preserved():
    raw = pd.DataFrame([passenger(), passenger(PassengerId=2)], index=[10, 3])

    assert list(validate_passengers(raw).index) == [10, 3]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("Sex", "x", "'x' is not one of female, male"),
        ("Sex", "Male", "'Male' is not one of female, male"),
        ("Pclass", 2.5, "2.5 is not an integer"),
        ("Pclass", 4, "4 is not one of 1, 2, 3"),
        ("Pclass", 0, "0 is not one of 1, 2, 3"),
        ("Age", -1, "-1 is not a number in [0, 120]"),
        ("Age", 121, "121 is not a number in [0, 120]"),
        ("Age", np.inf, "must be a finite number"),
        ("Age", -np.inf, "must be a finite number"),
        ("Age", "old", "'old' is not a number"),
        ("Fare", -0.5, "-0.5 is not a number in [0, 10000]"),
        ("SibSp", -1, "-1 is not an integer in [0, 20]"),
        ("SibSp", 50, "50 is not an integer in [0, 20]"),
        ("Parch", -2, "-2 is not an integer in [0, 20]"),
        ("Parch", 50, "50 is not an integer in [0, 20]"),
        ("Parch", 1.5, "1.5 is not an integer"),
        ("Embarked", "X", "'X' is not one of C, Q, S"),
        ("PassengerId", -1, "is not an integer in [0, "),
        ("Name", True, "must be a non-empty string"),
        ("Ticket", False, "must be a non-empty string"),
        ("Name", None, "is required"),
        ("Sex", np.nan, "is required"),
        ("Pclass", None, "is required"),
        ("SibSp", np.nan, "is required"),
        ("Parch", None, "is required"),
        ("Ticket", "   ", "is required"),
        ("Name", "", "is required"),
    ],
)
def test_each_rule_is_enforced_and_named(field: str, value: object, reason: str):
    raw = frame(passenger(), passenger(**{field: value}))

    message = error_of(raw)

    assert message.startswith(f"row 1: field '{field}': ")
    assert reason in message
    assert "\n" not in message
    violations = find_violations(raw)
    assert pd.isna(violations.iloc[0])
    assert violations.iloc[1] == message.removeprefix("row 1: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Age", 0),
        ("Age", 0.42),
        ("Age", 120),
        ("Fare", 0),
        ("SibSp", 0),
        ("SibSp", 20),
        ("Parch", 20),
        ("Pclass", 1),
        ("Pclass", 2.0),
        ("Embarked", "C"),
        ("Embarked", "Q"),
        ("Sex", "female"),
    ],
)
def test_boundary_and_allowed_values_are_accepted(field: str, value: object):
    validated = validate_passengers(frame(passenger(**{field: value})))

    assert validated[field].iloc[0] == value


@pytest.mark.parametrize("field", OPTIONAL)
def test_optional_field_may_be_missing(field: str):
    validated = validate_passengers(frame(passenger(**{field: None})))

    assert pd.isna(validated[field].iloc[0])


@pytest.mark.parametrize("field", OPTIONAL)
def test_absent_optional_column_is_added_as_missing(field: str):
    raw = frame(passenger(), passenger()).drop(columns=[field])

    validated = validate_passengers(raw)

    assert list(validated.columns) == SCHEMA_COLUMNS
    assert validated[field].isna().all()


def test_absent_optional_columns_get_canonical_types():
    raw = frame(passenger()).drop(columns=OPTIONAL)

    validated = validate_passengers(raw)

    assert validated["Age"].dtype == np.float64
    assert validated["Fare"].dtype == np.float64
    assert validated["PassengerId"].dtype == np.float64
    assert validated["Cabin"].dtype == object
    assert validated["Embarked"].dtype == object


def test_absent_required_column_is_named():
    raw = frame(passenger()).drop(columns=["Sex"])

    assert error_of(raw) == "missing required column(s): Sex"


def test_all_absent_required_columns_are_named_in_schema_order():
    raw = frame(passenger()).drop(columns=["Ticket", "Name", "Parch"])

    message = error_of(raw)

    assert message == "missing required column(s): Name, Parch, Ticket"
    with pytest.raises(SchemaError, match=r"^missing required column\(s\): Name, Parch, Ticket$"):
        find_violations(raw)


def test_only_required_columns_are_enough():
    raw = frame(passenger()).loc[:, REQUIRED]

    validated = validate_passengers(raw)

    assert list(validated.columns) == SCHEMA_COLUMNS
    assert validated.loc[0, "Sex"] == "male"


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_strings_become_missing(blank: str):
    validated = validate_passengers(frame(passenger(Cabin=blank, Embarked=blank)))

    assert pd.isna(validated.loc[0, "Cabin"])
    assert pd.isna(validated.loc[0, "Embarked"])


def test_strings_are_stripped():
    validated = validate_passengers(frame(passenger(Sex=" female ", Embarked="C ", Cabin=" B28")))

    assert validated.loc[0, ["Sex", "Embarked", "Cabin"]].tolist() == ["female", "C", "B28"]


def test_extra_columns_are_dropped():
    raw = frame(passenger(Boat="13", Home="Belfast"))

    validated = validate_passengers(raw)

    assert list(validated.columns) == SCHEMA_COLUMNS
    assert "Boat" not in validated.columns


def test_label_is_dropped_without_with_label():
    validated = validate_passengers(frame(passenger(Survived=7)))

    assert LABEL not in validated.columns


def test_message_names_the_first_bad_row_by_position():
    raw = pd.DataFrame(
        [passenger(), passenger(), passenger(Embarked="Z"), passenger()], index=[30, 20, 10, 0]
    )

    assert error_of(raw) == "row 2: field 'Embarked': 'Z' is not one of C, Q, S"


def test_message_reports_the_first_broken_field_of_the_row():
    raw = frame(passenger(Sex="x", Age=-1, Embarked="X"))

    assert error_of(raw) == "row 0: field 'Sex': 'x' is not one of female, male"


@pytest.mark.parametrize(
    ("bad_rows", "suffix"),
    [
        (1, ""),
        (2, " (and 1 more bad row)"),
        (3, " (and 2 more bad rows)"),
        (5, " (and 4 more bad rows)"),
    ],
)
def test_message_counts_the_other_bad_rows(bad_rows: int, suffix: str):
    records = [passenger()] + [passenger(Age=-5)] * bad_rows + [passenger()]

    message = error_of(frame(*records))

    assert message == f"row 1: field 'Age': -5 is not a number in [0, 120]{suffix}"


def test_find_violations_returns_one_reason_per_bad_row():
    raw = frame(passenger(), passenger(Sex="x"), passenger(Pclass=4), passenger())

    violations = find_violations(raw)

    assert violations.isna().tolist() == [True, False, False, True]
    assert violations.iloc[1] == "field 'Sex': 'x' is not one of female, male"
    assert violations.iloc[2] == "field 'Pclass': 4 is not one of 1, 2, 3"


@pytest.mark.parametrize(
    "empty",
    [pd.DataFrame(), pd.DataFrame(columns=SCHEMA_COLUMNS)],
    ids=["no-columns", "no-rows"],
)
def test_empty_input_is_an_error(empty: pd.DataFrame):
    assert error_of(empty) == "no passenger records: the input is empty"


def test_with_label_requires_the_label_column():
    assert error_of(frame(passenger()), with_label=True) == "missing required column(s): Survived"


@pytest.mark.parametrize("label", [0, 1, "1", 1.0])
def test_with_label_accepts_zero_and_one(label: object):
    validated = validate_passengers(frame(passenger(Survived=label)), with_label=True)

    assert list(validated.columns) == [*SCHEMA_COLUMNS, LABEL]
    assert validated.loc[0, LABEL] == float(label)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        (2, "2 is not one of 0, 1"),
        (-1, "-1 is not one of 0, 1"),
        (0.5, "0.5 is not an integer"),
        ("yes", "'yes' is not a number"),
        (None, "is required"),
    ],
)
def test_with_label_rejects_other_labels(label: object, reason: str):
    raw = frame(passenger(Survived=1), passenger(Survived=label))

    assert error_of(raw, with_label=True) == f"row 1: field 'Survived': {reason}"


def test_numbers_given_as_strings_are_accepted():
    raw = frame(passenger(Age="22", Pclass="2", SibSp="1", Parch="0", Fare="7.25"))

    validated = validate_passengers(raw)

    assert validated.loc[0, ["Age", "Pclass", "SibSp", "Parch", "Fare"]].tolist() == [
        22.0,
        2.0,
        1.0,
        0.0,
        7.25,
    ]
    assert validated["Age"].dtype == np.float64


def test_bool_is_not_a_number():
    message = error_of(frame(passenger(), passenger(SibSp=True)))

    assert message == "row 1: field 'SibSp': True is not a number"


def test_bool_is_not_a_name():
    message = error_of(frame(passenger(Name=True)))

    assert message == "row 0: field 'Name': must be a non-empty string"


@pytest.mark.parametrize("ticket", [113803, np.int64(113803)])
def test_integer_ticket_is_accepted_as_text(ticket: object):
    validated = validate_passengers(frame(passenger(Ticket="PC 17599"), passenger(Ticket=ticket)))

    assert validated["Ticket"].tolist() == ["PC 17599", "113803"]
    assert all(isinstance(t, str) for t in validated["Ticket"])


def test_integer_ticket_column_is_accepted_as_text():
    raw = frame(passenger(Ticket=113803), passenger(Ticket=349909))

    assert validate_passengers(raw)["Ticket"].tolist() == ["113803", "349909"]
