"""``evaluate``: score a model on the holdout, log diagnostics, gate the ``champion`` alias."""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from entrypoints.cli import run_entry_point
from titanic_model.config import CHAMPION_ALIAS, ConfigError, EvaluateConfig
from titanic_model.evaluation import (
    diagnostic_figures,
    holdout_metrics,
    importance_figure,
    is_at_least_as_good,
    majority_baseline,
    raw_feature_importance,
    women_survive_baseline,
)
from titanic_model.model_card import render_model_card
from titanic_model.schema import LABEL, validate_passengers
from titanic_model.tracking import (
    PREPARE_RUN_TAG,
    champion,
    describe_version,
    latest_version,
    load_split,
    log_dataset,
    log_new_params,
    model_card_facts,
    promote,
    registered_version,
    split_source,
    version_uri,
)

PARAMETERS = ("model_uri", "model_name", "gate_metric", "prepare_run_id")
logger = logging.getLogger(__name__)


def _probabilities(model_uri: str, passengers: pd.DataFrame) -> np.ndarray:
    return mlflow.pyfunc.load_model(model_uri).predict(passengers)["probability"].to_numpy()


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
    validated = validate_passengers(holdout, with_label=True)
    labels = validated[LABEL].to_numpy().astype(int)
    log_dataset(holdout, "holdout", split_source(prepare_run_id), "evaluation")
    # The model is fed the raw records, exactly as a client would send them.
    passengers = holdout.drop(columns=[LABEL])
    model = mlflow.pyfunc.load_model(model_uri)
    probabilities = model.predict(passengers)["probability"].to_numpy()
    metrics = holdout_metrics(labels, probabilities)
    training_labels = validate_passengers(load_split(prepare_run_id, "train"), with_label=True)
    baselines = {
        "women_survive": holdout_metrics(labels, women_survive_baseline(passengers)),
        "majority_class": holdout_metrics(
            labels, majority_baseline(len(labels), float(training_labels[LABEL].mean()))
        ),
    }
    mlflow.log_metrics(
        {f"holdout_{k}": v for k, v in metrics.items()}
        | {
            f"baseline_{name}_{k}": v
            for name, scores in baselines.items()
            for k, v in scores.items()
        }
    )
    for file_name, figure in diagnostic_figures(labels, probabilities).items():
        mlflow.log_figure(figure, f"plots/{file_name}")
    importance = raw_feature_importance(
        model.unwrap_python_model().pipeline,
        validated.drop(columns=[LABEL]),
        labels,
        seed=0,
    )
    mlflow.log_metrics(
        {f"importance_{r.column}": r.importance_mean for r in importance.itertuples()}
    )
    mlflow.log_text(importance.to_csv(index=False), "importance.csv")
    mlflow.log_figure(importance_figure(importance), "plots/permutation_importance.png")

    if candidate is None:
        decision = f"not gated: {model_uri} is not a registered model version"
    else:
        decision = _gate(candidate, metrics, passengers, labels, config.gate_metric)
        card = render_model_card(
            model_card_facts(candidate, prepare_run_id, metrics, baselines, importance)
        )
        mlflow.log_text(card, "model_card.md")
        describe_version(candidate, card, {"holdout_accuracy": f"{metrics['accuracy']:.4f}"})
    mlflow.set_tag("champion_decision", decision)
    logger.info(
        "%s: holdout accuracy %.4f (women-survive baseline %.4f); %s alias %s",
        model_uri,
        metrics["accuracy"],
        baselines["women_survive"]["accuracy"],
        CHAMPION_ALIAS,
        decision,
    )
    return metrics


if __name__ == "__main__":
    run_entry_point(
        __doc__, PARAMETERS, lambda params, _: EvaluateConfig.from_params(params), evaluate
    )
