"""The model card: what a registered version is, how good it is, what it must not be used for."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from titanic_model.evaluation.metrics import accuracy_interval
from titanic_model.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from titanic_model.names import CANDIDATE_PARAM, CV_METRICS, cv_metric


@dataclass(frozen=True)
class ModelCardFacts:
    """Everything the card states, gathered by the evaluate step.

    Attributes:
        model_name: Registered model name.
        version: Registered version.
        model_params: The chosen candidate (``model``) and its hyper-parameters.
        cv_metrics: ``cv_<metric>_mean`` / ``_std`` of the chosen grid point.
        cv_folds: Number of CV folds.
        holdout_metrics: Holdout metrics of this version.
        baselines: Per baseline name, its holdout metrics.
        holdout_rows: Size of the holdout.
        train_rows: Size of the training split.
        data_uri: Where the raw data came from.
        train_digest: Digest of the training split.
        holdout_digest: Digest of the holdout split.
        importance: Permutation importance of the raw columns.
        git_commit: Commit of the code that trained it, if known.
        train_params: The train run's parameters, to reproduce it.
        model_digest: The digest of the version's files, checked by every loader.
        decision: The gate's decision about this version, in words.
    """

    model_name: str
    version: str
    model_params: dict[str, str]
    cv_metrics: dict[str, float]
    cv_folds: int
    holdout_metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout_rows: int
    train_rows: int
    data_uri: str
    train_digest: str
    holdout_digest: str
    importance: pd.DataFrame
    git_commit: str | None
    train_params: dict[str, str]
    model_digest: str
    decision: str


def render_model_card(facts: ModelCardFacts) -> str:
    """Write the model card as Markdown.

    Args:
        facts: What to state.

    Returns:
        The card, for the ``model_card.md`` artifact and the registry version's description.
    """
    accuracy = facts.holdout_metrics["accuracy"]
    margin = accuracy_interval(accuracy, facts.holdout_rows)
    classifier = facts.model_params.get(CANDIDATE_PARAM, "?")
    params = ", ".join(f"{k}={v}" for k, v in facts.model_params.items() if k != CANDIDATE_PARAM)
    cv_rows = "\n".join(
        f"| {metric} | {facts.cv_metrics[cv_metric(metric, 'mean')]:.3f} "
        f"± {facts.cv_metrics[cv_metric(metric, 'std')]:.3f} |"
        for metric in CV_METRICS
    )
    compared = ["accuracy", "roc_auc", "brier_score", "log_loss"]
    baseline_header = " | ".join(facts.baselines)
    holdout_rows = "\n".join(
        f"| {metric} | {facts.holdout_metrics[metric]:.3f} | "
        + " | ".join(f"{b[metric]:.3f}" for b in facts.baselines.values())
        + " |"
        for metric in compared
    )
    importance_rows = "\n".join(
        f"| {row.column} | {row.importance_mean:.3f} ± {row.importance_std:.3f} |"
        for row in facts.importance.itertuples()
    )
    command = "mlflow run . -e train --env-manager local " + " ".join(
        f"-P {k}={v}" for k, v in sorted(facts.train_params.items()) if v not in ("", "None")
    )
    return f"""# Model card: {facts.model_name} version {facts.version}

## What it is
A scikit-learn pipeline served as an MLflow pyfunc. It predicts whether a passenger of the
RMS Titanic (April 1912) survived, from the raw fields of Kaggle's passenger list.
**Classifier**: {classifier} ({params}), chosen by {facts.cv_folds}-fold
stratified cross-validation among the candidates of the grid.

**Features**, all computed inside the pipeline from the raw fields:
numeric {", ".join(NUMERIC_FEATURES)}; categorical {", ".join(CATEGORICAL_FEATURES)}.
`GroupSurvival` is the survival rate of the passenger's travelling companions (same ticket,
or same surname and fare) among the training passengers. A passenger's own outcome is never
used for their own features.

## Data
- Source: `{facts.data_uri}` (Kaggle's 891 labelled passengers).
- Training split: {facts.train_rows} rows, digest `{facts.train_digest}`.
- Holdout split: {facts.holdout_rows} rows, digest `{facts.holdout_digest}`, never used
  for training or model selection.

## Performance
Cross-validation on the training split (mean ± standard deviation over folds):

| metric | value |
|---|---|
{cv_rows}

Holdout, next to the baselines:

| metric | this model | {baseline_header} |
|---|---|{"---|" * len(facts.baselines)}
{holdout_rows}

Holdout accuracy {accuracy:.3f} ± {margin:.3f} (95 % interval, normal approximation on
{facts.holdout_rows} passengers): differences smaller than that are noise.

Permutation importance of the raw columns (drop in holdout ROC AUC):

| column | importance |
|---|---|
{importance_rows}

## Intended use
Teaching and demonstrating MLOps: training, tracking, registering, serving and monitoring
a model. It answers "would a passenger like this one have survived the sinking of the
Titanic?" for historical, educational exploration.

## Limitations and ethical caveats
- It is trained on 891 people from one event in 1912. It says nothing about any other
  shipwreck, any other era, or any living person, and must not be used to make decisions
  about people.
- The data encodes the social order of 1912: "women and children first", and a class system
  that gave third-class passengers worse access to lifeboats. The model reproduces sex and
  class disparities on purpose. They are the historical signal, not a fair rule.
- Ages are missing for about a fifth of passengers, and cabins for most third-class ones.
  Imputed values carry less information.
- Calibration is checked on this holdout only (see the reliability diagram and the Brier
  score). With a few hundred passengers, a probability is uncertain by a few points.

## Release
- Gate: {facts.decision}.
- Files: digest `{facts.model_digest}` (sha256 of the manifest of every file of the version,
  also its `model_digest` tag). Every loader checks it before it runs any of them; a release
  pins it in Git as `MODEL_DIGEST`.

## How to reproduce
- Code: git commit `{facts.git_commit or "unknown (not run from a git checkout)"}`.
- Command: `{command}`
"""
