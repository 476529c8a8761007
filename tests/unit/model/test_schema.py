from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from titanic_model.model import schema
from titanic_model.model.schema import (
    _VECTORISED_ROWS,
    LABEL,
    PASSENGER_FIELDS,
    FieldKind,
    SchemaError,
    check_passengers,
    check_rows,
    validate_passengers,
)

SCHEMA_COLUMNS = [f.name for f in PASSENGER_FIELDS]
REQUIRED = ["Pclass", "Name", "Sex", "SibSp", "Parch", "Ticket"]
OPTIONAL = ["PassengerId", "Age", "Fare", "Cabin", "Embarked"]


def reasons_of(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(check_rows(frame)[1], index=frame.index, dtype=object)


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
    violations = reasons_of(frame(passenger(), passenger(Sex="female", Pclass=1)))

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
        ("Name", True, "must be a non-empty string, not a boolean"),
        ("Ticket", False, "must be a non-empty string, not a boolean"),
        # JSON's other types where text goes are refused, never turned into text.
        ("Name", 123, "must be a non-empty string, not a number"),
        ("Name", 1.5, "must be a non-empty string, not a number"),
        ("Name", ["Braund", "Mr. Owen"], "must be a non-empty string, not a list"),
        ("Cabin", 85, "must be a non-empty string, not a number"),
        ("Sex", 1, "must be one of female, male, not a number"),
        ("Embarked", {"port": "S"}, "must be one of C, Q, S, not an object"),
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
    violations = reasons_of(raw)
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
        reasons_of(raw)


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

    violations = reasons_of(raw)

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

    assert message == "row 0: field 'Name': must be a non-empty string, not a boolean"


def test_a_ticket_may_be_a_whole_number():
    # CSV readers turn an all-digit ticket column into integers: those are tickets still.
    columns = check_passengers(frame(passenger(Ticket=113803)))

    assert columns["Ticket"].tolist() == ["113803"]


@pytest.mark.parametrize("ticket", [113803, np.int64(113803)])
def test_integer_ticket_is_accepted_as_text(ticket: object):
    validated = validate_passengers(frame(passenger(Ticket="PC 17599"), passenger(Ticket=ticket)))

    assert validated["Ticket"].tolist() == ["PC 17599", "113803"]
    assert all(isinstance(t, str) for t in validated["Ticket"])


def test_integer_ticket_column_is_accepted_as_text():
    raw = frame(passenger(Ticket=113803), passenger(Ticket=349909))

    assert validate_passengers(raw)["Ticket"].tolist() == ["113803", "349909"]


# ---------------------------------------------------------------- check_passengers


def assert_columns_equal(columns: dict[str, np.ndarray], validated: pd.DataFrame) -> None:
    assert list(columns) == list(validated.columns)
    for name, values in columns.items():
        assert isinstance(values, np.ndarray)
        assert values.dtype == validated[name].dtype
        assert len(values) == len(validated)
        pd.testing.assert_series_equal(
            pd.Series(values, index=validated.index, name=name, dtype=values.dtype),
            validated[name],
        )


@pytest.mark.parametrize(
    "raw",
    [
        frame(passenger()),
        frame(passenger(Sex=" female ", Cabin="", Embarked=None, Age=None), passenger()),
        frame(passenger(), passenger(Ticket=113803)).drop(columns=OPTIONAL),
        pd.DataFrame([passenger(PassengerId=i, Name=f"  N{i},  Mr. X ") for i in range(300)]),
        pd.DataFrame([passenger(), passenger(PassengerId=2)], index=[10, 3]),
    ],
    ids=["one", "blanks", "required-only", "300-rows", "index"],
)
def test_check_passengers_returns_the_values_validate_passengers_returns(raw: pd.DataFrame):
    assert_columns_equal(check_passengers(raw), validate_passengers(raw))


def test_check_passengers_with_label():
    raw = frame(passenger(Survived=1), passenger(Survived="0"))

    columns = check_passengers(raw, with_label=True)

    assert list(columns) == [*SCHEMA_COLUMNS, LABEL]
    assert columns[LABEL].tolist() == [1.0, 0.0]
    assert_columns_equal(columns, validate_passengers(raw, with_label=True))
    assert LABEL not in check_passengers(raw)


@pytest.mark.parametrize(
    "raw",
    [
        frame(passenger(), passenger(Sex="x"), passenger(Age=-1)),
        frame(passenger()).drop(columns=["Sex", "Name"]),
        pd.DataFrame(),
    ],
    ids=["bad-rows", "missing-columns", "empty"],
)
def test_check_passengers_raises_what_validate_passengers_raises(raw: pd.DataFrame):
    with pytest.raises(SchemaError) as caught:
        check_passengers(raw)

    assert str(caught.value) == error_of(raw)


def test_check_passengers_does_not_mutate_its_input():
    raw = frame(passenger(Sex=" female ", Cabin=""), passenger())
    before = raw.copy()

    check_passengers(raw)

    pd.testing.assert_frame_equal(raw, before)


# ---------------------------------------------------------------- vectorised string checks

# pandas' string dtypes: Python or Arrow storage, pd.NA or NaN for missing values ("str", the
# default of pandas 3, is Arrow with NaN).
STRING_DTYPES = {
    "python-NA": pd.StringDtype("python"),
    "pyarrow-NA": pd.StringDtype("pyarrow"),
    "python-nan": pd.StringDtype("python", na_value=np.nan),
    "str": pd.StringDtype("pyarrow", na_value=np.nan),
}
STRING_COLUMNS = [f.name for f in PASSENGER_FIELDS if f.kind is FieldKind.STRING]
IRREGULAR_ROWS = 300
assert IRREGULAR_ROWS >= _VECTORISED_ROWS

# Values that " ".join(value.split()) changes, or nearly does, with what they become.
IRREGULAR_TEXT = {
    "Braund, Mr. Owen Harris": "Braund, Mr. Owen Harris",
    "  Braund, Mr. Owen Harris": "Braund, Mr. Owen Harris",
    "Braund, Mr. Owen Harris  ": "Braund, Mr. Owen Harris",
    "Braund,  Mr.   Owen Harris": "Braund, Mr. Owen Harris",
    "Braund,\tMr.\tOwen\n": "Braund, Mr. Owen",
    "\u00a0Braund,\u00a0Mr.\u2003Owen\u3000": "Braund, Mr. Owen",
    "Cr\u00e9pin, Mme. L\u00e9ontine": "Cr\u00e9pin, Mme. L\u00e9ontine",
    "  Cr\u00e9pin,  Mme.  L\u00e9ontine ": "Cr\u00e9pin, Mme. L\u00e9ontine",
    "Ba\x1cr,\x85Mr.\u2028X\r\n": "Ba r, Mr. X",
    "Braund,\u00a0Mr. Owen": "Braund, Mr. Owen",  # one odd space, inside the text only
    "Braund,\u2003Mr.\u3000Owen": "Braund, Mr. Owen",
    "Braund, Mr.\tOwen": "Braund, Mr. Owen",
    "Ba\x1cr, Mr.\x85X": "Ba r, Mr. X",
    "A/5  21171 ": "A/5 21171",
    "x": "x",
}
BLANKS = ["", " ", "   ", "\t", "\n \r", "\u00a0", "\u3000\u2003", "\x1c\x1f", None]


def irregular_frame(dtype: object, *, sex: list[object], embarked: list[object]) -> pd.DataFrame:
    """IRREGULAR_ROWS passengers whose text columns cycle through irregular spacing."""
    texts, blanks = list(IRREGULAR_TEXT), BLANKS

    def cycle(values: list[object], shift: int) -> list[object]:
        return [values[(i + shift) % len(values)] for i in range(IRREGULAR_ROWS)]

    raw = pd.DataFrame([passenger(PassengerId=i) for i in range(IRREGULAR_ROWS)])
    raw["Name"] = cycle(texts, 0)
    raw["Ticket"] = cycle(texts, 3)
    raw["Cabin"] = cycle(texts + blanks, 5)
    raw["Sex"] = cycle(sex, 1)
    raw["Embarked"] = cycle(embarked, 2)
    return raw.astype({name: dtype for name in STRING_COLUMNS})


def is_blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


@pytest.fixture(params=list(STRING_DTYPES), ids=list(STRING_DTYPES))
def string_dtype(request: pytest.FixtureRequest) -> object:
    return STRING_DTYPES[request.param]


def test_irregular_spacing_is_normalised_alike_by_both_paths(string_dtype: object):
    sex = ["male", " female", "male\t", "\u00a0female\u00a0"]
    embarked = ["S", " C", "Q ", "\tS", "\u3000C", *BLANKS]
    vectorised = irregular_frame(string_dtype, sex=sex, embarked=embarked)
    per_value = irregular_frame(object, sex=sex, embarked=embarked)
    assert isinstance(vectorised["Name"].dtype, pd.StringDtype)
    assert per_value["Name"].dtype == object

    from_strings = validate_passengers(vectorised)
    from_objects = validate_passengers(per_value)

    pd.testing.assert_frame_equal(from_strings, from_objects)
    names = [IRREGULAR_TEXT[text] for text in per_value["Name"]]
    assert from_strings["Name"].tolist() == names
    assert set(from_strings["Sex"]) == {"male", "female"}
    assert set(from_strings["Embarked"].dropna()) == {"S", "C", "Q"}
    assert from_strings["Embarked"].isna().tolist() == [is_blank(v) for v in per_value["Embarked"]]
    assert from_strings["Embarked"].isna().any()
    assert from_strings["Cabin"].isna().tolist() == [is_blank(v) for v in per_value["Cabin"]]
    assert all(isinstance(v, str) for v in from_strings["Name"])
    assert_columns_equal(check_passengers(vectorised), from_objects)


def test_irregular_spacing_gives_the_same_errors_on_both_paths(string_dtype: object):
    sex = ["male", " Female", "fe male", "\u00e9male", "\t", None, "female\u00a0"]
    embarked = ["S", " s", "C  Q", "\u00a0", "X\t", None, "Cherbourg", "Q"]
    vectorised = irregular_frame(string_dtype, sex=sex, embarked=embarked)
    vectorised.loc[7:20, "Name"] = "  \t "
    vectorised.loc[11:15, "Ticket"] = None
    per_value = vectorised.astype({name: object for name in STRING_COLUMNS})

    reasons = reasons_of(vectorised)

    pd.testing.assert_series_equal(reasons, reasons_of(per_value))
    assert reasons.notna().sum() > IRREGULAR_ROWS / 2
    assert "field 'Sex': 'Female' is not one of female, male" in set(reasons)
    assert "field 'Sex': 'fe male' is not one of female, male" in set(reasons)
    assert "field 'Sex': is required" in set(reasons)
    assert "field 'Name': is required" in set(reasons)
    assert "field 'Embarked': 'C Q' is not one of C, Q, S" in set(reasons)
    assert error_of(vectorised) == error_of(per_value)


def test_the_vectorised_path_is_the_one_taken_for_long_string_columns(monkeypatch):
    # A pattern that finds nothing leaves irregular text alone: proof that the vectorised path
    # runs (and that the equality tests above would catch a pattern that misses a case).
    sex = ["male"]
    embarked = ["S"]
    monkeypatch.setattr(schema, "_MAYBE_IRREGULAR_SPACE", "\x01\x02\x03")
    long = irregular_frame(STRING_DTYPES["str"], sex=sex, embarked=embarked)
    short = long.head(_VECTORISED_ROWS - 1)

    assert validate_passengers(long)["Name"].iloc[1] == "  Braund, Mr. Owen Harris"
    assert validate_passengers(short)["Name"].iloc[1] == "Braund, Mr. Owen Harris"
    assert validate_passengers(long.astype(object))["Name"].iloc[1] == "Braund, Mr. Owen Harris"


# Text as it arrives: spaces of every kind, accents, control characters and whole words;
# surrogates aside, which Arrow cannot store.
_FRAGMENTS = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u00a0", "\u1680",
     "\u2000", "\u2007", "\u200b", "\u2028", "\u202f", "\u3000", "\ufeff", "\x00",
     "\u00e9", "\u00c9", "\u00df", "\u0130", "\u00ff", "a", "Z", "0", "/", ".", ",",
     "male", "female", "S", "C", "Q", "A/5", "Mr.", "x\u0301"]
)  # fmt: skip
_TEXT = st.one_of(
    st.lists(_FRAGMENTS, max_size=6).map("".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
)
_VALUES = st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=40)


def _tiled(values: list[str | None], shift: int) -> list[str | None]:
    return [values[(i * 7 + shift) % len(values)] for i in range(IRREGULAR_ROWS)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_VALUES, dtype_name=st.sampled_from(list(STRING_DTYPES)))
def test_string_fields_are_checked_alike_by_both_paths(values: list[str | None], dtype_name: str):
    for shift, field in enumerate(f for f in PASSENGER_FIELDS if f.kind is FieldKind.STRING):
        tiled = _tiled(values, shift)
        vectorised = pd.Series(tiled, dtype=STRING_DTYPES[dtype_name])
        per_value = pd.Series(tiled, dtype=object)

        text, reasons = schema._check_field(field, vectorised)
        expected_text, expected_reasons = schema._check_field(field, per_value)

        pd.testing.assert_series_equal(pd.Series(text), pd.Series(expected_text))
        assert reasons == expected_reasons
        assert all(isinstance(t, str) and t for t in text if not pd.isna(t))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_VALUES, dtype_name=st.sampled_from(list(STRING_DTYPES)))
def test_frames_get_the_same_text_and_messages_on_both_paths(
    values: list[str | None], dtype_name: str
):
    raw = pd.DataFrame([passenger(PassengerId=i) for i in range(IRREGULAR_ROWS)])
    for shift, name in enumerate(STRING_COLUMNS):
        raw[name] = _tiled(values, shift)
    vectorised = raw.astype({name: STRING_DTYPES[dtype_name] for name in STRING_COLUMNS})
    per_value = raw.astype({name: object for name in STRING_COLUMNS})

    pd.testing.assert_series_equal(reasons_of(vectorised), reasons_of(per_value))
    # Valid rows: any text for a cabin, and any but blank text for a name or a ticket.
    valid = raw.assign(
        Name=[value if value and value.strip() else "x" for value in _tiled(values, 1)],
        Ticket=[value if value and value.strip() else "1" for value in _tiled(values, 2)],
        Cabin=_tiled(values, 3),
        Sex="male",
        Embarked="S",
    )
    pd.testing.assert_frame_equal(
        validate_passengers(valid.astype({n: STRING_DTYPES[dtype_name] for n in STRING_COLUMNS})),
        validate_passengers(valid.astype({name: object for name in STRING_COLUMNS})),
    )


_NUMBERS = st.lists(
    st.one_of(
        st.integers(-5, 130),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(-1, 121).map(lambda x: round(x, 1)),
        st.sampled_from([0.0, -0.0, 2.5, 1e300, 2**53 + 1.0]),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_NUMBERS)
def test_numeric_fields_are_checked_alike_by_both_paths(values: list[float]):
    for shift, field in enumerate(f for f in (*PASSENGER_FIELDS, schema.LABEL_FIELD)
                                  if f.kind is not FieldKind.STRING):  # fmt: skip
        tiled = [values[(i * 7 + shift) % len(values)] for i in range(_VECTORISED_ROWS + 44)]

        numbers, reasons = schema._check_field(field, pd.Series(tiled, dtype="float64"))
        expected_numbers, expected_reasons = schema._check_values(
            field, np.array(tiled, dtype=object)
        )

        np.testing.assert_array_equal(numbers, expected_numbers)
        assert reasons == expected_reasons
