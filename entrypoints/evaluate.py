"""``evaluate``: score a model on the holdout, log diagnostics, gate the ``champion`` alias."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from entrypoints.cli import run_entry_point
from titanic_model.config import CHAMPION_ALIAS, ConfigError, EvaluateConfig
from titanic_model.evaluation import (
    diagnostic_figures,
    holdout_metrics,
    is_at_least_as_good,
    women_survive_baseline,
)
from titanic_model.schema import LABEL, validate_passengers
from titanic_model.tracking import (
    PREPARE_RUN_TAG,
    champion,
    latest_version,
    load_split,
    log_dataset,
    log_new_params,
    promote,
    registered_version,
    split_source,
    version_uri,
)

PARAMETERS = ("model_uri", "model_name", "gate_metric", "prepare_run_id")
logger = logging.getLogger(__name__)


def _probabilities(model_uri: str, passengers: pd.DataFrame) -> np.ndarray:
    predictions = mlflow.pyfunc.load_model(model_uri).predict(passengers)
    return predictions["probability"].to_numpy()


def _gate(
    candidate: ModelVersion,
    metrics: dict[str, float],
    passengers: pd.DataFrame,
    labels: np.ndarray,
    gate_metric: str,
) -> str:
    """Move ``champion`` to ``candidate`` if it is at least as good; return the decision."""
    incumbent = champion(candidate.name)
    if incumbent is None:
        promote(candidate)
        return "promoted: first champion"
    if incumbent.version == candidate.version:
        return "kept: already champion"
    incumbent_metrics = holdout_metrics(labels, _probabilities(version_uri(incumbent), passengers))
    mlflow.log_metrics({f"champion_{name}": value for name, value in incumbent_metrics.items()})
    mlflow.set_tag("champion_version_before", incumbent.version)
    new, old = metrics[gate_metric], incumbent_metrics[gate_metric]
    if is_at_least_as_good(gate_metric, new, old):
        promote(candidate)
        return f"promoted: {gate_metric} {new:.4f} vs champion v{incumbent.version} {old:.4f}"
    return f"kept v{incumbent.version}: {gate_metric} {new:.4f} below champion's {old:.4f}"


def evaluate(config: EvaluateConfig) -> dict[str, float]:
    """Score a model on the holdout in the active run and gate the ``champion`` alias.

    Args:
        config: Model to score, registered model to gate and gating metric.

    Returns:
        The model's holdout metrics.

    Raises:
        ConfigError: When the holdout cannot be found for the model.
    """
    if config.model_uri is None:
        candidate: ModelVersion | None = latest_version(config.model_name)
        model_uri = version_uri(candidate)
    else:
        model_uri = config.model_uri
        candidate = registered_version(model_uri)
    prepare_run_id = config.prepare_run_id or (candidate and candidate.tags.get(PREPARE_RUN_TAG))
    if not prepare_run_id:
        raise ConfigError(
            f"cannot tell which holdout to score {model_uri} on: pass -P prepare_run_id=<run id>"
        )
    log_new_params({"model_name": config.model_name, "gate_metric": config.gate_metric})
    mlflow.set_tags({"model_uri": model_uri, PREPARE_RUN_TAG: prepare_run_id})
    holdout = load_split(prepare_run_id, "holdout")
    labels = validate_passengers(holdout, with_label=True)[LABEL].to_numpy().astype(int)
    log_dataset(holdout, "holdout", split_source(prepare_run_id), "evaluation")
    # The model is fed the raw records, exactly as a client would send them.
    passengers = holdout.drop(columns=[LABEL])

    probabilities = _probabilities(model_uri, passengers)
    metrics = holdout_metrics(labels, probabilities)
    baseline = holdout_metrics(labels, women_survive_baseline(passengers))
    mlflow.log_metrics(
        {**{f"holdout_{k}": v for k, v in metrics.items()},
         **{f"baseline_women_survive_{k}": v for k, v in baseline.items()}}
    )  # fmt: skip
    for file_name, figure in diagnostic_figures(labels, probabilities).items():
        mlflow.log_figure(figure, f"plots/{file_name}")

    if candidate is None:
        decision = f"not gated: {model_uri} is not a registered model version"
    else:
        decision = _gate(candidate, metrics, passengers, labels, config.gate_metric)
        mlflow.MlflowClient().set_model_version_tag(
            candidate.name, candidate.version, "holdout_accuracy", f"{metrics['accuracy']:.4f}"
        )
    mlflow.set_tag("champion_decision", decision)
    logger.info(
        "%s: holdout accuracy %.4f (women-survive baseline %.4f); %s alias %s",
        model_uri,
        metrics["accuracy"],
        baseline["accuracy"],
        CHAMPION_ALIAS,
        decision,
    )
    return metrics


def _main(params: Mapping[str, str], environ: Mapping[str, str]) -> None:
    config = EvaluateConfig.from_params(params)
    with mlflow.start_run():
        evaluate(config)


if __name__ == "__main__":
    run_entry_point(__doc__, PARAMETERS, _main)
