from __future__ import annotations

import shlex

import pandas as pd
import pytest

from titanic_model.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from titanic_model.training.model_card import ModelCardFacts, render_model_card

FACTS = ModelCardFacts(
    model_name="titanic",
    version="7",
    model_params={"model": "random_forest", "max_depth": "8", "min_samples_leaf": "4"},
    cv_metrics={
        f"cv_{metric}_{statistic}": value
        for metric, mean in zip(
            ("accuracy", "precision", "recall", "f1", "roc_auc"),
            (0.8554, 0.8123, 0.7456, 0.7789, 0.9041), strict=True,
        )
        for statistic, value in (("mean", mean), ("std", mean / 40))
    },
    cv_folds=5,
    holdout_metrics={"accuracy": 0.7933, "roc_auc": 0.8541, "brier_score": 0.1412,
                     "log_loss": 0.4441, "precision": 0.8, "recall": 0.6, "f1": 0.7},
    baselines={
        "women_survive": {"accuracy": 0.7766, "roc_auc": 0.7663, "brier_score": 0.2235,
                          "log_loss": 8.0531},
        "majority_class": {"accuracy": 0.6146, "roc_auc": 0.5, "brier_score": 0.2369,
                           "log_loss": 0.6668},
    },
    holdout_rows=179,
    train_rows=712,
    data_uri="s3://bucket/train.csv",
    train_digest="abc123",
    holdout_digest="def456",
    importance=pd.DataFrame(
        {"column": ["Sex", "Pclass", "PassengerId"], "importance_mean": [0.1234, 0.0567, 0.0],
         "importance_std": [0.0111, 0.0022, 0.0]}
    ),
    git_commit="0123456789abcdef0123456789abcdef01234567",
    train_params={"n_trees": "200", "max_depth": "6,8,none", "prepare_run_id": "run42",
                  "data_uri": "", "cv_folds": "5"},
    model_digest="sha256:" + "ab" * 32,
    decision="promoted: roc_auc 0.8541 vs champion v6 0.8400",
)  # fmt: skip


@pytest.fixture(scope="module")
def card() -> str:
    return render_model_card(FACTS)


def _line(card: str, start: str) -> str:
    (line,) = [line for line in card.splitlines() if line.startswith(start)]
    return line


def test_the_card_names_the_version_and_its_classifier(card):
    assert card.startswith("# Model card: titanic version 7\n")
    assert (
        "**Classifier**: random_forest (max_depth=8, min_samples_leaf=4), chosen by 5-fold" in card
    )


def test_the_card_states_every_cv_metric_with_its_spread(card):
    assert "| accuracy | 0.855 ± 0.021 |" in card
    assert "| roc_auc | 0.904 ± 0.023 |" in card
    for metric in ("precision", "recall", "f1"):
        mean = FACTS.cv_metrics[f"cv_{metric}_mean"]
        assert f"| {metric} | {mean:.3f} ± {mean / 40:.3f} |" in card


def test_the_card_puts_the_holdout_next_to_the_baselines(card):
    assert "| metric | this model | women_survive | majority_class |" in card
    assert "| accuracy | 0.793 | 0.777 | 0.615 |" in card
    assert "| roc_auc | 0.854 | 0.766 | 0.500 |" in card
    assert "| log_loss | 0.444 | 8.053 | 0.667 |" in card
    # 1.96 * sqrt(0.7933 * 0.2067 / 179) = 0.0593
    assert "Holdout accuracy 0.793 ± 0.059 (95 % interval" in card


def test_the_card_states_the_data_and_its_digests(card):
    assert "- Source: `s3://bucket/train.csv`" in card
    assert "- Training split: 712 rows, digest `abc123`." in card
    assert _line(card, "- Holdout split: 179 rows, digest `def456`")


def test_the_card_lists_the_features_and_the_importance(card):
    assert f"numeric {', '.join(NUMERIC_FEATURES)}; categorical" in card
    assert ", ".join(CATEGORICAL_FEATURES) in card
    assert "| Sex | 0.123 ± 0.011 |" in card
    assert "| PassengerId | 0.000 ± 0.000 |" in card


def test_the_card_says_how_to_reproduce_the_version(card):
    assert f"- Code: git commit `{FACTS.git_commit}`." in card
    command = _line(card, "- Command: ").removeprefix("- Command: `").removesuffix("`")
    words = shlex.split(command)
    assert words[:7] == ["mlflow", "run", ".", "-e", "train", "--env-manager", "local"]
    # Every non-empty parameter, sorted; the empty data_uri is left to its default.
    assert words[7:] == ["-P", "cv_folds=5", "-P", "max_depth=6,8,none", "-P", "n_trees=200",
                         "-P", "prepare_run_id=run42"]  # fmt: skip


def test_an_unknown_commit_is_said_to_be_unknown():
    facts = ModelCardFacts(**{**FACTS.__dict__, "git_commit": None})
    assert "- Code: git commit `unknown (not run from a git checkout)`." in render_model_card(facts)


def test_the_card_states_the_gate_decision_and_the_files_digest(card):
    assert "- Gate: promoted: roc_auc 0.8541 vs champion v6 0.8400." in card
    assert f"- Files: digest `{FACTS.model_digest}`" in card
