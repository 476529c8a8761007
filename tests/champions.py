"""A registered model whose first version is champion, for the jobs' tests of the gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlflow

from titanic_model.config import EvaluateConfig, TrainConfig
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train


def run_job(job: Callable[[Any], Any], config: Any) -> Any:
    """``job(config)`` in a run of its own, as the command line runs it; what it returns."""
    with mlflow.start_run():
        return job(config)


def with_a_champion(store: Any) -> tuple[str, Callable[..., Any]]:
    """A new model name with a prepare run and a champion v1, and how to train more versions.

    Args:
        store: The jobs' tracking store (``tests/jobs/conftest.py``).

    Returns:
        The name, and ``register(**search parameters)``, which trains and registers a version on
        the same prepare run.
    """
    name = store.new_model_name()
    prepare_run_id = run_job(prepare, store.prepare())

    def register(**search: str) -> Any:
        config = TrainConfig.of(
            store.search(**search), prepare_run_id=prepare_run_id, model_name=name
        )
        return run_job(train, config)

    register()
    run_job(evaluate, EvaluateConfig(model_name=name))
    return name, register
