from __future__ import annotations

import io

import mlflow
import pandas as pd

from titanic_model.config import CrossValidateConfig
from titanic_model.jobs.cross_validate import cross_validate
from titanic_model.model.schema import LABEL, validate_passengers
from titanic_model.training.search import nested_cross_validation


def test_cross_validate_logs_the_nested_cv_of_the_search(store):
    search = store.search(candidates="logistic_regression,random_forest", cv_folds="3")
    config = CrossValidateConfig.of(search, data_uri=store.data_uri)

    with mlflow.start_run() as run:
        summary = cross_validate(config)

    passengers = validate_passengers(pd.read_csv(store.data_uri), with_label=True)
    folds = nested_cross_validation(
        passengers.drop(columns=[LABEL]), passengers[LABEL].astype(int), search.candidate_grids(),
        outer_folds=3, inner_folds=3, seed=42, refit_metric="accuracy",
    )  # fmt: skip
    assert summary == {
        f"nested_cv_{metric}_{statistic}": getattr(folds[metric], statistic)()
        for metric in ("accuracy", "roc_auc", "brier_score")
        for statistic in ("mean", "std")
    }
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.metrics == summary | {"rows": 160}
    assert logged.data.params["cv_folds"] == "3"
    table = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/nested_cv_folds.csv")
    pd.testing.assert_frame_equal(
        pd.read_csv(io.StringIO(table), index_col="outer_fold"), folds, check_names=False
    )
    (dataset,) = logged.inputs.dataset_inputs
    assert dataset.dataset.name == "passengers"
