"""The one input schema: passenger columns, their types, which are optional and their rules.

Training-data validation, the MLflow signature and request validation all read
:data:`PASSENGER_FIELDS`, so a rule changed here changes everywhere at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    """

    name: str
    kind: FieldKind
    required: bool
    description: str
    allowed: frozenset[str | int] | None = None
    minimum: float | None = None
    maximum: float | None = None

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
    Field(PASSENGER_ID, FieldKind.INTEGER, False, "Any id; passed through to the output.",
          minimum=0, maximum=2**53),
    Field("Pclass", FieldKind.INTEGER, True, "Ticket class: 1 = 1st, 2 = 2nd, 3 = 3rd.",
          allowed=frozenset({1, 2, 3})),
    Field("Name", FieldKind.STRING, True, "Full name, 'Surname, Title. Given names'."),
    Field("Sex", FieldKind.STRING, True, "male or female.", allowed=frozenset({"male", "female"})),
    Field("Age", FieldKind.NUMBER, False, "Age in years; fractional below 1.",
          minimum=0, maximum=120),
    Field("SibSp", FieldKind.INTEGER, True, "Siblings and spouses aboard.", minimum=0, maximum=20),
    Field("Parch", FieldKind.INTEGER, True, "Parents and children aboard.", minimum=0, maximum=20),
    Field("Ticket", FieldKind.STRING, True, "Ticket number, with its prefix if any."),
    Field("Fare", FieldKind.NUMBER, False, "Fare paid for the ticket, in pounds.",
          minimum=0, maximum=10_000),
    Field("Cabin", FieldKind.STRING, False, "Cabin number(s), e.g. 'C85'; empty when unknown."),
    Field("Embarked", FieldKind.STRING, False,
          "Port of embarkation: C = Cherbourg, Q = Queenstown, S = Southampton.",
          allowed=frozenset({"C", "Q", "S"})),
)  # fmt: skip

LABEL_FIELD = Field(LABEL, FieldKind.INTEGER, True, "1 if the passenger survived, else 0.",
                    allowed=frozenset({0, 1}))  # fmt: skip


_CANONICAL = {FieldKind.INTEGER: "float64", FieldKind.NUMBER: "float64", FieldKind.STRING: object}


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
    """Raised when passenger data breaks the schema; the message is one line."""


def _missing_columns(frame: pd.DataFrame, fields: Iterable[Field]) -> list[str]:
    return [f.name for f in fields if f.required and f.name not in frame.columns]


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


def _is_text_like(value: object) -> bool:
    # Tickets and cabins sometimes arrive as JSON numbers; booleans never make sense.
    return isinstance(value, str) or (
        isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    )


def _clean_strings(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Strip strings and turn blanks into missing.

    Returns:
        The text values (NaN where missing or unusable), the missing mask and the bad-type mask.
    """
    stripped = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    is_missing = stripped.map(_is_blank).astype(bool)
    is_bad_type = ~is_missing & ~stripped.map(_is_text_like).astype(bool)
    text = stripped.map(lambda v: str(v) if _is_text_like(v) else np.nan).astype(object)
    return text.where(~is_missing & ~is_bad_type, np.nan), is_missing, is_bad_type


def _check_field(field: Field, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce one column and describe each row's violation (or NA when the row is fine).

    Returns:
        The coerced column (float64 for numbers, object for strings, NaN when missing)
        and a string Series with one reason per bad row.
    """
    reasons = pd.Series(pd.NA, index=values.index, dtype="string")
    if field.kind is FieldKind.STRING:
        coerced, is_missing, is_bad_type = _clean_strings(values)
        reasons[is_bad_type] = f"must be {field.rule()}"
        if field.allowed is not None:
            outside = ~is_missing & ~is_bad_type & ~coerced.isin(sorted(field.allowed))
            bad_values = coerced[outside].map(lambda v: f"{_brief(v)} is not {field.rule()}")
            reasons[outside] = bad_values
    else:
        if values.dtype.kind in "iuf":  # the common case, vectorised
            is_missing = values.isna()
            coerced = values.astype("float64")
        else:
            is_missing = values.map(_is_blank).astype(bool)
            coerced = values.map(_as_number).astype("float64")
        not_number = ~is_missing & coerced.isna()
        reasons[not_number] = values[not_number].map(lambda v: f"{_brief(v)} is not a number")
        non_finite = ~is_missing & ~not_number & ~np.isfinite(coerced.fillna(0.0))
        reasons[non_finite] = "must be a finite number"
        checkable = ~is_missing & ~not_number & ~non_finite
        if field.kind is FieldKind.INTEGER:
            fractional = checkable & (coerced != coerced.round())
            reasons[fractional] = coerced[fractional].map(lambda v: f"{v:g} is not an integer")
            checkable &= ~fractional
        if field.allowed is not None:
            outside = checkable & ~coerced.isin(sorted(field.allowed))
        else:
            outside = checkable & ((coerced < field.minimum) | (coerced > field.maximum))
        reasons[outside] = coerced[outside].map(lambda v: f"{v:g} is not {field.rule()}")
        coerced = coerced.where(reasons.isna())
    if field.required:
        reasons[is_missing] = "is required"
    return coerced, reasons


def find_violations(frame: pd.DataFrame, *, with_label: bool = False) -> pd.Series:
    """Check every row against the schema.

    Args:
        frame: Passenger records; absent optional columns are allowed.
        with_label: Also check the ``Survived`` label (training data).

    Returns:
        One entry per row: ``"field 'Sex': 'x' is not one of female, male"`` for the first
        broken rule of a bad row, NA for a good row.

    Raises:
        SchemaError: When required columns are absent altogether.
    """
    fields = (*PASSENGER_FIELDS, LABEL_FIELD) if with_label else PASSENGER_FIELDS
    missing = _missing_columns(frame, fields)
    if missing:
        raise SchemaError("missing required column(s): " + ", ".join(missing))
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    for field in fields:
        if field.name not in frame.columns:
            continue
        _, field_reasons = _check_field(field, frame[field.name])
        first_problem = reasons.isna() & field_reasons.notna()
        reasons[first_problem] = f"field '{field.name}': " + field_reasons[first_problem]
    return reasons


def validate_passengers(frame: pd.DataFrame, *, with_label: bool = False) -> pd.DataFrame:
    """Validate passenger records and return them with canonical columns and types.

    Absent optional columns are added as missing; extra columns are dropped; integers and
    numbers become float64 (NaN when missing) and strings become stripped ``object`` values.

    Args:
        frame: Raw passenger records (Kaggle's columns).
        with_label: Also require and check the ``Survived`` label.

    Returns:
        A new frame with the schema's columns in schema order.

    Raises:
        SchemaError: On the first bad row, naming the row, the field and the rule.
    """
    if frame.empty:
        raise SchemaError("no passenger records: the input is empty")
    reasons = find_violations(frame, with_label=with_label)
    if reasons.notna().any():
        position = int(np.flatnonzero(reasons.notna().to_numpy())[0])
        others = int(reasons.notna().sum()) - 1
        more = f" (and {others} more bad row{'s' * (others > 1)})" if others else ""
        raise SchemaError(f"row {position}: {reasons.iloc[position]}{more}")
    fields = (*PASSENGER_FIELDS, LABEL_FIELD) if with_label else PASSENGER_FIELDS
    columns = {}
    for field in fields:
        if field.name in frame.columns:
            columns[field.name], _ = _check_field(field, frame[field.name])
        else:
            columns[field.name] = pd.Series(np.nan, index=frame.index, dtype=_CANONICAL[field.kind])
    return pd.DataFrame(columns, index=frame.index)
