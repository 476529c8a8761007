"""The edge shared by every entry point: parse ``--name value`` options, report user errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence

from mlflow.exceptions import MlflowException

from titanic_model.config import ConfigError
from titanic_model.data import DataSourceError
from titanic_model.schema import SchemaError

# Mistakes of the person running the step: a one-line message, not a stack trace.
USER_ERRORS = (ConfigError, DataSourceError, SchemaError)


def run_entry_point(
    description: str,
    parameter_names: Sequence[str],
    step: Callable[[Mapping[str, str], Mapping[str, str]], None],
) -> None:
    """Parse the command line and run ``step(params, environ)``; a user error exits 1 in one line.

    Args:
        description: What the entry point does, for ``--help``.
        parameter_names: The MLproject parameters it accepts, as ``--name value``.
        step: Parses its config from the strings (before any work) and does the work.
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
        step(params, os.environ)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except MlflowException as error:
        print(f"error: {error.message.splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
