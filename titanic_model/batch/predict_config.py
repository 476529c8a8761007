"""Batch scoring's config: the ``predict`` job's parameters and settings.

It lives beside the batch engines, as the serving layer's lives beside the layer
(:mod:`titanic_model.serving.settings`): the two ways of scoring passengers, each with its
inputs, outputs and model pin. Otherwise a job's config like those of
:mod:`titanic_model.config`: the command line parses it before it imports the job.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from titanic_model import names
from titanic_model.environment import ModelPin, SparkSettings, StorageConfig
from titanic_model.parameters import Flag, ModelUri, Params, Positive, Rule


def _sibling(uri: str, suffix: str) -> str:
    """``data/test.csv`` or ``data/test.predictions.csv`` -> ``data/test<suffix>``."""
    for extension in (".csv", ".parquet", "/"):
        uri = uri.removesuffix(extension)
    return uri.removesuffix(".predictions") + suffix


class PredictConfig(Params):
    """``predict`` (batch scoring): what to score with which model, and where the rows go."""

    input_uri: Annotated[str, Field(min_length=1), Rule("the CSV to score")]
    """raw passengers: a CSV (local path, https:// or s3://); with engine=spark, a CSV or
    Parquet file or a folder of Parquet files"""
    engine: Annotated[
        Literal["pandas", "spark"],
        Rule("pandas or spark (spark reads paths, s3:// and Hadoop URIs, not https://)"),
    ] = "pandas"
    """pandas: one process, in chunks; spark: mlflow.pyfunc.spark_udf"""
    output_uri: Annotated[str, Rule("given when input_uri is a URL")] = Field(
        "", validate_default=True
    )
    """predictions; empty: <input>.predictions.csv (spark: a folder, <input>.predictions)"""
    rejects_uri: Annotated[str, Rule("a path or URI")] = Field("", validate_default=True)
    """rejected rows; empty: <output>.rejects.csv (spark: <output>.rejects)"""
    model_uri: ModelUri = names.CHAMPION_URI
    """model to score with"""
    chunk_rows: Positive = 50_000
    """rows read, scored and written at a time (engine=pandas)"""
    overwrite: Flag = False
    """engine=spark: replace existing output folders instead of failing"""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    pin: ModelPin = Field(default_factory=ModelPin)

    @field_validator("engine")
    @classmethod
    def _spark_reads_no_urls(cls, engine: str, info: ValidationInfo) -> str:
        if engine == "spark" and info.data.get("input_uri", "").startswith(("http://", "https://")):
            raise ValueError("Spark reads no URLs")
        return engine

    @field_validator("output_uri", "rejects_uri")
    @classmethod
    def _beside(cls, uri: str, info: ValidationInfo) -> str:
        """Empty: the predictions beside the input, the rejects beside the predictions."""
        output = info.field_name == "output_uri"
        source = info.data.get("input_uri" if output else "output_uri")
        if uri or not source:
            return uri
        if output and source.startswith(("http://", "https://")):
            raise ValueError("a URL input needs an output_uri")
        suffix = ".predictions" if output else ".rejects"
        return _sibling(source, suffix if info.data.get("engine") == "spark" else f"{suffix}.csv")
