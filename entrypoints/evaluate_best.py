"""``evaluate_best``: evaluate the best version trained in one experiment and gate ``champion``.

The last step of the Argo training workflow: its parallel train steps each registered a
version in the workflow's experiment; the one with the best CV score goes through evaluate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import mlflow

from entrypoints.cli import run_entry_point
from entrypoints.evaluate import evaluate
from titanic_model.config import ConfigError, EvaluateConfig
from titanic_model.tracking import best_version, version_uri

PARAMETERS = ("experiment_name", "model_name", "gate_metric")


def parse_config(
    params: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[str, EvaluateConfig]:
    """The experiment to pick from, and the evaluation settings."""
    experiment_name = (params.get("experiment_name") or "").strip()
    if not experiment_name:
        raise ConfigError("invalid parameter experiment_name='': must be an experiment's name")
    return experiment_name, EvaluateConfig.from_params(params)


def evaluate_best(settings: tuple[str, EvaluateConfig]) -> dict[str, float]:
    """Evaluate, in the active run, the best version trained in the experiment; gate it.

    Args:
        settings: The experiment's name and the evaluation config.

    Returns:
        The best version's holdout metrics.
    """
    experiment_name, config = settings
    best = best_version(config.model_name, experiment_name)
    mlflow.set_tag("best_of_experiment", experiment_name)
    return evaluate(replace(config, model_uri=version_uri(best)))


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, parse_config, evaluate_best)
