"""The one command line every MLproject entry point goes through.

``python -m entrypoints <job> --<parameter> <value> …``: the options are the fields of the
job's config (:mod:`titanic_model.config`), parsed into it before anything else happens; the
job then runs inside an MLflow run (under ``mlflow run``, the run MLflow created).

A user error (an unknown or bad parameter, unreadable data, a row breaking the schema) and
MLflow's own refusals (a model or run that does not exist, a store that refuses a write, a
tracking server that refuses the credentials or the permission) end the command with one
``error:`` line and exit status 1; a bad parameter does so before the job starts. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException

from titanic_model.batch.predict_config import PredictConfig
from titanic_model.config import (
    CollectLabelsConfig,
    CompareConfig,
    CrossValidateConfig,
    EvaluateBestConfig,
    EvaluateConfig,
    MainConfig,
    MonitorConfig,
    PrepareConfig,
    PromoteConfig,
    ReleaseConfig,
    RequestLabelsConfig,
    TrainConfig,
)
from titanic_model.credentials import refusal_line
from titanic_model.errors import ConfigError, DriftDetectedError
from titanic_model.io.data import DataSourceError
from titanic_model.io.label_studio import LabelStudioError
from titanic_model.model.schema import SchemaError
from titanic_model.parameters import Params, parse_options

# Mistakes of the person running the job: a one-line message, not a stack trace.
USER_ERRORS = (ConfigError, DataSourceError, SchemaError, DriftDetectedError, LabelStudioError)
# MLflow's advice that does not apply here: the model's signature is explicit (model.py),
# and local dataset sources are resolved the same way by both candidate readers.
_IRRELEVANT_WARNINGS = (
    "Hint: Inferred schema contains integer column",
    "The specified dataset source can be interpreted in multiple ways",
    # The Spark tests hold the Spark engine's answers equal to the pandas engine's.
    "PySpark does not yet fully support pandas >= 3.0.0",
)


@dataclass(frozen=True)
class Job:
    """An entry point: its config and where its function lives.

    Attributes:
        config: The job's parameters.
        function: ``"module:function"``, imported only when the job runs, so that a bad
            parameter fails before scikit-learn and MLflow's model code are loaded.
        summary: One line for ``--help``.
    """

    config: type[Params]
    function: str
    summary: str

    def load(self) -> Callable[[Params], object]:
        """Import the job's function."""
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


JOBS: dict[str, Job] = {
    "main": Job(
        MainConfig,
        "titanic_model.jobs.main:main",
        "prepare -> train -> evaluate, as three child runs",
    ),
    "prepare": Job(
        PrepareConfig,
        "titanic_model.jobs.prepare:prepare",
        "read, validate and split the raw passengers",
    ),
    "train": Job(
        TrainConfig,
        "titanic_model.jobs.train:train",
        "grid-search the candidates, register the best as a new version",
    ),
    "evaluate": Job(
        EvaluateConfig,
        "titanic_model.jobs.evaluate:evaluate",
        "score a version on the holdout, gate the champion alias",
    ),
    "evaluate_best": Job(
        EvaluateBestConfig,
        "titanic_model.jobs.evaluate_best:evaluate_best",
        "evaluate and gate the best-CV version of an experiment",
    ),
    "predict": Job(
        PredictConfig,
        "titanic_model.jobs.predict:predict",
        "score a CSV in chunks, setting bad rows aside",
    ),
    "monitor": Job(
        MonitorConfig,
        "titanic_model.jobs.monitor:monitor",
        "drift and live quality of what the serving layer logged",
    ),
    "cross_validate": Job(
        CrossValidateConfig,
        "titanic_model.jobs.cross_validate:cross_validate",
        "nested cross-validation of the whole training procedure",
    ),
    "release": Job(
        ReleaseConfig,
        "titanic_model.jobs.release:release",
        "pin the champion (or a version) in deployment/kubernetes/release.yaml",
    ),
    "request_labels": Job(
        RequestLabelsConfig,
        "titanic_model.jobs.request_labels:request_labels",
        "send a sample of the logged predictions to reviewers in Label Studio",
    ),
    "collect_labels": Job(
        CollectLabelsConfig,
        "titanic_model.jobs.collect_labels:collect_labels",
        "write the reviewers' majority answers as labels for monitor",
    ),
    "compare": Job(
        CompareConfig,
        "titanic_model.jobs.compare:compare",
        "the served and the shadow version on the same logged records and labels",
    ),
    "promote": Job(
        PromoteConfig,
        "titanic_model.jobs.promote:promote",
        "champion to the challenger its last comparison says to promote; release",
    ),
}


HELP = ("-h", "--help")


def _usage(job_name: str | None = None) -> str:
    if job_name is None:
        lines = ["usage: python -m entrypoints <job> [--<parameter> <value> ...]", "jobs:"]
        lines += [f"  {name:<15} {job.summary}" for name, job in JOBS.items()]
        return "\n".join(lines)
    lines = [f"usage: python -m entrypoints {job_name} [--<parameter> <value> ...]"]
    for name, (default, description) in JOBS[job_name].config.describe().items():
        given = "required" if default is None else f"default: {default!r}"
        lines.append(f"  --{name:<17} {description} ({given})")
    return "\n".join(lines)


def parse_command_line(argv: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Split ``<job> --name value …`` into the job's name and its parameters' text.

    Args:
        argv: The arguments after the program's name; ``--name=value`` works too.

    Returns:
        The job and ``{name: value}``; whether the names are the job's is the config's call.

    Raises:
        ConfigError: For a missing or unknown job, or options that are not ``--name value``.
    """
    if not argv:
        raise ConfigError(f"no job given: expected one of {', '.join(JOBS)}")
    if argv[0] not in JOBS:
        raise ConfigError(f"unknown job {argv[0]!r}: expected one of {', '.join(JOBS)}")
    return argv[0], parse_options(JOBS[argv[0]].config, argv[1:])


def _set_up_output() -> None:
    """Log the jobs' progress, and silence MLflow's advice that does not apply here."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for advice in _IRRELEVANT_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{advice}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job from the command line; its settings come from the process's environment.

    Args:
        argv: ``<job> --name value …``; default: the process's arguments.

    Returns:
        The exit status: 0, or 1 after a one-line ``error:`` on standard error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0] in HELP:
        print(_usage())
        return 0
    if len(argv) == 2 and argv[0] in JOBS and argv[1] in HELP:
        print(_usage(argv[0]))
        return 0
    try:
        job_name, params = parse_command_line(argv)
        job = JOBS[job_name]
        config = job.config.from_params(params)
        _set_up_output()
        run = job.load()
        with mlflow.start_run():
            run(config)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except MlflowException as error:
        print(refusal_line(error), file=sys.stderr)
        return 1
    return 0
