from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from titanic_model.evaluation.metrics import holdout_metrics
from titanic_model.names import CV_METRICS
from titanic_model.training.search import (
    GridPoint,
    SearchResult,
    grid_search,
    holdout_split,
    nested_cross_validation,
)

GRID = {"random_forest": {"n_estimators": [8], "max_depth": [2, None]}}
METRIC_KEYS = {f"cv_{metric}_{stat}" for metric in CV_METRICS for stat in ("mean", "std")}


@pytest.fixture(scope="module")
def data(make_passengers, split_features) -> tuple[pd.DataFrame, pd.Series]:
    return split_features(make_passengers(40))


@pytest.fixture(scope="module")
def result(data) -> SearchResult:
    features, labels = data
    return grid_search(features, labels, GRID, cv_folds=2, seed=0, refit_metric="accuracy")


def test_one_grid_point_per_combination_in_grid_order(result: SearchResult):
    assert len(result.grid) == 2
    assert all(isinstance(point, GridPoint) for point in result.grid)
    assert [point.params for point in result.grid] == [
        {"model": "random_forest", "max_depth": 2, "n_estimators": 8},
        {"model": "random_forest", "max_depth": None, "n_estimators": 8},
    ]


def test_grid_points_have_every_cv_metric(result: SearchResult):
    for point in result.grid:
        assert set(point.metrics) == METRIC_KEYS
        for key, value in point.metrics.items():
            assert isinstance(value, float), key
            assert math.isfinite(value), key
            assert 0.0 <= value <= 1.0, key


def test_ranks_follow_the_refit_metric(result: SearchResult):
    ranks = [point.rank for point in result.grid]
    assert min(ranks) == 1
    assert set(ranks) <= {1, 2}
    means = [point.metrics["cv_accuracy_mean"] for point in result.grid]
    for point, mean in zip(result.grid, means, strict=True):
        assert (point.rank == 1) == (mean == max(means))


def test_best_point_is_a_rank_one_grid_point(result: SearchResult):
    best = [p for p in result.grid if p.params == result.best_params]
    assert len(best) == 1
    assert best[0].rank == 1
    assert result.best_metrics == best[0].metrics


def test_best_pipeline_is_fitted_with_the_best_params(result: SearchResult, data):
    features, labels = data
    pipeline = result.best_pipeline

    assert isinstance(pipeline, Pipeline)
    check_is_fitted(pipeline)
    classifier = pipeline.named_steps["classifier"]
    assert classifier.n_estimators == result.best_params["n_estimators"]
    assert classifier.max_depth == result.best_params["max_depth"]
    assert classifier.random_state == 0
    probabilities = pipeline.predict_proba(features)[:, 1]
    assert probabilities.shape == (len(features),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # Refitted on all rows: it fits the training data better than chance.
    assert ((probabilities >= 0.5) == labels.to_numpy().astype(bool)).mean() > 0.7


def test_refit_metric_chooses_the_rank(data):
    features, labels = data

    result = grid_search(
        features,
        labels,
        {"random_forest": {"n_estimators": [1, 8], "max_depth": [1]}},
        cv_folds=2,
        seed=1,
        refit_metric="roc_auc",
    )

    means = [point.metrics["cv_roc_auc_mean"] for point in result.grid]
    best = result.grid[int(np.argmax(means))]
    assert best.rank == 1
    assert result.best_metrics["cv_roc_auc_mean"] == max(means)


def test_grid_search_is_reproducible(data, result: SearchResult):
    features, labels = data

    again = grid_search(features, labels, GRID, cv_folds=2, seed=0, refit_metric="accuracy")

    assert again.grid == result.grid
    np.testing.assert_array_equal(
        again.best_pipeline.predict_proba(features), result.best_pipeline.predict_proba(features)
    )


# ---------------------------------------------------------------- nested cross-validation

NESTED_GRID = {
    "random_forest": {"n_estimators": [8], "max_depth": [2, None]},
    "logistic_regression": {"C": [0.1, 1.0]},
}


def test_nested_cv_selects_and_fits_each_fold_without_its_held_out_rows(
    make_passengers, split_features
):
    """Each outer fold equals a grid search run on the other folds alone, then scored."""
    features, labels = split_features(make_passengers(90))

    folds = nested_cross_validation(
        features, labels, NESTED_GRID, outer_folds=3, inner_folds=2, seed=5,
        refit_metric="roc_auc",
    )  # fmt: skip

    outer = StratifiedKFold(n_splits=3, shuffle=True, random_state=5)
    for fold, (train_rows, test_rows) in enumerate(outer.split(features, labels)):
        alone = grid_search(
            features.iloc[train_rows], labels.iloc[train_rows], NESTED_GRID, cv_folds=2, seed=5,
            refit_metric="roc_auc",
        )  # fmt: skip
        probability = alone.best_pipeline.predict_proba(features.iloc[test_rows])[:, 1]
        scores = holdout_metrics(labels.iloc[test_rows].to_numpy(), probability)
        assert folds.loc[fold].to_dict() == {
            "model": alone.best_params["model"],
            **{name: scores[name] for name in ("accuracy", "roc_auc", "brier_score")},
        }
    assert len(folds) == 3


def test_holdout_split_is_stratified_seeded_and_reindexed(make_passengers):
    passengers = make_passengers(50)

    train, holdout = holdout_split(passengers, passengers["Survived"], test_fraction=0.2, seed=3)

    assert (len(train), len(holdout)) == (40, 10)
    assert list(train.index) == list(range(40))
    assert sorted([*train["PassengerId"], *holdout["PassengerId"]]) == list(range(1, 51))
    assert holdout["Survived"].mean() == pytest.approx(passengers["Survived"].mean(), abs=0.05)
    again, _ = holdout_split(passengers, passengers["Survived"], test_fraction=0.2, seed=3)
    pd.testing.assert_frame_equal(train, again)
