"""``evaluate``: score a model on the holdout, log diagnostics, gate its alias.

The alias is ``champion``, or ``challenger`` with ``promote_to=challenger``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from titanic_model import names
from titanic_model.config import EvaluateConfig, SearchConfig
from titanic_model.errors import ConfigError, one_line
from titanic_model.evaluation.metrics import (
    PredictProbability,
    holdout_metrics,
    majority_baseline,
    raw_feature_importance,
    women_survive_baseline,
)
from titanic_model.evaluation.plots import diagnostic_figures, importance_figure
from titanic_model.io.model_files import load_verified_model
from titanic_model.io.registry import (
    champion,
    describe_version,
    gate_lock,
    latest_version,
    mark_failed,
    promote,
    registered_version,
    version_uri,
)
from titanic_model.io.runs import (
    load_split,
    log_dataset,
    log_new_params,
    source_commit,
    split_source,
)
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.training.gate import decide
from titanic_model.training.model_card import ModelCardFacts, render_model_card

logger = logging.getLogger(__name__)


def _probability_of(model_uri: str) -> PredictProbability:
    """The model as a client uses it: raw records in, probabilities of survival out.

    Its files are checked against its digest first, and it runs its own registered code.
    """
    model = load_verified_model(model_uri)
    return lambda passengers: pd.DataFrame(model.predict(passengers))[
        names.PROBABILITY_COLUMN
    ].to_numpy()


@dataclass(frozen=True)
class Holdout:
    """The held-out passengers and their outcomes.

    Attributes:
        passengers: The records as a client would send them (what the model is given).
        validated: The same records as the schema reads them (what the baselines read).
        labels: Their 0/1 outcomes.
    """

    passengers: pd.DataFrame
    validated: pd.DataFrame
    labels: np.ndarray


def _load_holdout(prepare_run_id: str) -> Holdout:
    raw = load_split(prepare_run_id, names.HOLDOUT_SPLIT)
    validated = validate_passengers(raw, with_label=True)
    log_dataset(raw, names.HOLDOUT_SPLIT, split_source(prepare_run_id), names.EVALUATION_CONTEXT)
    return Holdout(
        passengers=raw.drop(columns=[LABEL]),
        validated=validated.drop(columns=[LABEL]),
        labels=validated[LABEL].to_numpy().astype(int),
    )


def _baselines(holdout: Holdout, prepare_run_id: str) -> dict[str, dict[str, float]]:
    training = validate_passengers(load_split(prepare_run_id, names.TRAIN_SPLIT), with_label=True)
    survival_rate = float(training[LABEL].mean())
    return {
        names.WOMEN_SURVIVE_BASELINE: holdout_metrics(
            holdout.labels, women_survive_baseline(holdout.validated)
        ),
        names.MAJORITY_CLASS_BASELINE: holdout_metrics(
            holdout.labels, majority_baseline(len(holdout.labels), survival_rate)
        ),
    }


def _gate(
    candidate: ModelVersion,
    metrics: dict[str, float],
    holdout: Holdout,
    gate_metric: str,
    card_facts: Callable[[str], ModelCardFacts],
    promote_to: str = names.CHAMPION_ALIAS,
) -> str:
    """Decide, write everything the version needs, then move the alias: the commit point.

    One gate at a time (the registry's gate lock): the champion read here is still champion
    when the alias moves, so concurrent gates cannot leave a worse one in place. A version
    that passes takes ``promote_to`` (compared with the champion either way).
    """
    with gate_lock(candidate.name):
        incumbent = champion(candidate.name)
        incumbent_metrics = None
        if incumbent is not None and incumbent.version != candidate.version:
            probability = _probability_of(version_uri(incumbent))(holdout.passengers)
            incumbent_metrics = holdout_metrics(holdout.labels, probability)
            mlflow.log_metrics({names.champion_metric(k): v for k, v in incumbent_metrics.items()})
            mlflow.set_tag(names.CHAMPION_BEFORE_TAG, incumbent.version)
        decision = decide(
            str(candidate.version),
            None if incumbent is None else str(incumbent.version),
            gate_metric,
            metrics,
            incumbent_metrics,
            promote_to,
        )
        holds_alias = decision.promote or (
            incumbent is not None and str(incumbent.version) == str(candidate.version)
        )
        card = render_model_card(card_facts(decision.reason))
        mlflow.log_text(card, names.MODEL_CARD_ARTIFACT)
        describe_version(
            candidate,
            card,
            {
                names.HOLDOUT_ACCURACY_TAG: f"{metrics['accuracy']:.4f}",
                names.GATE_DECISION_TAG: decision.reason,
                names.APPROVAL_TAG: names.APPROVED if holds_alias else names.REJECTED,
            },
        )
        if decision.promote:
            promote(candidate, decision.alias)
    return decision.reason


def _model_card_facts(
    version: ModelVersion,
    prepare_run_id: str,
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    importance: pd.DataFrame,
    decision: str,
) -> ModelCardFacts:
    """What the card of ``version`` states, from its train and prepare runs."""
    client = MlflowClient()
    run_id = version.run_id
    # Our versions are registered from their train run; a version without one is not ours.
    if run_id is None:
        raise ConfigError(f"{version.name} version {version.version} was not logged by a run")
    train = client.get_run(run_id).data
    prepared = client.get_run(prepare_run_id).data
    # The train run's own parameters, read back as the search they configured.
    search = SearchConfig.from_params(
        {k: v for k, v in train.params.items() if k in SearchConfig.parameter_names()}
    )
    return ModelCardFacts(
        model_name=version.name,
        version=str(version.version),
        model_params={
            names.from_best_param(k): v for k, v in train.params.items() if names.is_best_param(k)
        },
        cv_metrics={k: v for k, v in train.metrics.items() if names.is_cv_metric(k)},
        cv_folds=search.cv_folds,
        holdout_metrics=metrics,
        baselines=baselines,
        holdout_rows=int(prepared.metrics[names.rows_metric(names.HOLDOUT_SPLIT)]),
        train_rows=int(prepared.metrics[names.rows_metric(names.TRAIN_SPLIT)]),
        data_uri=prepared.tags[names.DATA_URI_TAG],
        train_digest=prepared.tags[names.split_digest_tag(names.TRAIN_SPLIT)],
        holdout_digest=prepared.tags[names.split_digest_tag(names.HOLDOUT_SPLIT)],
        importance=importance,
        git_commit=source_commit(run_id),
        train_params={k: v for k, v in train.params.items() if not names.is_best_param(k)}
        | {names.PREPARE_RUN_TAG: prepare_run_id},
        model_digest=version.tags[names.MODEL_DIGEST_TAG],
        decision=decision,
    )


def evaluate(config: EvaluateConfig) -> dict[str, float]:
    """Score a model on the holdout in the active run and gate the ``champion`` alias.

    Args:
        config: Model to score, registered model to gate, gating metric and the alias a
            version that passes takes (``promote_to``).

    Returns:
        The model's holdout metrics.

    Raises:
        ConfigError: When the holdout cannot be found for the model.
    """
    if config.model_uri is None:
        latest = latest_version(config.model_name)
        candidate: ModelVersion | None = latest
        model_uri = version_uri(latest)
    else:
        model_uri = config.model_uri
        candidate = registered_version(model_uri)
    try:
        metrics, decision = _evaluate(config, model_uri, candidate)
    except Exception as error:
        # Whatever failed, the alias did not move: the version says it was not approved.
        if candidate is not None:
            mark_failed(candidate, one_line(getattr(error, "message", None) or error))
        raise
    mlflow.set_tag(names.CHAMPION_DECISION_TAG, decision)
    logger.info(
        "%s: holdout accuracy %.4f; %s alias %s",
        model_uri,
        metrics["accuracy"],
        names.CHAMPION_ALIAS,
        decision,
    )
    return metrics


def _evaluate(
    config: EvaluateConfig, model_uri: str, candidate: ModelVersion | None
) -> tuple[dict[str, float], str]:
    """Score, log, and gate a registered candidate; its metrics and the gate's decision."""
    prepare_run_id = config.prepare_run_id or (
        candidate and candidate.tags.get(names.PREPARE_RUN_TAG)
    )
    if not prepare_run_id:
        raise ConfigError(
            f"cannot tell which holdout to score {model_uri} on: pass -P prepare_run_id=<run id>"
        )
    log_new_params(config.parameters())
    mlflow.set_tags({names.MODEL_URI_TAG: model_uri, names.PREPARE_RUN_TAG: prepare_run_id})

    holdout = _load_holdout(prepare_run_id)
    # The model is fed the raw records, exactly as a client would send them.
    probability_of = _probability_of(model_uri)
    probabilities = probability_of(holdout.passengers)
    metrics = holdout_metrics(holdout.labels, probabilities)
    baselines = _baselines(holdout, prepare_run_id)
    mlflow.log_metrics(
        {names.holdout_metric(k): v for k, v in metrics.items()}
        | {
            names.baseline_metric(baseline, k): v
            for baseline, scores in baselines.items()
            for k, v in scores.items()
        }
    )
    for file_name, figure in diagnostic_figures(holdout.labels, probabilities).items():
        mlflow.log_figure(figure, names.plot_artifact(file_name))
    importance = raw_feature_importance(probability_of, holdout.passengers, holdout.labels, seed=0)
    mlflow.log_metrics(
        {
            names.importance_metric(str(column)): float(mean)
            for column, mean in zip(
                importance["column"], importance["importance_mean"], strict=True
            )
        }
    )
    mlflow.log_text(importance.to_csv(index=False), names.IMPORTANCE_ARTIFACT)
    mlflow.log_figure(importance_figure(importance), names.plot_artifact(names.IMPORTANCE_PLOT))
    if candidate is None:
        return metrics, f"not gated: {model_uri} is not a registered model version"

    def card_facts(decision: str) -> ModelCardFacts:
        return _model_card_facts(
            candidate, prepare_run_id, metrics, baselines, importance, decision
        )

    return metrics, _gate(
        candidate, metrics, holdout, config.gate_metric, card_facts, config.promote_to
    )
