"""The serving layer's settings: command-line parameters and environment, parsed once.

``python -m titanic_model.serving --model_uri … --host … --port … --workers …``; the rest
comes from the environment (the names are contracts, documented in the README):

- ``TITANIC_PREDICTION_LOG``: a local folder or ``s3://bucket/prefix``; unset: no log. On S3
  it is written with ``TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL``,
  ``TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID`` and ``TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY``
  (its own bucket's), else the general S3 settings.
- ``TITANIC_PREDICTION_LOG_NAMES``: ``title`` (default: a passenger's name is personal data,
  only its title is logged) or ``full``.
- ``TITANIC_MAX_BODY_BYTES``: the largest request body, 20 MiB by default (nginx's
  ``client_max_body_size 20m`` in front of it in the image).
- ``TITANIC_SHADOW_MODEL_URI``: a second model scoring the accepted records in shadow, its
  answers to the log only (:mod:`titanic_model.serving.shadow`); needs the log. Unset: none.
- ``TITANIC_SHADOW_MODEL_DIGEST``: the digest its files must have, as ``MODEL_DIGEST`` for
  the served model; unset: the version's own ``model_digest`` tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from titanic_model.environment import ModelPin, PredictionLogStorage, Settings
from titanic_model.errors import ConfigError
from titanic_model.names import CHAMPION_URI
from titanic_model.parameters import Integer, ModelUri, Params, Rule, rule_of

PREDICTION_LOG_VARIABLE = "TITANIC_PREDICTION_LOG"
LOG_NAMES_VARIABLE = "TITANIC_PREDICTION_LOG_NAMES"
MAX_BODY_VARIABLE = "TITANIC_MAX_BODY_BYTES"
SHADOW_MODEL_VARIABLE = "TITANIC_SHADOW_MODEL_URI"
SHADOW_DIGEST_VARIABLE = "TITANIC_SHADOW_MODEL_DIGEST"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class ServingParams(Params):
    """What ``make serve`` passes on the command line."""

    model_uri: ModelUri = CHAMPION_URI
    """model to serve: models:/name@alias, models:/name/N, runs:/…, a path"""
    host: Annotated[str, Field(min_length=1), Rule("an address")] = "127.0.0.1"
    """address to listen on"""
    port: Annotated[Integer, Field(ge=1, le=65535), Rule("a port number")] = 5001
    """port to listen on"""
    workers: Annotated[Integer, Field(ge=1, le=64), Rule("an integer between 1 and 64")] = 1
    """worker processes (each loads the model)"""


class ServingConfig(Settings):
    """Everything a serving worker needs; passed to spawned workers as JSON.

    The command line's parameters, and settings that pydantic-settings reads from the
    environment variables their aliases name when the config is made.
    """

    params: ServingParams
    prediction_log: str | None = Field(None, validation_alias=PREDICTION_LOG_VARIABLE)
    """folder or ``s3://`` prefix of the prediction log, or None"""
    shadow_model_uri: Annotated[
        str | None,
        Rule(f"a model URI, with {PREDICTION_LOG_VARIABLE} set (the shadow answers the log only)"),
    ] = Field(None, validation_alias=SHADOW_MODEL_VARIABLE)
    """model scoring the accepted records in shadow (``models:/titanic@challenger``), or None"""
    shadow_digest: Annotated[
        Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None,
        Rule("sha256: and 64 hex digits"),
    ] = Field(None, validation_alias=SHADOW_DIGEST_VARIABLE)
    """the digest the shadow's files must have; None: its version's ``model_digest`` tag"""
    log_names: Annotated[Literal["title", "full"], Rule("title or full")] = Field(
        "title", validation_alias=LOG_NAMES_VARIABLE
    )
    """``full``: log passengers' names whole instead of their titles"""
    max_body_bytes: Annotated[Integer, Field(ge=1), Rule("a whole number of bytes >= 1")] = Field(
        DEFAULT_MAX_BODY_BYTES, validation_alias=MAX_BODY_VARIABLE
    )
    """largest accepted request body"""
    storage: PredictionLogStorage = Field(default_factory=PredictionLogStorage.read)
    """the S3 endpoint and keys of an ``s3://`` prediction log: its own, else the general ones"""
    pin: ModelPin = Field(default_factory=ModelPin)
    """``MODEL_DIGEST``: the digest the model's files must have (the release pins it in Git)"""

    @field_validator("shadow_model_uri")
    @classmethod
    def _shadow_needs_the_log(cls, uri: str | None, info: ValidationInfo) -> str | None:
        if uri is not None and info.data.get("prediction_log") is None:
            raise ValueError("a shadow without a prediction log")
        return uri

    @property
    def full_names(self) -> bool:
        """Whether passengers' names are logged whole."""
        return self.log_names == "full"

    @classmethod
    def from_command_line(cls, params: Mapping[str, str]) -> Self:
        """Parse the parameters, and read the serving layer's environment variables.

        Args:
            params: ``{name: text}`` from the command line.

        Returns:
            The config.

        Raises:
            ConfigError: One line naming the parameter or variable and its rule.
        """
        parsed = ServingParams.from_params(params)
        try:
            return cls(params=parsed)
        except ValidationError as error:
            first = error.errors()[0]
            variable = first["loc"][0]
            field = next(f for f in cls.model_fields.values() if f.validation_alias == variable)
            raise ConfigError(
                f"invalid {variable}={first['input']!r}: must be {rule_of(field)}"
            ) from None

    def serving(self, model_uri: str, shadow_model_uri: str | None = None) -> Self:
        """The same settings, serving ``model_uri`` (a version pinned for every worker).

        Args:
            model_uri: The served model's URI.
            shadow_model_uri: The shadow's, likewise pinned; None: as it was.
        """
        update: dict[str, object] = {
            "params": self.params.model_copy(update={"model_uri": model_uri})
        }
        if shadow_model_uri is not None:
            update["shadow_model_uri"] = shadow_model_uri
        return self.model_copy(update=update)
