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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from titanic_model.config import ConfigError, Integer, Params, PredictionLogStorage, Rule
from titanic_model.names import CHAMPION_URI

PREDICTION_LOG_VARIABLE = "TITANIC_PREDICTION_LOG"
LOG_NAMES_VARIABLE = "TITANIC_PREDICTION_LOG_NAMES"
MAX_BODY_VARIABLE = "TITANIC_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class ServingParams(Params):
    """What ``make serve`` passes on the command line."""

    model_uri: Annotated[
        str,
        BeforeValidator(lambda value: value or CHAMPION_URI),
        Field(description="model to serve: models:/name@alias, models:/name/N, runs:/…, a path"),
        Rule("a model URI"),
    ] = CHAMPION_URI
    host: Annotated[
        str, Field(min_length=1, description="address to listen on"), Rule("an address")
    ] = "127.0.0.1"
    port: Annotated[
        Integer, Field(ge=1, le=65535, description="port to listen on"), Rule("a port number")
    ] = 5001
    workers: Annotated[
        Integer,
        Field(ge=1, le=64, description="worker processes (each loads the model)"),
        Rule("an integer between 1 and 64"),
    ] = 1


class ServingConfig(BaseModel):
    """Everything a serving worker needs; passed to spawned workers as JSON.

    Attributes:
        params: The command-line parameters.
        prediction_log: Folder or ``s3://`` prefix of the prediction log, or None.
        full_names: Log passengers' names whole instead of their titles.
        max_body_bytes: Largest accepted request body.
        storage: The S3 endpoint and keys of an ``s3://`` prediction log.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    params: ServingParams
    prediction_log: str | None = None
    full_names: bool = False
    max_body_bytes: Annotated[Integer, Field(ge=1)] = DEFAULT_MAX_BODY_BYTES
    storage: PredictionLogStorage = PredictionLogStorage()

    @classmethod
    def from_command_line(cls, params: Mapping[str, str], environ: Mapping[str, str]) -> Self:
        """Parse the parameters and the serving layer's environment variables.

        Args:
            params: ``{name: text}`` from the command line.
            environ: The process's environment.

        Returns:
            The config.

        Raises:
            ConfigError: One line naming the parameter or variable and its rule.
        """
        parsed = ServingParams.from_params(params, environ)
        names = (environ.get(LOG_NAMES_VARIABLE) or "title").strip()
        if names not in ("title", "full"):
            raise ConfigError(f"invalid {LOG_NAMES_VARIABLE}={names!r}: must be title or full")
        max_body = (environ.get(MAX_BODY_VARIABLE) or str(DEFAULT_MAX_BODY_BYTES)).strip()
        try:
            return cls(
                params=parsed,
                prediction_log=(environ.get(PREDICTION_LOG_VARIABLE) or "").strip() or None,
                full_names=names == "full",
                max_body_bytes=max_body,
                storage=PredictionLogStorage.from_environ(environ),
            )
        except ValidationError:
            raise ConfigError(
                f"invalid {MAX_BODY_VARIABLE}={max_body!r}: must be a whole number of bytes >= 1"
            ) from None

    def serving(self, model_uri: str) -> Self:
        """The same settings, serving ``model_uri`` (a version pinned for every worker)."""
        return self.model_copy(
            update={"params": self.params.model_copy(update={"model_uri": model_uri})}
        )
