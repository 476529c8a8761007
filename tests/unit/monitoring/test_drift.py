from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from titanic_model.monitoring.drift import (
    MONITORED_FIELDS,
    DriftKind,
    FieldDrift,
    Thresholds,
    categorical_drift,
    field_drifts,
    flagged_fields,
    missing_drift,
    numeric_drift,
    population_stability_index,
)

RNG = np.random.default_rng(7)


def test_psi_is_zero_for_the_same_distribution_and_matches_its_formula():
    assert population_stability_index(np.array([10, 20, 30]), np.array([1, 2, 3])) == 0
    reference, current = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert population_stability_index(reference, current) == pytest.approx(expected)


def test_psi_survives_an_empty_bin():
    assert math.isfinite(population_stability_index(np.array([5, 0]), np.array([0, 5])))


def test_a_numeric_field_from_the_same_population_does_not_drift_and_a_shifted_one_does():
    reference = pd.Series(RNG.normal(30, 10, 700))
    same = numeric_drift("Age", reference, pd.Series(RNG.normal(30, 10, 400)))
    shifted = numeric_drift("Age", reference, pd.Series(RNG.normal(45, 10, 400)))

    assert not same.flagged(Thresholds())
    assert same.psi < 0.1
    assert same.p_value > 0.01
    assert shifted.flagged(Thresholds())
    assert shifted.p_value < 1e-10
    assert shifted.psi > 0.5


def test_a_categorical_field_uses_a_chi_square_test_and_psi():
    reference = pd.Series(["male"] * 600 + ["female"] * 400)
    same = categorical_drift("Sex", reference, pd.Series(["male"] * 61 + ["female"] * 39))
    flipped = categorical_drift("Sex", reference, pd.Series(["male"] * 20 + ["female"] * 80))
    new_category = categorical_drift("Sex", reference, pd.Series(["other"] * 50))

    assert same.kind is DriftKind.CATEGORY
    assert not same.flagged(Thresholds())
    assert flipped.flagged(Thresholds())
    assert new_category.flagged(Thresholds())


def test_missing_values_are_compared_on_their_own_not_in_the_test():
    reference = pd.Series([20.0, 30.0, np.nan, 40.0] * 100)
    more_missing = pd.Series([20.0, np.nan, np.nan, np.nan] * 100)
    drift = numeric_drift("Age", reference, more_missing)

    assert drift.missing_share_reference == 0.25
    assert drift.missing_share_current == 0.75
    assert drift.missing_share_change == 0.5
    assert drift.flagged(Thresholds())


def test_a_free_text_field_is_watched_for_missing_values_only():
    drift = missing_drift("Cabin", pd.Series(["C85", None]), pd.Series([None, None]))
    assert (drift.kind, math.isnan(drift.p_value), math.isnan(drift.psi)) == (
        DriftKind.MISSING_ONLY, True, True,
    )  # fmt: skip
    assert drift.missing_share_change == 0.5


@pytest.mark.parametrize(
    ("p_value", "psi", "change", "flagged"),
    [
        (0.001, 0.5, 0.0, True),  # both the test and the size of the shift
        (0.001, 0.05, 0.0, False),  # significant but small: thousands of rows do that
        (0.5, 0.5, 0.0, False),  # large but not significant: a handful of rows do that
        (0.5, 0.0, 0.2, True),  # the share of missing values moved
        (0.5, 0.0, -0.2, True),
    ],
)
def test_a_field_is_flagged_by_test_and_size_together_or_by_missing_values(
    p_value, psi, change, flagged
):
    drift = FieldDrift("Fare", DriftKind.NUMBER, p_value, psi, 0.1, 0.1 + change)
    assert drift.flagged(Thresholds(p_value=0.01, psi=0.2, missing_share=0.1)) is flagged


def test_every_monitored_field_is_measured_and_the_flagged_ones_listed_in_order():
    reference = pd.DataFrame(
        {
            "Pclass": RNG.choice([1, 2, 3], 500), "Sex": RNG.choice(["male", "female"], 500),
            "Age": RNG.normal(30, 12, 500), "SibSp": RNG.poisson(0.5, 500),
            "Parch": RNG.poisson(0.4, 500), "Fare": RNG.exponential(30, 500),
            "Cabin": RNG.choice(["C85", None], 500), "Embarked": RNG.choice(["S", "C", "Q"], 500),
            "Title": RNG.choice(["Mr", "Mrs", "Miss", "Master"], 500),
        }
    )  # fmt: skip
    current = reference.sample(300, random_state=1).reset_index(drop=True)
    current["Pclass"] = 1
    current["Fare"] = current["Fare"] * 4

    drifts = field_drifts(reference, current)

    assert [d.field for d in drifts] == list(MONITORED_FIELDS)
    assert flagged_fields(drifts, Thresholds()) == ["Pclass", "Fare"]
