"""The one input schema: passenger columns, their types, which are optional and their rules.

Training-data validation, the MLflow signature and request validation all read
:data:`PASSENGER_FIELDS`, so a rule changed here changes everywhere at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd


class FieldKind(Enum):
    """How a field's values are read and checked."""

    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"


@dataclass(frozen=True)
class Field:
    """One column of the passenger schema.

    Attributes:
        name: Column name, as in Kaggle's files.
        kind: Integer, number or string.
        required: Whether a value must be present on every row.
        description: What the column means, for humans and the MLflow signature.
        allowed: For categorical fields, the only accepted values.
        minimum: Smallest accepted value (numeric fields).
        maximum: Largest accepted value (numeric fields).
        numbers_as_text: Whether a whole number is read as text (a string field whose
            values are sometimes all digits, which CSV readers turn into numbers).
    """

    name: str
    kind: FieldKind
    required: bool
    description: str
    allowed: frozenset[str | int] | None = None
    minimum: float | None = None
    maximum: float | None = None
    numbers_as_text: bool = False

    def rule(self) -> str:
        """Describe the field's rule in a few words, for error messages."""
        if self.allowed is not None:
            return "one of " + ", ".join(str(v) for v in sorted(self.allowed))
        kind = "an integer" if self.kind is FieldKind.INTEGER else "a number"
        if self.kind is FieldKind.STRING:
            return "a non-empty string"
        return f"{kind} in [{self.minimum:g}, {self.maximum:g}]"


PASSENGER_ID = "PassengerId"
LABEL = "Survived"

PASSENGER_FIELDS: tuple[Field, ...] = (
    Field(
        PASSENGER_ID,
        FieldKind.INTEGER,
        False,
        "Any id; passed through to the output.",
        minimum=0,
        maximum=2**53,
    ),
    Field(
        "Pclass",
        FieldKind.INTEGER,
        True,
        "Ticket class: 1 = 1st, 2 = 2nd, 3 = 3rd.",
        allowed=frozenset({1, 2, 3}),
    ),
    Field("Name", FieldKind.STRING, True, "Full name, 'Surname, Title. Given names'."),
    Field("Sex", FieldKind.STRING, True, "male or female.", allowed=frozenset({"male", "female"})),
    Field(
        "Age", FieldKind.NUMBER, False, "Age in years; fractional below 1.", minimum=0, maximum=120
    ),
    Field("SibSp", FieldKind.INTEGER, True, "Siblings and spouses aboard.", minimum=0, maximum=20),
    Field("Parch", FieldKind.INTEGER, True, "Parents and children aboard.", minimum=0, maximum=20),
    Field(
        "Ticket",
        FieldKind.STRING,
        True,
        "Ticket number, with its prefix if any.",
        numbers_as_text=True,
    ),
    Field(
        "Fare",
        FieldKind.NUMBER,
        False,
        "Fare paid for the ticket, in pounds.",
        minimum=0,
        maximum=10_000,
    ),
    Field("Cabin", FieldKind.STRING, False, "Cabin number(s), e.g. 'C85'; empty when unknown."),
    Field(
        "Embarked",
        FieldKind.STRING,
        False,
        "Port of embarkation: C = Cherbourg, Q = Queenstown, S = Southampton.",
        allowed=frozenset({"C", "Q", "S"}),
    ),
)

LABEL_FIELD = Field(
    LABEL,
    FieldKind.INTEGER,
    True,
    "1 if the passenger survived, else 0.",
    allowed=frozenset({0, 1}),
)


_CANONICAL: dict[FieldKind, np.dtype] = {
    FieldKind.INTEGER: np.dtype("float64"),
    FieldKind.NUMBER: np.dtype("float64"),
    FieldKind.STRING: np.dtype(object),
}


def describe_fields() -> list[dict[str, object]]:
    """The input schema as plain data, for the model's metadata and documentation.

    Returns:
        One dict per passenger field: name, type, required, description and its rule's limits.
    """
    described = []
    for field in PASSENGER_FIELDS:
        entry: dict[str, object] = {
            "name": field.name,
            "type": field.kind.value,
            "required": field.required,
            "description": field.description,
        }
        if field.allowed is not None:
            entry["allowed"] = sorted(field.allowed)
        if field.minimum is not None:
            entry.update(minimum=field.minimum, maximum=field.maximum)
        described.append(entry)
    return described


class SchemaError(ValueError):
    """Raised when passenger data breaks the schema; the message is one line.

    Args:
        message: The one-line reason.
        rejected_by_field: When records were checked: how many break a rule, by the field of
            their first broken rule (what the serving layer counts), without checking again.
    """

    def __init__(self, message: str, rejected_by_field: Mapping[str, int] | None = None):
        super().__init__(message)
        self.rejected_by_field = dict(rejected_by_field or {})


def _brief(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut short: error messages stay one readable line."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _as_number(value: object) -> float:
    """``value`` as a float, or NaN when it is not a number (booleans are not numbers)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, str | int | float | np.number):
        return math.nan
    try:
        return float(value)
    except (ValueError, OverflowError):
        return math.nan


def _is_text_like(field: Field, value: object) -> bool:
    # A number where a name goes is a client's bug, not a name: refused, never coerced.
    return isinstance(value, str) or (
        field.numbers_as_text
        and isinstance(value, int | np.integer)
        and not isinstance(value, bool | np.bool_)
    )


# Messages are built for bad rows only: a single request must cost microseconds per field, and
# a batch of 100,000 rows must not crawl. A small frame is read as one object array (one
# conversion costs less than a dozen column lookups) and checked value by value, in plain
# Python; a large one column by column, vectorised where its dtype allows. Both apply the
# rules of _check_value, and the tests compare them.

# Vectorised checks pay off from about this many rows; below, plain Python is faster.
_VECTORISED_ROWS = 256
# Text that " ".join(text.split()) might change: a leading, trailing or doubled space, or
# any character but a space and printable ASCII (tabs, non-breaking spaces, accents), read
# alike by Python's and Arrow's regular expressions.
_MAYBE_IRREGULAR_SPACE = r"^ | $|  |[^\x21-\x7e ]"
# The reason of each bad row, by row position (bad rows are few: a dict, not a column).
Reasons = dict[int, str]


def _json_type(value: object) -> str:
    """What a wrong value is, in JSON's words: ``a number``, ``a list``, ``an object``."""
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, int | float | np.number):
        return "a number"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_value(field: Field, value: object) -> tuple[object, str | None]:
    """Check one value against its field's rule.

    Returns:
        The value coerced (a float for numbers, whitespace-normalised text; NaN when missing
        or bad) and the broken rule, or None.
    """
    if _is_blank(value):
        return math.nan, "is required" if field.required else None
    if field.kind is FieldKind.STRING:
        if not _is_text_like(field, value):
            return math.nan, f"must be {field.rule()}, not {_json_type(value)}"
        text = " ".join(str(value).split())  # "A/5  21171 " and "A/5 21171" are one
        if field.allowed is not None and text not in field.allowed:
            return math.nan, f"{_brief(text)} is not {field.rule()}"
        return text, None
    number = _as_number(value)
    if math.isnan(number):
        return math.nan, f"{_brief(value)} is not a number"
    if math.isinf(number):
        return math.nan, "must be a finite number"
    if field.kind is FieldKind.INTEGER and number != round(number):
        return math.nan, f"{number:g} is not an integer"
    if field.allowed is not None:
        inside = number in field.allowed
    else:
        inside = (
            field.minimum is not None
            and field.maximum is not None
            and field.minimum <= number <= field.maximum
        )
    return (number, None) if inside else (math.nan, f"{number:g} is not {field.rule()}")


def _check_values(field: Field, values: np.ndarray) -> tuple[np.ndarray, Reasons]:
    """Check a column value by value; return the coerced values and the bad rows' reasons."""
    coerced = np.empty(len(values), dtype=_CANONICAL[field.kind])
    reasons: Reasons = {}
    for i, value in enumerate(values.tolist()):
        coerced[i], reason = _check_value(field, value)
        if reason is not None:
            reasons[i] = reason
    return coerced, reasons


def _check_strings(field: Field, values: pd.Series) -> tuple[np.ndarray, Reasons]:
    """Vectorised :func:`_check_value` for a pandas string column (text or missing only)."""
    text = values.to_numpy(dtype=object, na_value=np.nan)
    irregular = values.str.contains(_MAYBE_IRREGULAR_SPACE, regex=True, na=False)
    for i in np.flatnonzero(irregular.to_numpy(dtype=bool)).tolist():
        text[i] = " ".join(text[i].split())
    blank = values.isna().to_numpy() | (text == "")
    text[blank] = np.nan
    reasons: Reasons = {}
    if field.required:
        reasons.update(dict.fromkeys(np.flatnonzero(blank).tolist(), "is required"))
    if field.allowed is not None:
        allowed = pd.Series(text, dtype=object).isin(sorted(field.allowed)).to_numpy()
        for i in np.flatnonzero(~allowed & ~blank).tolist():
            reasons[i] = f"{_brief(text[i])} is not {field.rule()}"
            text[i] = np.nan
    return text, reasons


def _check_numbers(field: Field, values: pd.Series) -> tuple[np.ndarray, Reasons]:
    """Vectorised :func:`_check_value` for a numeric column (NaN or pd.NA when missing)."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    missing = np.isnan(numbers)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(numbers)
        integral = numbers == np.round(numbers) if field.kind is FieldKind.INTEGER else finite
        if field.allowed is not None:
            inside = np.isin(numbers, sorted(field.allowed))
        else:
            inside = (numbers >= field.minimum) & (numbers <= field.maximum)
    reasons: Reasons = {}
    if field.required:
        reasons.update(dict.fromkeys(np.flatnonzero(missing).tolist(), "is required"))
    for i in np.flatnonzero(~missing & ~finite).tolist():
        reasons[i] = "must be a finite number"
    for i in np.flatnonzero(finite & ~integral).tolist():
        reasons[i] = f"{numbers[i]:g} is not an integer"
    for i in np.flatnonzero(finite & integral & ~inside).tolist():
        reasons[i] = f"{numbers[i]:g} is not {field.rule()}"
    numbers[list(reasons)] = np.nan
    return numbers, reasons


def _parse_numeric_text(values: pd.Series) -> np.ndarray | None:
    """A text column's numbers, read by ``float()`` in numpy's loop, as :func:`_as_number` would.

    None when one of them needs :func:`_check_value`'s closer look. Spark hands a CSV's
    columns over as text: parsed one value at a time in Python, the numbers of a million rows
    took longer than the model.
    """
    # pandas-stubs do not know na_value=None, which pandas documents.
    text = values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    try:
        numbers = text.astype("float64")
    except (ValueError, TypeError, OverflowError):
        return None
    # "nan" spelt out is not a missing value but text that is not a number.
    return None if np.isnan(numbers[values.notna().to_numpy()]).any() else numbers


def _check_field(field: Field, values: pd.Series) -> tuple[np.ndarray, Reasons]:
    """Check and coerce one column, vectorised where its dtype allows.

    Returns:
        The coerced values (float64 for numbers, object for text; NaN when missing or bad)
        and the reason of each bad row, by row position.
    """
    if field.kind is FieldKind.STRING and isinstance(values.dtype, pd.StringDtype):
        return _check_strings(field, values)
    if field.kind is not FieldKind.STRING and values.dtype.kind in "iuf":
        return _check_numbers(field, values)
    if field.kind is not FieldKind.STRING and isinstance(values.dtype, pd.StringDtype):
        numbers = _parse_numeric_text(values)
        if numbers is not None:
            return _check_numbers(field, pd.Series(numbers))
    return _check_values(field, values.to_numpy(dtype=object))


def _missing_required(columns: Iterable[str], fields: tuple[Field, ...]) -> list[str]:
    """The required fields that have no column among ``columns``."""
    present = set(columns)
    return [f.name for f in fields if f.required and f.name not in present]


def check_required_columns(columns: Iterable[str], *, with_label: bool = False) -> None:
    """Refuse a table whose header lacks a required column, before reading any row.

    Args:
        columns: The table's column names (a pandas or a Spark DataFrame's ``columns``).
        with_label: Also require the ``Survived`` label.

    Raises:
        SchemaError: Naming every required column that is absent.
    """
    _check_required(list(columns), 0, with_label)


def _check_required(columns: list[str], records: int, with_label: bool) -> None:
    """:func:`check_required_columns`, counting ``records`` under each absent column."""
    fields = (*PASSENGER_FIELDS, LABEL_FIELD) if with_label else PASSENGER_FIELDS
    missing = _missing_required(columns, fields)
    if missing:
        raise SchemaError(
            "missing required column(s): " + ", ".join(missing), dict.fromkeys(missing, records)
        )


def _check_frame(
    frame: pd.DataFrame, with_label: bool
) -> tuple[dict[str, np.ndarray], Reasons, dict[int, str]]:
    """Check and coerce every schema column of ``frame`` in one pass.

    Returns:
        The coerced columns (absent optional ones as missing); for each bad row by
        position, its first broken rule prefixed with its field; and that field.

    Raises:
        SchemaError: When required columns are absent altogether.
    """
    _check_required(list(frame.columns), len(frame), with_label)
    fields = (*PASSENGER_FIELDS, LABEL_FIELD) if with_label else PASSENGER_FIELDS
    columns: dict[str, np.ndarray] = {}
    reasons: Reasons = {}
    bad_fields: dict[int, str] = {}
    # A duplicated column name (possible in CSV headers) checks its first occurrence.
    first_position = {name: i for i, name in reversed(list(enumerate(frame.columns)))}
    table = frame.to_numpy(dtype=object) if len(frame) < _VECTORISED_ROWS else None
    for field in fields:
        if field.name not in first_position:
            columns[field.name] = np.full(len(frame), np.nan, dtype=_CANONICAL[field.kind])
            continue
        position = first_position[field.name]
        if table is not None:
            columns[field.name], field_reasons = _check_values(field, table[:, position])
        else:
            columns[field.name], field_reasons = _check_field(field, frame.iloc[:, position])
        for i, reason in field_reasons.items():
            if i not in reasons:
                reasons[i] = f"field '{field.name}': {reason}"
                bad_fields[i] = field.name
    return columns, reasons, bad_fields


def check_rows(
    frame: pd.DataFrame, *, with_label: bool = False
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Check every row against the schema, keeping the good rows' canonical values.

    One pass for both: batch scoring answers the good rows from these columns without
    validating them again.

    Args:
        frame: Passenger records; absent optional columns are allowed.
        with_label: Also check the ``Survived`` label (training data).

    Returns:
        :func:`check_passengers`' columns for every row (a bad row's broken values missing),
        and per row, in order, ``"field 'Sex': 'x' is not one of female, male"`` for the
        first broken rule of a bad row, None for a good row.

    Raises:
        SchemaError: When required columns are absent altogether.
    """
    columns, reasons, _ = _check_frame(frame, with_label)
    described = np.full(len(frame), None, dtype=object)
    for i, reason in reasons.items():
        described[i] = reason
    return columns, described


def check_passengers(frame: pd.DataFrame, *, with_label: bool = False) -> dict[str, np.ndarray]:
    """Validate passenger records and return their canonical columns as arrays.

    What :func:`validate_passengers` does without building a DataFrame, which costs more
    than the checks themselves for a single served record; the model's features read
    either.

    Args:
        frame: Raw passenger records (Kaggle's columns).
        with_label: Also require and check the ``Survived`` label.

    Returns:
        Every schema column, in schema order: float64 numbers (NaN when missing) and
        whitespace-normalised ``object`` text (NaN when missing).

    Raises:
        SchemaError: On the first bad row (counted from 0 in input order), naming the row,
            the field and the rule, and how many other rows are bad; it counts the bad
            records by field (every record under each absent required column).
    """
    if frame.empty:
        raise SchemaError("no passenger records: the input is empty")
    columns, reasons, bad_fields = _check_frame(frame, with_label)
    if reasons:
        first, others = min(reasons), len(reasons) - 1
        more = f" (and {others} more bad row{'s' * (others > 1)})" if others else ""
        raise SchemaError(f"row {first}: {reasons[first]}{more}", Counter(bad_fields.values()))
    return columns


def validate_passengers(frame: pd.DataFrame, *, with_label: bool = False) -> pd.DataFrame:
    """Validate passenger records and return them with canonical columns and types.

    Absent optional columns are added as missing; extra columns are dropped; integers and
    numbers become float64 (NaN when missing) and strings become stripped ``object`` values.

    Args:
        frame: Raw passenger records (Kaggle's columns).
        with_label: Also require and check the ``Survived`` label.

    Returns:
        A new frame with the schema's columns in schema order, on ``frame``'s index.

    Raises:
        SchemaError: On the first bad row (counted from 0 in input order), naming the row,
            the field and the rule, and how many other rows are bad.
    """
    columns = check_passengers(frame, with_label=with_label)
    # Explicit dtypes: pandas 3 would otherwise infer its "str" dtype for the text columns.
    return pd.DataFrame(
        {
            name: pd.Series(values, index=frame.index, dtype=values.dtype)
            for name, values in columns.items()
        }
    )
