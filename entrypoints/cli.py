"""The edge shared by every entry point: parse ``--name value`` options, report user errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import mlflow
from mlflow.exceptions import MlflowException

from titanic_model.config import ConfigError
from titanic_model.data import DataSourceError
from titanic_model.schema import SchemaError

Config = TypeVar("Config")

# Mistakes of the person running the step: a one-line message, not a stack trace.
USER_ERRORS = (ConfigError, DataSourceError, SchemaError)


def run_entry_point(
    description: str,
    parameter_names: Sequence[str],
    parse_config: Callable[[Mapping[str, str], Mapping[str, str]], Config],
    step: Callable[[Config], object],
) -> None:
    """Parse the command line into a config, then run ``step(config)`` in an MLflow run.

    Under ``mlflow run`` the run is the one MLflow created (``MLFLOW_RUN_ID``). A user error
    (bad parameter, unreadable data, a row breaking the schema) exits 1 with one line; a bad
    parameter does so before any run is touched.

    Args:
        description: What the entry point does, for ``--help``.
        parameter_names: The MLproject parameters it accepts, as ``--name value``.
        parse_config: Turns the parameters (strings) and the environment into the config.
        step: Does the work inside the active run.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # MLflow's advice that does not apply here: the model's signature is explicit (model.py),
    # and local dataset sources are resolved the same way by both candidate readers.
    for advice in (
        "Hint: Inferred schema contains integer column",
        "The specified dataset source can be interpreted in multiple ways",
    ):
        warnings.filterwarnings("ignore", message=f".*{advice}")
    parser = argparse.ArgumentParser(description=description)
    for name in parameter_names:
        parser.add_argument(f"--{name}", metavar="VALUE")
    params = {k: v for k, v in vars(parser.parse_args()).items() if v is not None}
    try:
        config = parse_config(params, os.environ)
        with mlflow.start_run():
            step(config)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except MlflowException as error:
        print(f"error: {error.message.splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
