from __future__ import annotations

import io
import re
import shlex
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest

from titanic_model.config import EvaluateConfig, SearchConfig, TrainConfig
from titanic_model.errors import ConfigError
from titanic_model.evaluation.metrics import accuracy_interval, holdout_metrics
from titanic_model.io.runs import load_split
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train

# A model that cannot split: one tree, leaves of 100 rows out of 128. It predicts a constant.
WEAK = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1", "min_samples_leaf": "100"}


def _run(job, config):
    with mlflow.start_run() as run:
        result = job(config)
    return result, run.info.run_id


@pytest.fixture(scope="module")
def history(store):
    """A model name with v1 (good, evaluated first), then v2 (weak), each evaluated."""
    name = store.new_model_name()
    prepare_run_id, _ = _run(prepare, store.prepare())

    def register(**search):
        config = TrainConfig.of(
            store.search(**search), prepare_run_id=prepare_run_id, model_name=name
        )
        return _run(train, config)

    good, good_train_run = register()
    good_metrics, good_evaluation = _run(evaluate, EvaluateConfig(model_name=name))
    weak, _ = register(**WEAK)
    weak_metrics, weak_evaluation = _run(evaluate, EvaluateConfig(model_name=name))
    again = _run(evaluate, EvaluateConfig(model_uri=f"models:/{name}/1", model_name=name))
    return SimpleNamespace(
        name=name, prepare_run_id=prepare_run_id, good=good, weak=weak,
        good_train_run=good_train_run, good_metrics=good_metrics, weak_metrics=weak_metrics,
        good_evaluation=good_evaluation, weak_evaluation=weak_evaluation, again=again[1],
    )  # fmt: skip


def _tags(store, run_id: str) -> dict[str, str]:
    return store.client.get_run(run_id).data.tags


def test_the_first_version_is_promoted_and_a_weaker_one_is_not(store, history):
    assert _tags(store, history.good_evaluation)["champion_decision"] == "promoted: first champion"
    weak_tags = _tags(store, history.weak_evaluation)
    assert weak_tags["champion_decision"] == (
        f"kept v1: roc_auc {history.weak_metrics['roc_auc']:.4f} below champion's "
        f"{history.good_metrics['roc_auc']:.4f}"
    )
    assert weak_tags["champion_version_before"] == "1"
    assert history.weak_metrics["roc_auc"] == 0.5
    assert _tags(store, history.again)["champion_decision"] == "kept: already champion"
    aliases = store.client.get_registered_model(history.name).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1"}


def test_the_champion_is_scored_on_the_same_holdout(store, history):
    metrics = store.client.get_run(history.weak_evaluation).data.metrics
    assert {k.removeprefix("champion_"): v for k, v in metrics.items()
            if k.startswith("champion_")} == history.good_metrics  # fmt: skip


def test_holdout_metrics_are_the_model_scored_on_raw_holdout_records(store, history):
    holdout = load_split(history.prepare_run_id, "holdout")
    model = mlflow.pyfunc.load_model(f"models:/{history.name}/1")
    probabilities = model.predict(holdout.drop(columns=["Survived"]))["probability"].to_numpy()

    expected = holdout_metrics(holdout["Survived"].to_numpy(), probabilities)
    assert history.good_metrics == expected
    logged = store.client.get_run(history.good_evaluation).data.metrics
    assert {k: logged[f"holdout_{k}"] for k in expected} == expected
    women = holdout_metrics(
        holdout["Survived"].to_numpy(), (holdout["Sex"] == "female").to_numpy(dtype=float)
    )
    assert {k: logged[f"baseline_women_survive_{k}"] for k in women} == women
    assert logged["baseline_majority_class_roc_auc"] == 0.5


def test_evaluation_logs_plots_importance_and_the_version_tag(store, history):
    run_id = history.good_evaluation
    plots = {a.path for a in store.client.list_artifacts(run_id, "plots")}
    assert plots == {
        f"plots/{name}.png"
        for name in ("confusion_matrix", "roc_curve", "precision_recall_curve", "calibration",
                     "permutation_importance")
    }  # fmt: skip
    importance = pd.read_csv(
        io.StringIO(mlflow.artifacts.load_text(f"runs:/{run_id}/importance.csv"))
    )
    metrics = store.client.get_run(run_id).data.metrics
    assert {f"importance_{c}": m for c, m in zip(importance["column"],
            importance["importance_mean"], strict=True)} == {
        k: v for k, v in metrics.items() if k.startswith("importance_")
    }  # fmt: skip
    assert metrics["importance_PassengerId"] == 0.0
    version = store.client.get_model_version(history.name, "1")
    assert version.tags["holdout_accuracy"] == f"{history.good_metrics['accuracy']:.4f}"


def test_the_model_card_states_the_versions_own_figures(store, history):
    # Evaluated last by history.again (the same holdout): the card of that evaluation.
    card = store.client.get_model_version(history.name, "1").description
    assert card == mlflow.artifacts.load_text(f"runs:/{history.again}/model_card.md")
    assert "- Gate: kept: already champion." in card
    train_run = store.client.get_run(history.good_train_run)
    prepare_run = store.client.get_run(history.prepare_run_id)
    metrics = history.good_metrics

    assert card.startswith(f"# Model card: {history.name} version 1\n")
    assert f"**Classifier**: {train_run.data.params['best_model']} (" in card
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        mean, std = (train_run.data.metrics[f"cv_{metric}_{s}"] for s in ("mean", "std"))
        assert f"| {metric} | {mean:.3f} ± {std:.3f} |" in card
    for metric in ("accuracy", "roc_auc", "brier_score", "log_loss"):
        assert re.search(rf"\| {metric} \| {metrics[metric]:.3f} \| [0-9.]+ \| [0-9.]+ \|", card)
    holdout_rows = int(prepare_run.data.metrics["rows_holdout"])
    margin = accuracy_interval(metrics["accuracy"], holdout_rows)
    assert f"Holdout accuracy {metrics['accuracy']:.3f} ± {margin:.3f}" in card
    assert f"Training split: {int(prepare_run.data.metrics['rows_train'])} rows, digest " \
        f"`{prepare_run.data.tags['train_digest']}`" in card  # fmt: skip
    assert f"`{prepare_run.data.tags['holdout_digest']}`" in card
    assert f"Source: `{store.data_uri}`" in card
    importance = pd.read_csv(
        io.StringIO(mlflow.artifacts.load_text(f"runs:/{history.good_evaluation}/importance.csv"))
    )
    for row in importance.itertuples():
        assert f"| {row.column} | {row.importance_mean:.3f} ± {row.importance_std:.3f} |" in card


def test_the_model_card_command_reproduces_the_train_run(store, history):
    card = store.client.get_model_version(history.name, "1").description
    (command,) = re.findall(r"- Command: `(mlflow run [^`]+)`", card)
    assert command.startswith("mlflow run . -e train --env-manager local ")
    options = shlex.split(command)[7:]
    given = dict(option.split("=", 1) for option in options[1::2])
    train_params = store.client.get_run(history.good_train_run).data.params

    assert options[::2] == ["-P"] * len(given)
    assert given == {k: v for k, v in train_params.items() if not k.startswith("best_") and v} | {
        "prepare_run_id": history.prepare_run_id
    }
    assert SearchConfig.of(TrainConfig.from_params(given)) == store.search()


def test_an_unregistered_model_is_scored_but_not_gated(store, history):
    run_uri = f"runs:/{history.good.run_id}/model"
    config = EvaluateConfig(model_uri=run_uri, prepare_run_id=history.prepare_run_id)

    metrics, run_id = _run(evaluate, config)

    assert metrics == history.good_metrics
    assert _tags(store, run_id)["champion_decision"] == f"not gated: {run_uri} is not a " \
        "registered model version"  # fmt: skip
    with mlflow.start_run(), pytest.raises(ConfigError, match="pass -P prepare_run_id"):
        evaluate(EvaluateConfig(model_uri=run_uri))
