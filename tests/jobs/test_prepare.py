from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from titanic_model.io.data import DataSourceError
from titanic_model.io.runs import load_split
from titanic_model.jobs.prepare import prepare
from titanic_model.model.schema import SchemaError


def test_prepare_logs_a_stratified_split_with_its_lineage(store):
    with mlflow.start_run() as run:
        run_id = prepare(store.prepare(test_fraction="0.25", seed="3"))

    assert run_id == run.info.run_id
    logged = store.client.get_run(run_id)
    assert logged.data.tags["data_uri"] == store.data_uri
    assert logged.data.params == {"data_uri": store.data_uri, "test_fraction": "0.25", "seed": "3"}
    assert logged.data.metrics == {"rows_raw": 160, "rows_train": 120, "rows_holdout": 40}
    inputs = {i.dataset.name: i for i in logged.inputs.dataset_inputs}
    assert set(inputs) == {"train", "holdout"}
    for name in ("train", "holdout"):
        assert logged.data.tags[f"{name}_digest"] == inputs[name].dataset.digest
        assert inputs[name].dataset.source == f'{{"uri": "{store.data_uri}"}}'

    raw = pd.read_csv(store.data_uri)
    train, holdout = load_split(run_id, "train"), load_split(run_id, "holdout")
    assert sorted([*train["PassengerId"], *holdout["PassengerId"]]) == sorted(raw["PassengerId"])
    assert train["Survived"].mean() == pytest.approx(raw["Survived"].mean(), abs=0.02)
    assert holdout["Survived"].mean() == pytest.approx(raw["Survived"].mean(), abs=0.02)


def test_the_same_seed_gives_the_same_split(store):
    splits = []
    for _ in range(2):
        with mlflow.start_run():
            splits.append(load_split(prepare(store.prepare()), "holdout"))
    pd.testing.assert_frame_equal(*splits)


def test_bad_data_fails_before_anything_is_logged(store, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.read_csv(store.data_uri).assign(Sex="x").to_csv(bad, index=False)

    with mlflow.start_run() as bad_rows, pytest.raises(SchemaError, match="row 0: field 'Sex'"):
        prepare(store.prepare(data_uri=str(bad)))
    with mlflow.start_run() as no_file, pytest.raises(DataSourceError, match="no such file"):
        prepare(store.prepare(data_uri=str(tmp_path / "missing.csv")))

    for run in (bad_rows, no_file):
        logged = store.client.get_run(run.info.run_id)
        assert [tag for tag in logged.data.tags if not tag.startswith("mlflow.")] == []
        assert (logged.data.params, logged.data.metrics) == ({}, {})
        assert logged.inputs.dataset_inputs == []
        assert store.client.list_artifacts(run.info.run_id) == []
