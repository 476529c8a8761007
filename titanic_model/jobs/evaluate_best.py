"""``evaluate_best``: evaluate the best version trained in one experiment and gate ``champion``.

The last step of the Argo training workflow: its parallel train steps each registered a
version from a run named after the workflow, in the shared training experiment; the one with
the best CV score goes through evaluate.
"""

from __future__ import annotations

import mlflow

from titanic_model.config import EvaluateBestConfig, EvaluateConfig
from titanic_model.io.registry import best_version, version_uri
from titanic_model.jobs.evaluate import evaluate
from titanic_model.names import BEST_OF_EXPERIMENT_TAG, BEST_OF_RUN_NAME_TAG


def evaluate_best(config: EvaluateBestConfig) -> dict[str, float]:
    """Evaluate, in the active run, the best version trained in the experiment; gate it.

    Args:
        config: The experiment (and run name), the registered model and the gate metric.

    Returns:
        The best version's holdout metrics.
    """
    best = best_version(config.model_name, config.experiment_name, config.run_name)
    mlflow.set_tag(BEST_OF_EXPERIMENT_TAG, config.experiment_name)
    if config.run_name:
        mlflow.set_tag(BEST_OF_RUN_NAME_TAG, config.run_name)
    return evaluate(EvaluateConfig.of(config, model_uri=version_uri(best)))
