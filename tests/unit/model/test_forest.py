from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError

from titanic_model.model import forest as forest_module
from titanic_model.model.forest import LowLatencyRandomForestClassifier

TREES = 10
# Batches up to this many rows walk all the trees with numpy; larger ones loop over trees.
SMALL_BATCH_LIMIT = forest_module._VECTORISED_PAIRS // TREES


def training_data(classes: int = 2, rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Features mixing integers (thresholds at .5), ties and continuous values."""
    rng = np.random.default_rng(classes)
    features = np.column_stack(
        [
            rng.integers(0, 4, rows),
            rng.normal(size=rows),
            rng.normal(scale=100.0, size=rows),
            rng.integers(0, 2, rows),
            rng.exponential(size=rows),
        ]
    ).astype("float64")
    signal = features[:, 0] + features[:, 1] + features[:, 3] + rng.normal(size=rows)
    labels = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
    return features, labels


def new_rows(count: int, model: RandomForestClassifier, seed: int = 0) -> np.ndarray:
    """Rows around the training range, many of them exactly on a split threshold."""
    rng = np.random.default_rng(seed)
    rows, _ = training_data(rows=count)
    rows = rows + rng.normal(scale=0.3, size=rows.shape) * (rng.random(rows.shape) < 0.5)
    thresholds = [
        (feature, threshold)
        for tree in model.estimators_
        for feature, threshold in zip(tree.tree_.feature, tree.tree_.threshold, strict=True)
        if feature >= 0
    ]
    for i in range(0, count, 3):  # a third of the rows sit on some tree's threshold
        feature, threshold = thresholds[i % len(thresholds)]
        rows[i, feature] = threshold
    return rows


def both_forests(**params: object) -> tuple[RandomForestClassifier, RandomForestClassifier]:
    return (
        RandomForestClassifier(**params),
        LowLatencyRandomForestClassifier(**params),
    )


@pytest.fixture(scope="module", params=[2, 3], ids=["2-classes", "3-classes"])
def classes(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture(scope="module", params=[None, 3], ids=["unlimited-depth", "max-depth-3"])
def fitted(
    request: pytest.FixtureRequest, classes: int
) -> tuple[RandomForestClassifier, LowLatencyRandomForestClassifier]:
    features, labels = training_data(classes)
    params = {"n_estimators": TREES, "max_depth": request.param, "random_state": 0, "n_jobs": 1}
    reference, fast = both_forests(**params)
    return reference.fit(features, labels), fast.fit(features, labels)


@pytest.mark.parametrize(
    "rows",
    [1, 2, 37, SMALL_BATCH_LIMIT, SMALL_BATCH_LIMIT + 1, 3 * SMALL_BATCH_LIMIT],
    ids=["1", "2", "37", "limit", "limit+1", "3xlimit"],
)
def test_probabilities_equal_scikit_learns(fitted, rows: int, monkeypatch):
    reference, fast = fitted
    batch = new_rows(rows, reference, seed=rows)
    walked = []
    walk = LowLatencyRandomForestClassifier._walk_all_trees
    monkeypatch.setattr(
        LowLatencyRandomForestClassifier,
        "_walk_all_trees",
        lambda self, features: walked.append(len(features)) or walk(self, features),
    )

    expected = reference.predict_proba(batch)
    actual = fast.predict_proba(batch)

    # Both sides of the threshold are exercised: small batches walk the flattened trees.
    assert walked == ([rows] if rows <= SMALL_BATCH_LIMIT else [])
    assert actual.shape == expected.shape == (rows, len(reference.classes_))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fast.classes_, reference.classes_)


def test_the_training_rows_are_predicted_alike(fitted):
    reference, fast = fitted
    features, _ = training_data(len(reference.classes_))

    for batch in (features[:5], features):
        np.testing.assert_allclose(
            fast.predict_proba(batch), reference.predict_proba(batch), rtol=0, atol=1e-12
        )


def test_predict_uses_the_fast_probabilities(fitted):
    reference, fast = fitted
    batch = new_rows(50, reference)

    proba = fast.predict_proba(batch)

    np.testing.assert_array_equal(fast.predict(batch), fast.classes_[proba.argmax(axis=1)])


def test_a_batch_of_one_equals_the_rows_of_a_large_batch(fitted):
    reference, fast = fitted
    batch = new_rows(SMALL_BATCH_LIMIT + 50, reference)

    together = fast.predict_proba(batch)
    alone = np.vstack([fast.predict_proba(batch[[i]]) for i in range(0, len(batch), 97)])

    np.testing.assert_allclose(alone, together[::97], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rows", [3, 3000])
def test_other_inputs_than_float32_arrays(rows: int):
    features, labels = training_data()
    reference, fast = both_forests(n_estimators=TREES, random_state=1)
    reference.fit(features, labels)
    fast.fit(features, labels)
    batch = new_rows(rows, reference)

    expected = reference.predict_proba(batch)
    for variant in (
        batch.tolist(),
        np.asfortranarray(batch),
        batch.astype(np.float32),
        np.repeat(batch, 2, axis=1)[:, ::2],  # a strided view
        pd.DataFrame(batch),
    ):
        np.testing.assert_allclose(fast.predict_proba(variant), expected, rtol=0, atol=1e-12)


def test_bootstrap_off_weights_and_a_pure_node():
    features, labels = training_data()
    params = {"n_estimators": 5, "bootstrap": False, "max_features": None, "random_state": 2}
    weights = np.linspace(0.5, 2.0, len(labels))
    reference, fast = both_forests(**params, class_weight="balanced")
    reference.fit(features, labels, sample_weight=weights)
    fast.fit(features, labels, sample_weight=weights)
    batch = new_rows(40, reference)

    np.testing.assert_allclose(
        fast.predict_proba(batch), reference.predict_proba(batch), rtol=0, atol=1e-12
    )
    # A forest of single-leaf trees (one class only) predicts that class everywhere.
    stump = LowLatencyRandomForestClassifier(n_estimators=3).fit(features, np.ones(len(labels)))
    np.testing.assert_array_equal(stump.predict_proba(batch), np.ones((40, 1)))


def test_is_a_random_forest_with_its_params():
    fast = LowLatencyRandomForestClassifier(n_estimators=7, max_depth=4, random_state=3)

    assert isinstance(fast, RandomForestClassifier)
    assert (
        fast.get_params()
        == RandomForestClassifier(n_estimators=7, max_depth=4, random_state=3).get_params()
    )


def test_clone_gives_an_unfitted_copy_that_refits_identically(fitted):
    _, fast = fitted
    features, labels = training_data(len(fast.classes_))

    copied = clone(fast)

    assert type(copied) is LowLatencyRandomForestClassifier
    assert copied.get_params() == fast.get_params()
    assert not hasattr(copied, "flat_values_")
    assert not hasattr(copied, "estimators_")
    batch = new_rows(20, fast)
    np.testing.assert_array_equal(
        copied.fit(features, labels).predict_proba(batch), fast.predict_proba(batch)
    )


def test_set_params_then_refit_reflattens_the_trees():
    features, labels = training_data()
    fast = LowLatencyRandomForestClassifier(n_estimators=4, max_depth=2, random_state=0)
    fast.fit(features, labels)

    fast.set_params(n_estimators=6, max_depth=None).fit(features, labels)
    reference = RandomForestClassifier(**fast.get_params()).fit(features, labels)

    assert len(fast.flat_roots_) == 6
    batch = new_rows(30, reference)
    np.testing.assert_allclose(
        fast.predict_proba(batch), reference.predict_proba(batch), rtol=0, atol=1e-12
    )


def test_predicting_before_fit_raises():
    with pytest.raises(NotFittedError):
        LowLatencyRandomForestClassifier().predict_proba(np.zeros((1, 5)))


@pytest.mark.parametrize(
    "shape", [(3, 4), (3, 6), (1, 0), (5,), (2, 5, 1)], ids=["fewer", "more", "none", "1d", "3d"]
)
def test_wrong_feature_count_raises_a_value_error(fitted, shape: tuple[int, ...]):
    _, fast = fitted

    with pytest.raises(ValueError, match="expected a matrix of 5 features"):
        fast.predict_proba(np.zeros(shape))


def test_scikit_learn_raises_a_value_error_for_a_wrong_feature_count_too(fitted):
    reference, _ = fitted

    with pytest.raises(ValueError, match="features"):
        reference.predict_proba(np.zeros((3, 4)))


# Like scikit-learn's, the cast of 1e39 to float32 warns of the overflow before the error.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize(
    "value", [np.inf, -np.inf, np.nan, 1e39], ids=["inf", "-inf", "nan", "big"]
)
@pytest.mark.parametrize("rows", [4, 3000], ids=["small-batch", "large-batch"])
def test_non_finite_features_raise_a_value_error(fitted, value: float, rows: int):
    _, fast = fitted
    batch = new_rows(rows, fast)
    batch[rows - 1, 2] = value  # 1e39 overflows float32, as scikit-learn reads features

    with pytest.raises(ValueError, match="finite"):
        fast.predict_proba(batch)


def test_infinite_features_are_rejected_by_scikit_learn_too(fitted):
    reference, _ = fitted
    batch = new_rows(4, reference)
    batch[1, 0] = np.inf

    with pytest.raises(ValueError, match="infinity"):
        reference.predict_proba(batch)


def test_pickling_round_trip_predicts_the_same(fitted):
    _, fast = fitted
    small, large = new_rows(5, fast), new_rows(SMALL_BATCH_LIMIT + 10, fast)

    restored = pickle.loads(pickle.dumps(fast))

    assert type(restored) is LowLatencyRandomForestClassifier
    assert restored.get_params() == fast.get_params()
    for batch in (small, large):
        np.testing.assert_array_equal(restored.predict_proba(batch), fast.predict_proba(batch))
