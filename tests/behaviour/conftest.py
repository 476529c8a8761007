"""The model ``make run`` registers, trained once for the behaviour tests."""

from __future__ import annotations

import pandas as pd
import pytest
from joblib import parallel_config
from joblib.externals.loky import get_reusable_executor

from titanic_model.config import TrainConfig
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.training.search import SearchResult, grid_search, holdout_split


@pytest.fixture(scope="session")
def search(train_csv) -> SearchResult:
    """The default search on the training split that ``prepare`` cuts, as ``make run`` does."""
    config = TrainConfig()
    labelled = validate_passengers(pd.read_csv(train_csv), with_label=True)
    training, _ = holdout_split(labelled, labelled[LABEL], config.test_fraction, config.seed)
    # The grid's fits on every core: each fit is seeded, so the search is the same as in one
    # process, in about half the time on two cores. The workers end with the search.
    with parallel_config(n_jobs=-1):
        result = grid_search(
            training.drop(columns=[LABEL]),
            training[LABEL].astype(int),
            config.candidate_grids(),
            cv_folds=config.cv_folds,
            seed=config.seed,
            refit_metric=config.refit_metric,
        )
    get_reusable_executor().shutdown(wait=True)
    return result


@pytest.fixture(scope="session")
def pipeline(search):
    return search.best_pipeline
