from __future__ import annotations

import pytest

from titanic_model.names import HOLDOUT_METRICS
from titanic_model.training.gate import Decision, decide, is_at_least_as_good


def test_higher_is_better_and_lower_is_better_metrics():
    assert {name for name, higher in HOLDOUT_METRICS.items() if not higher} == {
        "log_loss",
        "brier_score",
    }


@pytest.mark.parametrize(
    ("metric", "candidate", "incumbent", "expected"),
    [
        ("roc_auc", 0.86, 0.85, True),
        ("roc_auc", 0.85, 0.85, True),
        ("roc_auc", 0.84, 0.85, False),
        ("accuracy", 1.0, 0.0, True),
        ("f1", 0.0, 0.1, False),
        ("log_loss", 0.40, 0.45, True),
        ("log_loss", 0.45, 0.45, True),
        ("log_loss", 0.50, 0.45, False),
        ("brier_score", 0.10, 0.12, True),
        ("brier_score", 0.12, 0.12, True),
        ("brier_score", 0.13, 0.12, False),
    ],
)
def test_is_at_least_as_good(metric: str, candidate: float, incumbent: float, expected: bool):
    assert is_at_least_as_good(metric, candidate, incumbent) is expected


def test_is_at_least_as_good_rejects_unknown_metric():
    with pytest.raises(KeyError):
        is_at_least_as_good("bogus", 1.0, 0.0)


def test_the_first_version_becomes_champion():
    assert decide("1", None, "roc_auc", {"roc_auc": 0.5}, None) == Decision(
        True, "promoted: first champion"
    )


def test_the_champion_itself_keeps_the_alias():
    assert decide("3", "3", "roc_auc", {"roc_auc": 0.9}, None) == Decision(
        False, "kept: already champion"
    )


@pytest.mark.parametrize(
    ("metric", "new", "old", "decision"),
    [
        ("roc_auc", 0.86, 0.85, Decision(True, "promoted: roc_auc 0.8600 vs champion v2 0.8500")),
        ("roc_auc", 0.85, 0.85, Decision(True, "promoted: roc_auc 0.8500 vs champion v2 0.8500")),
        ("roc_auc", 0.84, 0.85, Decision(False, "kept v2: roc_auc 0.8400 below champion's 0.8500")),
        ("log_loss", 0.40, 0.45, Decision(True, "promoted: log_loss 0.4000 vs champion v2 0.4500")),
        (
            "log_loss",
            0.5,
            0.45,
            Decision(False, "kept v2: log_loss 0.5000 below champion's 0.4500"),
        ),
    ],
)
def test_a_later_version_must_be_at_least_as_good_on_the_gate_metric(metric, new, old, decision):
    others = {"accuracy": 0.0}  # only the gate metric counts
    assert decide("5", "2", metric, {metric: new, **others}, {metric: old, **others}) == decision


def test_a_champion_must_be_scored_before_the_gate_decides():
    with pytest.raises(ValueError, match="champion v2 must be scored"):
        decide("5", "2", "roc_auc", {"roc_auc": 0.9}, None)


def test_a_version_that_passes_takes_challenger_when_told():
    decision = decide("5", "2", "roc_auc", {"roc_auc": 0.86}, {"roc_auc": 0.85}, "challenger")
    assert decision == Decision(
        True, "challenger: roc_auc 0.8600 vs champion v2 0.8500", "challenger"
    )


def test_a_version_that_fails_takes_no_alias_whichever_was_asked():
    decision = decide("5", "2", "roc_auc", {"roc_auc": 0.84}, {"roc_auc": 0.85}, "challenger")
    assert decision == Decision(False, "kept v2: roc_auc 0.8400 below champion's 0.8500")


@pytest.mark.parametrize("promote_to", ["champion", "challenger"])
def test_the_first_version_becomes_champion_whichever_was_asked(promote_to):
    # A challenger is tried beside a champion: with none, there is nothing to try it beside.
    assert decide("1", None, "roc_auc", {"roc_auc": 0.5}, None, promote_to) == Decision(
        True, "promoted: first champion", "champion"
    )
