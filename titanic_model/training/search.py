"""Cross-validated grid search over candidate classifiers (pure: no files, no MLflow)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from titanic_model.evaluation.metrics import holdout_metrics
from titanic_model.model.pipeline import build_classifier, build_pipeline
from titanic_model.names import CANDIDATE_PARAM, CV_METRICS, NESTED_CV_METRICS, cv_metric


@dataclass(frozen=True)
class GridPoint:
    """Cross-validation summary of one hyper-parameter combination.

    Attributes:
        params: ``model`` (the candidate's name) and its hyper-parameters.
        metrics: ``cv_<metric>_mean`` and ``cv_<metric>_std`` for every CV metric.
        rank: Rank on the refit metric (1 is best).
    """

    params: dict[str, object]
    metrics: dict[str, float]
    rank: int


@dataclass(frozen=True)
class SearchResult:
    """Outcome of the grid search.

    Attributes:
        best_pipeline: The best grid point's pipeline, refitted on all training rows.
        best_params: Its hyper-parameters.
        best_metrics: Its cross-validation metrics.
        grid: Every grid point, in grid order.
    """

    best_pipeline: Pipeline
    best_params: dict[str, object]
    best_metrics: dict[str, float]
    grid: tuple[GridPoint, ...]


def holdout_split(
    passengers: pd.DataFrame, labels: pd.Series, test_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split passengers into training rows and held-out rows, stratified on the labels.

    Args:
        passengers: The rows to split, as they are (raw or validated).
        labels: Their 0/1 outcomes, to keep the survival rate equal in both parts.
        test_fraction: Share of rows held out.
        seed: Seed of the split.

    Returns:
        The training rows and the held-out rows, each with a fresh index (a logged split, and
        so its dataset digest, carries no row positions).
    """
    train, holdout = train_test_split(
        passengers, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def grid_search(
    features: pd.DataFrame,
    labels: pd.Series,
    candidate_grids: dict[str, dict[str, list]],
    *,
    cv_folds: int,
    seed: int,
    refit_metric: str,
) -> SearchResult:
    """Cross-validate every grid point of every candidate and refit the best on all rows.

    Args:
        features: Validated passenger columns.
        labels: 0/1 survival labels.
        candidate_grids: Per candidate classifier (see :data:`~titanic_model.names.CANDIDATES`),
            its hyper-parameter grid, e.g. ``{"random_forest": {"max_depth": [6, 8]}}``.
        cv_folds: Number of stratified folds (shuffled with ``seed``); every point sees the
            same folds.
        seed: Seed of the folds and of the classifiers.
        refit_metric: The metric (one of :data:`~titanic_model.names.CV_METRICS`) that
            chooses the best point.

    Returns:
        The refitted best pipeline and a summary of every grid point; each point's params
        name its candidate under :data:`~titanic_model.names.CANDIDATE_PARAM`.
    """
    classifiers = {name: build_classifier(name, seed) for name in candidate_grids}
    names_by_classifier = {id(classifier): name for name, classifier in classifiers.items()}
    search = GridSearchCV(
        build_pipeline(seed),
        param_grid=[
            {"classifier": [classifiers[name]]}
            | {f"classifier__{param}": values for param, values in grid.items()}
            for name, grid in candidate_grids.items()
        ],
        scoring=list(CV_METRICS),
        refit=refit_metric,
        cv=StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed),
        error_score="raise",
    )
    search.fit(features, labels)
    results = search.cv_results_
    grid = tuple(
        GridPoint(
            params={CANDIDATE_PARAM: names_by_classifier[id(point["classifier"])]}
            | {
                name.removeprefix("classifier__"): value
                for name, value in point.items()
                if name != "classifier"
            },
            metrics={
                cv_metric(metric, stat): float(results[f"{stat}_test_{metric}"][i])
                for metric in CV_METRICS
                for stat in ("mean", "std")
            },
            rank=int(results[f"rank_test_{refit_metric}"][i]),
        )
        for i, point in enumerate(results["params"])
    )
    best = grid[search.best_index_]
    return SearchResult(search.best_estimator_, best.params, best.metrics, grid)


def nested_cross_validation(
    features: pd.DataFrame,
    labels: pd.Series,
    candidate_grids: dict[str, dict[str, list]],
    *,
    outer_folds: int,
    inner_folds: int,
    seed: int,
    refit_metric: str,
) -> pd.DataFrame:
    """Estimate how well the whole training procedure generalises, grid search included.

    Each outer fold runs the complete grid search on the other folds and scores the refitted
    winner on the held-out fold, so model selection never sees the rows it is scored on.

    Args:
        features: Validated passenger columns.
        labels: 0/1 survival labels.
        candidate_grids: As for :func:`grid_search`.
        outer_folds: Folds of the outer (scoring) loop.
        inner_folds: Folds of each inner grid search.
        seed: Seed of both loops and the classifiers.
        refit_metric: The metric that chooses each inner winner.

    Returns:
        One row per outer fold: the winner's ``model``, then its
        :data:`~titanic_model.names.NESTED_CV_METRICS` on the held-out fold.
    """
    folds = StratifiedKFold(n_splits=outer_folds, shuffle=True, random_state=seed)
    rows = []
    for train_index, test_index in folds.split(features, labels):
        search = grid_search(
            features.iloc[train_index],
            labels.iloc[train_index],
            candidate_grids,
            cv_folds=inner_folds,
            seed=seed,
            refit_metric=refit_metric,
        )
        probability = search.best_pipeline.predict_proba(features.iloc[test_index])[:, 1]
        scores = holdout_metrics(labels.iloc[test_index].to_numpy(), probability)
        rows.append(
            {CANDIDATE_PARAM: search.best_params[CANDIDATE_PARAM]}
            | {name: scores[name] for name in NESTED_CV_METRICS}
        )
    return pd.DataFrame(rows)
