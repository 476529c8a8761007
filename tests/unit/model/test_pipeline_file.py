"""The pipeline as a skops file: trusted types exactly, a tampered file refused, no pickle."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from titanic_model.config import SearchConfig
from titanic_model.model.pyfunc import (
    TRUSTED_TYPES,
    TitanicSurvivalModel,
    UntrustedPipelineError,
    load_pipeline,
    save_pipeline,
)
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.names import CANDIDATES
from titanic_model.training.search import grid_search, holdout_split

SMALL_GRIDS = {
    "random_forest": {"n_estimators": [20], "max_depth": [6]},
    "hist_gradient_boosting": {"learning_rate": [0.1]},
    "logistic_regression": {"C": [1.0]},
}


@pytest.fixture(scope="module", params=CANDIDATES)
def fitted(request, make_passengers, split_features) -> Pipeline:
    """The pipeline with each candidate, fitted on hand-made passengers."""
    features, labels = split_features(make_passengers(60))
    grid = {request.param: SMALL_GRIDS[request.param]}
    return grid_search(
        features, labels, grid, cv_folds=2, seed=0, refit_metric="accuracy"
    ).best_pipeline


def test_the_trusted_types_are_exactly_what_our_pipelines_need(
    tmp_path, make_passengers, split_features
):
    features, labels = split_features(make_passengers(60))
    needed = set()
    for candidate in CANDIDATES:
        pipeline = grid_search(
            features,
            labels,
            {candidate: SMALL_GRIDS[candidate]},
            cv_folds=2,
            seed=0,
            refit_metric="accuracy",
        ).best_pipeline
        save_pipeline(pipeline, tmp_path / f"{candidate}.skops")
        needed |= set(skops.io.get_untrusted_types(file=tmp_path / f"{candidate}.skops"))
    assert needed == set(TRUSTED_TYPES)  # nothing missing, nothing broader
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))


def test_a_saved_pipeline_loads_and_predicts_the_same(
    fitted, tmp_path, make_passengers, split_features
):
    path = tmp_path / "pipeline.skops"
    save_pipeline(fitted, path)

    loaded = load_pipeline(path)

    features, _ = split_features(make_passengers(60))
    np.testing.assert_array_equal(loaded.predict_proba(features), fitted.predict_proba(features))
    assert path.read_bytes()[:2] == b"PK"  # a zip of JSON and arrays, not a pickle


def test_a_tampered_file_is_refused_in_one_line_naming_the_type(tmp_path):
    path = tmp_path / "pipeline.skops"
    skops.io.dump(Pipeline([("run", FunctionTransformer(os.system))]), path)

    with pytest.raises(UntrustedPipelineError) as refused:
        load_pipeline(path)

    assert refused.value.message == (
        "refusing to load pipeline.skops: it references untrusted type(s) posix.system"
    )
    model = TitanicSurvivalModel()
    with pytest.raises(UntrustedPipelineError):
        model.load_context(type("Context", (), {"artifacts": {"pipeline": str(path)}})())
    assert not hasattr(model, "pipeline")


# ---------------------------------------------------------------- skops against pickle


@pytest.fixture(scope="module")
def kaggle(train_csv, test_csv) -> dict[str, pd.DataFrame]:
    labelled = validate_passengers(pd.read_csv(train_csv), with_label=True)
    train, holdout = holdout_split(labelled, labelled[LABEL], test_fraction=0.2, seed=42)
    return {
        "train": train, "holdout": holdout.drop(columns=[LABEL]),
        "test": validate_passengers(pd.read_csv(test_csv)),
    }  # fmt: skip


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_skops_gives_the_pickled_models_probabilities_to_the_bit(candidate, kaggle, tmp_path):
    """What the registry held before (a pickle) and holds now (skops), side by side."""
    train = kaggle["train"]
    search = SearchConfig()
    grid = {candidate: {k: v[:1] for k, v in search.candidate_grids()[candidate].items()}}
    pipeline = grid_search(
        train.drop(columns=[LABEL]),
        train[LABEL].astype(int),
        grid,
        cv_folds=2,
        seed=42,
        refit_metric="accuracy",
    ).best_pipeline
    pickled = pickle.loads(pickle.dumps(pipeline))
    save_pipeline(pipeline, tmp_path / "pipeline.skops")
    from_skops = load_pipeline(tmp_path / "pipeline.skops")

    for name, frame in kaggle.items():
        passengers = frame.drop(columns=[LABEL], errors="ignore")
        np.testing.assert_array_equal(
            from_skops.predict_proba(passengers), pickled.predict_proba(passengers), err_msg=name
        )
