"""MLflow's string parameters as the fields of a frozen pydantic model, and back.

``mlflow run`` hands every parameter over as a string; a :class:`Params` model (a job's config
in :mod:`titanic_model.config`, the serving layer's command line) holds their types, defaults,
descriptions (the fields' docstrings) and rules. :meth:`Params.from_params` parses them, or
raises a one-line :class:`ConfigError` ending in the field's :class:`Rule`: ``invalid parameter
n_trees='-3': must be a comma-separated list of integers >= 1``. :func:`parse_options` reads a
command line into them with argparse. Fields holding :class:`~titanic_model.environment.Settings`
are not parameters: pydantic-settings reads them from the environment as the model is parsed.

The types a parameter can have (:data:`Positive`, :data:`Fraction`, :data:`Grid`,
:data:`Window`, …) are here too, each with its rule, for every config to share.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_core import core_schema

from titanic_model.environment import Settings
from titanic_model.errors import ConfigError
from titanic_model.names import CHAMPION_URI

_Item = TypeVar("_Item")


class Rule(str):
    """What a parameter or setting must be, in words: the end of its error message."""


class OneOf(Rule):
    """A rule that checks itself: the value must be one of ``choices``.

    For choices that another module names (``names.CV_METRICS``): a ``Literal`` built from
    them would be a type the type checker cannot read.
    """

    choices: tuple[str, ...]

    def __new__(cls, choices: Iterable[str]) -> Self:
        """The rule ``one of a, b`` over ``choices``."""
        allowed = tuple(choices)
        rule = super().__new__(cls, "one of " + ", ".join(allowed))
        rule.choices = allowed
        return rule

    def __get_pydantic_core_schema__(
        self, source: type, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: str) -> str:
        if value not in self.choices:
            raise ValueError(f"not {self}")
        return value


def rule_of(field: FieldInfo) -> str:
    """The field's :class:`Rule`."""
    return next(rule for rule in field.metadata if isinstance(rule, Rule))


def _integer_text(value: object) -> object:
    """Refuse what ``int()`` would, and ``"1_000"``: pydantic alone reads ``"4.0"`` as 4."""
    if isinstance(value, str) and not re.fullmatch(r"[+-]?\d+", value):
        raise ValueError("not an integer")
    return value


Integer = Annotated[int, BeforeValidator(_integer_text)]

# The types a parameter can have, each ending in its rule; the jobs' configs and the serving
# layer's command line share them.

#: An empty parameter is unset: ``None`` (settings drop blank variables themselves).
EMPTY_IS_NONE = BeforeValidator(lambda text: text or None)

Positive = Annotated[Integer, Field(ge=1), Rule("an integer >= 1")]
NonNegative = Annotated[Integer, Field(ge=0), Rule("an integer >= 0")]
Fraction = Annotated[float, Field(gt=0, lt=1), Rule("a number strictly between 0 and 1")]
Flag = Annotated[bool, Rule("true or false")]
Text = Annotated[str | None, EMPTY_IS_NONE, Rule("text")]
Name = Annotated[str, Field(min_length=1), Rule("an experiment's name")]
Location = Annotated[str, Rule("a local path, https:// or s3:// URI")]
ModelUri = Annotated[str, BeforeValidator(lambda uri: uri or CHAMPION_URI), Rule("a model URI")]


def _written_locally_or_to_s3(uri: str) -> str:
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme not in ("", "file", "s3"):
        raise ValueError("neither a local path nor s3://")
    return uri


Destination = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_written_locally_or_to_s3),
    Rule("a local path or s3:// URI"),
]


def _split(text: object) -> object:
    """``"6, 8,None"`` -> ``["6", "8", None]``: items stripped, keywords in any case."""
    keywords = {"none": None, "sqrt": "sqrt", "log2": "log2"}
    if not isinstance(text, str):
        return text
    return [keywords.get(item.strip().lower(), item.strip()) for item in text.split(",")]


def _distinct(items: tuple[_Item, ...]) -> tuple[_Item, ...]:
    return tuple(dict.fromkeys(items))


#: A comma-separated grid of values, duplicates dropped, order kept (a generic alias, so that
#: the type checker reads each grid's item type).
Grid = Annotated[
    tuple[_Item, ...], BeforeValidator(_split), AfterValidator(_distinct), Field(min_length=1)
]
INTEGERS = "a comma-separated list of integers >= 1"
Integers = Annotated[Grid[Positive], Rule(INTEGERS)]
Numbers = Annotated[
    Grid[Annotated[float, Field(gt=0)]], Rule("a comma-separated list of positive numbers")
]


def _utc(instant: object) -> object:
    if isinstance(instant, datetime) and instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant


# pydantic reads ISO 8601 instants and durations ("P1D", "PT6H", "P1DT12H"); no offset is UTC.
Window = Annotated[
    datetime | timedelta | None,
    EMPTY_IS_NONE,
    AfterValidator(_utc),
    Rule("an ISO 8601 instant (2026-11-25T06:00:00Z) or duration (P1D, PT6H)"),
]


def _is_settings(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, Settings)


def _as_text(value: object) -> str:
    """A value as MLflow spells it (durations and instants as pydantic's JSON does)."""
    if isinstance(value, list | tuple):
        return ",".join("none" if v is None else str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else "" if value is None else str(value)


class Params(BaseModel):
    """Parameters: every field that does not hold :class:`~titanic_model.environment.Settings`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True
    )

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Every parameter, in order."""
        kinds = {name: field.annotation for name, field in cls.model_fields.items()}
        return tuple(k for k, v in kinds.items() if not _is_settings(v))

    @classmethod
    def describe(cls) -> dict[str, tuple[str | None, str]]:
        """``{parameter: (default as MLflow spells it, None if required; what it is)}``."""
        fields = {name: cls.model_fields[name] for name in cls.parameter_names()}
        # A docstring of two lines is one line of --help.
        described = {
            name: " ".join((field.description or "").split()) for name, field in fields.items()
        }
        return {
            name: (None if field.is_required() else _as_text(field.default), described[name])
            for name, field in fields.items()
        }

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Parse MLflow's string parameters, stripped; an absent one takes its default.

        Raises:
            ConfigError: For an unknown parameter, or the first unusable one.
        """
        known = cls.parameter_names()
        for name, text in params.items():
            if name not in known:
                raise ConfigError(
                    f"unknown parameter {name}={text!r}: expected one of {', '.join(known)}"
                )
        try:
            return cls.model_validate({name: text.strip() for name, text in params.items()})
        except ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            rule = rule_of(cls.model_fields[name])
            raise ConfigError(
                f"invalid parameter {name}={params.get(name, '')!r}: must be {rule}"
            ) from None

    @classmethod
    def of(cls, *configs: Params, **values: object) -> Self:
        """The fields shared with ``configs`` (the last one wins), and ``values``.

        How a job hands its parameters and settings to the steps it runs.
        """
        shared = {k: v for config in configs for k, v in config if k in cls.model_fields}
        return cls.model_validate(shared | values)

    def parameters(self) -> dict[str, str]:
        """Every parameter's value as MLflow spells it: the inverse of :meth:`from_params`."""
        values = self.model_dump(mode="json", include=set(self.parameter_names()))
        return {name: _as_text(value) for name, value in values.items()}


def parse_options(params: type[Params], argv: Sequence[str]) -> dict[str, str]:
    """Read ``--name value …`` (or ``--name=value``) into ``{name: value}``, with argparse.

    Args:
        params: Whose parameters the options are.
        argv: The command line's options.

    Returns:
        The options given; an unknown one too, for :meth:`Params.from_params` to refuse by name.

    Raises:
        ConfigError: For an option without its value, or anything that is not an option.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for name in params.parameter_names():
        parser.add_argument(f"--{name}", default=argparse.SUPPRESS)
    try:
        options, others = parser.parse_known_args(argv)
    except argparse.ArgumentError as error:
        raise ConfigError(f"option {error.argument_name!r} has no value") from None
    if others:
        flag, equals, value = others[0].partition("=")
        if not flag.startswith("--") or flag == "--":
            raise ConfigError(f"expected an option such as --seed, got {others[0]!r}")
        setattr(options, flag[2:], value if equals else next(iter(others[1:]), ""))
    return vars(options)
