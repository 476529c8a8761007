"""Champion and challenger compared on small logs whose figures are computed by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tests.passengers import make_passengers
from titanic_model.model.schema import LABEL, PASSENGER_ID, check_passengers
from titanic_model.monitoring.comparison import (
    DecisionRule,
    compare_pairs,
    decide,
    mcnemar_exact,
    pair_answers,
)
from titanic_model.monitoring.quality import check_labels, join_labels
from titanic_model.prediction_log import read_prediction_log
from titanic_model.serving.log_writer import ModelIdentity, scored_lines

SERVED = ModelIdentity("titanic", "1", "run-1")
SHADOW = ModelIdentity("titanic", "2", "run-2")
OTHER_SHADOW = ModelIdentity("titanic", "3", "run-3")
AT = datetime(2026, 11, 25, 10, tzinfo=UTC)
RULE = DecisionRule(min_labelled=10, min_accuracy_gain=0.0, confidence=0.95)

# Ten passengers, their outcomes, and what each version answered (worked out by hand):
# the served version is right on 6 (all but 4, 5, 6, 9), the shadow on 8 (all but 3 and 9).
# Only the served one is right on 3; only the shadow on 4, 5, 6. They agree on 0-2, 7-9.
TRUTH = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
SERVED_SAYS = [1, 1, 1, 1, 0, 1, 1, 0, 0, 1]
SHADOW_SAYS = [1, 1, 1, 0, 1, 0, 0, 0, 0, 1]


def _lines(identity, request_id, passengers, survived, role, at=AT) -> list[str]:
    columns = check_passengers(passengers.drop(columns=[LABEL]))
    answers = pd.DataFrame({"survived": survived, "probability": [0.5] * len(survived)})
    return scored_lines(identity, request_id, at, columns, answers, full_names=False, role=role)


def _log(*line_lists: list[str]) -> pd.DataFrame:
    return read_prediction_log(["\n".join(line for lines in line_lists for line in lines)]).scored


@pytest.fixture
def passengers() -> pd.DataFrame:
    return make_passengers(10).assign(**{LABEL: TRUTH})


def _replayed(passengers: pd.DataFrame, times: int) -> pd.DataFrame:
    """The ten passengers' requests sent ``times`` times (requests of 5), both versions."""
    lines = []
    for repeat in range(times):
        for start in (0, 5):
            rows = passengers.iloc[start : start + 5]
            request = f"r{repeat}-{start}"
            lines += _lines(SERVED, request, rows, SERVED_SAYS[start : start + 5], "served")
            lines += _lines(SHADOW, request, rows, SHADOW_SAYS[start : start + 5], "shadow")
    return _log(lines)


def _compare(passengers, times: int, rule: DecisionRule = RULE, labels=None):
    pairing = pair_answers(_replayed(passengers, times))
    labels = passengers[[PASSENGER_ID, LABEL]] if labels is None else labels
    labelled = join_labels(pairing.pairs, check_labels(labels)).joined
    return pairing, compare_pairs(pairing.pairs, labelled, rule)


def test_each_served_answer_is_paired_with_the_shadows_answer_to_the_same_record(passengers):
    first, rest = passengers.head(3), passengers.tail(7)
    scored = _log(
        _lines(SERVED, "a", first, [1, 0, 1], "served"),
        _lines(SHADOW, "a", first, [0, 0, 1], "shadow"),
        _lines(SERVED, "b", rest, [0] * 7, "served"),  # the shadow did not score it
        # The same id again later (a client's retry): another request, paired with nothing.
        _lines(SHADOW, "a", first, [1, 1, 1], "shadow", at=AT.replace(minute=1)),
    )

    pairing = pair_answers(scored)

    assert pairing.versions.served_version == "1"
    assert pairing.versions.shadow_version == "2"
    pairs = pairing.pairs.sort_values("record")
    assert pairs["record"].tolist() == [0, 1, 2]
    assert pairs["survived_served"].tolist() == [1, 0, 1]
    assert pairs["survived_shadow"].tolist() == [0, 0, 1]
    assert pairs[PASSENGER_ID].tolist() == [1, 2, 3]  # the served line's input
    assert pairing.left_out == 0


def test_the_pair_of_versions_answering_last_is_the_one_compared(passengers):
    later = AT.replace(hour=11)
    scored = _log(
        _lines(SERVED, "a", passengers, [0] * 10, "served"),
        _lines(OTHER_SHADOW, "a", passengers, [1] * 10, "shadow"),
        _lines(SERVED, "b", passengers.head(4), [0] * 4, "served", at=later),
        _lines(SHADOW, "b", passengers.head(4), [0] * 4, "shadow", at=later),
    )

    pairing = pair_answers(scored)

    assert (pairing.versions.shadow_name, pairing.versions.shadow_version) == ("titanic", "2")
    assert (len(pairing.pairs), pairing.left_out) == (4, 10)


def test_a_log_without_shadow_answers_has_no_pairs(passengers):
    assert pair_answers(_log(_lines(SERVED, "a", passengers, [0] * 10, "served"))) is None


def test_the_figures_are_the_ones_worked_out_by_hand(passengers):
    _, comparison = _compare(passengers, times=1)

    assert (comparison.pairs, comparison.labelled_pairs) == (10, 10)
    assert comparison.agreement_rate == pytest.approx(6 / 10)
    assert comparison.accuracy_served == pytest.approx(6 / 10)
    assert comparison.accuracy_shadow == pytest.approx(8 / 10)
    assert comparison.accuracy_gain == pytest.approx(2 / 10)
    assert (comparison.served_only_correct, comparison.shadow_only_correct) == (1, 3)
    # Exact two-sided binomial on 4 discordant pairs, 3 of them the shadow's:
    # P(X <= 1) + P(X >= 3) with X ~ B(4, 1/2) = (1 + 4 + 4 + 1) / 16.
    assert comparison.mcnemar_p_value == pytest.approx(10 / 16)
    low, high = comparison.interval
    assert low < 0.2 < high
    assert comparison.decision == "keep"  # ten records: the interval holds 0


def test_more_of_the_same_records_narrow_the_interval_to_a_promotion(passengers):
    _, comparison = _compare(passengers, times=20)

    # 200 pairs, the per-record gain d in {-1, 0, 1} with mean 0.2 and variance
    # 0.4 - 0.2^2 = 0.36: a standard error of 0.6 / sqrt(200) = 0.042.
    assert comparison.accuracy_gain == pytest.approx(0.2)
    low, high = comparison.interval
    assert low == pytest.approx(0.2 - 1.96 * 0.6 / math.sqrt(200), abs=0.02)
    assert high == pytest.approx(0.2 + 1.96 * 0.6 / math.sqrt(200), abs=0.02)
    assert comparison.decision == "promote"
    assert comparison.mcnemar_p_value < 0.001
    demanding = DecisionRule(min_labelled=10, min_accuracy_gain=0.15, confidence=0.95)
    assert _compare(passengers, times=20, rule=demanding)[1].decision == "keep"
    fewer = DecisionRule(min_labelled=201, min_accuracy_gain=0.0, confidence=0.95)
    assert _compare(passengers, times=20, rule=fewer)[1].decision == "insufficient_labels"


def test_the_interval_is_seeded_and_widens_with_the_confidence(passengers):
    pairing, first = _compare(passengers, times=20)
    labelled = join_labels(pairing.pairs, check_labels(passengers[[PASSENGER_ID, LABEL]])).joined
    again = compare_pairs(pairing.pairs, labelled, RULE)
    wider = compare_pairs(pairing.pairs, labelled, DecisionRule(10, 0.0, 0.99))

    assert again.interval == first.interval
    assert wider.interval[0] < first.interval[0] < first.interval[1] < wider.interval[1]


def test_a_worse_shadow_is_kept_out(passengers):
    # The same answers under the opposite outcomes: the shadow is now the worse one.
    flipped = passengers.assign(**{LABEL: 1 - passengers[LABEL]})
    _, comparison = _compare(passengers, 20, labels=flipped[[PASSENGER_ID, LABEL]])

    assert comparison.accuracy_gain == pytest.approx(-0.2)
    assert comparison.interval[1] < 0
    assert comparison.decision == "keep"


def test_labels_of_only_some_records_count_only_those(passengers):
    some = passengers[[PASSENGER_ID, LABEL]].head(4)  # the served one right on all four
    _, comparison = _compare(passengers, times=1, labels=some)

    assert (comparison.pairs, comparison.labelled_pairs) == (10, 4)
    assert (comparison.accuracy_served, comparison.accuracy_shadow) == (1.0, 3 / 4)
    assert comparison.decision == "insufficient_labels"


def test_without_labels_only_the_agreement_is_measured(passengers):
    pairing = pair_answers(_replayed(passengers, 1))
    comparison = compare_pairs(pairing.pairs, None, RULE)

    assert comparison.decision == "insufficient_labels"
    assert comparison.metrics() == {
        "pairs": 10.0, "agreement_rate": 0.6, "labelled_pairs": 0.0,
        "served_only_correct": 0.0, "shadow_only_correct": 0.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("labelled", "low", "decision"),
    [
        (99, 0.5, "insufficient_labels"),
        (100, 0.001, "promote"),
        (100, 0.0, "keep"),  # above the gain asked for, not at it
        (100, -0.01, "keep"),
        (100, math.nan, "keep"),  # no interval, no promotion
    ],
)
def test_the_stated_rule(labelled, low, decision):
    assert decide(labelled, low, DecisionRule(100, 0.0, 0.95)) == decision


def test_mcnemar_without_discordant_pairs_finds_no_difference():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 2**6)


def test_one_labelled_record_has_no_interval(passengers):
    pairing = pair_answers(_replayed(passengers, 1))
    labelled = pairing.pairs.head(1).assign(**{LABEL: np.int64(1)})
    comparison = compare_pairs(pairing.pairs, labelled, DecisionRule(1, 0.0, 0.95))
    assert math.isnan(comparison.interval[0])
    assert comparison.decision == "keep"
    assert "accuracy_gain_ci_low" not in comparison.metrics()


def test_labels_of_logged_records_join_by_their_key(passengers):
    # What collect_labels writes: the reviewed records' request and position, no id needed.
    keyed = pd.DataFrame({"request_id": ["r0-0", "r0-5"], "record": [3, 4], LABEL: [1, 0]})
    _, comparison = _compare(passengers, times=1, labels=keyed)

    # Passenger 4 (r0-0, record 3): only the served answer, 1, is right; passenger 10
    # (r0-5, record 4): both answered 1, both wrong.
    assert comparison.labelled_pairs == 2
    assert (comparison.accuracy_served, comparison.accuracy_shadow) == (0.5, 0.0)
    assert (comparison.served_only_correct, comparison.shadow_only_correct) == (1, 0)


def test_pairing_is_what_shows_a_small_gain_on_records_both_mostly_agree_on():
    # 200 labelled records: both right on 150, both wrong on 40, only the shadow right on 10.
    # Per record the gain d is 1 on those 10, else 0: mean 0.05, variance 0.05 - 0.05^2, a
    # standard error of 0.0154, where two unpaired samples (accuracies 0.75 and 0.80) would
    # have one of 0.0417 and an interval holding 0.
    truth = np.ones(200, dtype=int)
    served = np.r_[np.ones(150), np.zeros(50)].astype(int)
    shadow = np.r_[np.ones(150), np.zeros(40), np.ones(10)].astype(int)
    pairs = pd.DataFrame({"survived_served": served, "survived_shadow": shadow})

    comparison = compare_pairs(pairs, pairs.assign(**{LABEL: truth}), RULE)

    paired_error = math.sqrt((0.05 - 0.05**2) / 200)
    assert comparison.interval[0] == pytest.approx(0.05 - 1.96 * paired_error, abs=0.01)
    assert comparison.interval[0] > 0
    assert comparison.decision == "promote"
    assert comparison.mcnemar_p_value == pytest.approx(2 / 2**10)
