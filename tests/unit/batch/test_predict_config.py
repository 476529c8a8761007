"""The predict job's config: where its outputs go, its engine, and its one-line errors."""

from __future__ import annotations

import pytest

from titanic_model.batch.predict_config import PredictConfig
from titanic_model.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(environ) -> None:
    """Each test sets the variables it reads: none comes from the shell running the suite."""
    environ({})


def test_predict_outputs_default_to_siblings_of_the_input():
    config = PredictConfig.from_params({"input_uri": "data/test.csv"})

    assert config.output_uri == "data/test.predictions.csv"
    assert config.rejects_uri == "data/test.rejects.csv"
    assert config.model_uri == "models:/titanic@champion"
    assert config.chunk_rows == 50_000


def test_predict_rejects_sit_beside_an_explicit_output():
    config = PredictConfig.from_params(
        {"input_uri": "s3://b/in.csv", "output_uri": "s3://b/out.csv", "chunk_rows": "10"}
    )

    assert config.rejects_uri == "s3://b/out.rejects.csv"
    assert config.chunk_rows == 10


def test_the_spark_engine_writes_folders_beside_the_input():
    config = PredictConfig.from_params({"input_uri": "data/test.csv", "engine": "spark"})

    assert (config.output_uri, config.rejects_uri) == ("data/test.predictions", "data/test.rejects")
    assert config.overwrite is False
    folder = PredictConfig.from_params({"input_uri": "lake/passengers/", "engine": "spark"})
    assert folder.output_uri == "lake/passengers.predictions"
    assert PredictConfig.from_params({"input_uri": "t.csv"}).engine == "pandas"


def test_spark_settings_come_from_the_environment(environ):
    environ({"SPARK_MASTER": "spark://10.0.0.1:7077", "PYSPARK_PYTHON": "./env/bin/python"})
    config = PredictConfig.from_params({"input_uri": "t.csv", "engine": "spark"})

    assert config.spark.master == "spark://10.0.0.1:7077"
    assert config.spark.python == "./env/bin/python"
    assert "master" not in config.parameters()
    environ({"SPARK_MASTER": ""})
    unset = PredictConfig.from_params({"input_uri": "t.csv"}).spark
    assert (unset.master, unset.python) == (None, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"input_uri": "https://x/t.csv", "engine": "spark", "output_uri": "o"},
            "invalid parameter engine='spark': must be pandas or spark (spark reads paths, s3://",
        ),
        ({"input_uri": "t.csv", "engine": "dask"}, "invalid parameter engine='dask'"),
        ({"input_uri": "t.csv", "overwrite": "maybe"}, "invalid parameter overwrite='maybe'"),
        ({}, "invalid parameter input_uri=''"),
        ({"input_uri": " "}, "invalid parameter input_uri=' '"),
        ({"input_uri": "https://x/t.csv"}, "invalid parameter output_uri=''"),
        ({"input_uri": "t.csv", "chunk_rows": "0"}, "invalid parameter chunk_rows='0'"),
    ],
)
def test_predict_bad_parameters(params, message):
    with pytest.raises(ConfigError) as error:
        PredictConfig.from_params(params)
    assert str(error.value).startswith(message)
