"""Cross-validated grid search over candidate classifiers (pure: no files, no MLflow)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from titanic_model.pipeline import build_classifier, build_pipeline

CV_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")


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
        candidate_grids: Per candidate classifier (see :data:`~titanic_model.pipeline.CANDIDATES`),
            its hyper-parameter grid, e.g. ``{"random_forest": {"max_depth": [6, 8]}}``.
        cv_folds: Number of stratified folds (shuffled with ``seed``); every point sees the
            same folds.
        seed: Seed of the folds and of the classifiers.
        refit_metric: The metric (one of :data:`CV_METRICS`) that chooses the best point.

    Returns:
        The refitted best pipeline and a summary of every grid point; each point's params
        name its candidate under ``"model"``.
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
            params={"model": names_by_classifier[id(point["classifier"])]}
            | {
                name.removeprefix("classifier__"): value
                for name, value in point.items()
                if name != "classifier"
            },
            metrics={
                f"cv_{metric}_{stat}": float(results[f"{stat}_test_{metric}"][i])
                for metric in CV_METRICS
                for stat in ("mean", "std")
            },
            rank=int(results[f"rank_test_{refit_metric}"][i]),
        )
        for i, point in enumerate(results["params"])
    )
    best = grid[search.best_index_]
    return SearchResult(search.best_estimator_, best.params, best.metrics, grid)
