"""``mlflow run . -e predict -P engine=spark``: the same answers as the pandas engine, on Spark.

Real Spark (pyspark from PyPI on Debian's OpenJDK 17), on ``local[2]``. The tests read local
files: ``s3a://`` needs hadoop-aws on Spark's classpath, which cannot be fetched here
(docs/batch.md says how it is configured on a cluster); what is tested is the one-line error
when it is missing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet
import pytest

from tests.processes import PROJECT_ROOT
from tests.projects import EXPERIMENT, Project
from titanic_model.batch.spark import check_outputs_free, read_passengers, spark_session
from titanic_model.environment import SparkSettings
from titanic_model.io.data import DataSourceError
from titanic_model.model.schema import SchemaError

pytestmark = pytest.mark.integration

# Bad rows injected among Kaggle's 418 test passengers: (row, column, value as written, reason).
BROKEN = [
    (5, "Sex", "x", "field 'Sex': 'x' is not one of female, male"),
    (150, "Pclass", "2.5", "field 'Pclass': 2.5 is not an integer"),
    (151, "Age", "-4", "field 'Age': -4 is not a number in [0, 120]"),
    (152, "Age", "old", "field 'Age': 'old' is not a number"),
    (299, "Embarked", "Z", "field 'Embarked': 'Z' is not one of C, Q, S"),
    (300, "Fare", "inf", "field 'Fare': must be a finite number"),
    (417, "Name", "", "field 'Name': is required"),
]
PREDICTION_COLUMNS = ["row", "PassengerId", "survived", "probability"]


@pytest.fixture(scope="module")
def mixed_csv(test_csv, tmp_path_factory) -> Path:
    """The test passengers with :data:`BROKEN` written in, as text (what a CSV holds)."""
    passengers = pd.read_csv(test_csv, dtype=str, keep_default_na=False)
    for row, column, value, _ in BROKEN:
        passengers.loc[row, column] = value
    path = tmp_path_factory.mktemp("spark") / "mixed.csv"
    passengers.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def spark_conf_dir(tmp_path_factory) -> Path:
    """A ``spark-defaults.conf`` that sets the master and splits a small file into partitions."""
    folder = tmp_path_factory.mktemp("spark-conf")
    (folder / "spark-defaults.conf").write_text(
        "spark.master local[2]\nspark.sql.files.maxPartitionBytes 8k\n"
    )
    return folder


def _predict(project: Project, *params: str, env: dict[str, str] | None = None):
    options = [option for param in params for option in ("-P", param)]
    if env:
        project = Project(project.tracking_uri, {**project.env, **env})
    return project.run(*options, entry_point="predict", timeout=300)


def _parquet(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder).sort_values("row", ignore_index=True)


@pytest.fixture(scope="module")
def pandas_engine(registered, mixed_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the single-process engine made of the mixed file: predictions and rejects."""
    output = mixed_csv.with_name("pandas.csv")
    result = _predict(registered, f"input_uri={mixed_csv}", f"output_uri={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = pd.read_csv(output, float_precision="round_trip")
    rejects = pd.read_csv(output.with_name("pandas.rejects.csv"), dtype=str, keep_default_na=False)
    return predictions, rejects


def test_spark_gives_the_pandas_engines_answers_to_the_last_bit(
    registered, mixed_csv, spark_conf_dir, pandas_engine, tmp_path
):
    output = tmp_path / "predictions"
    result = _predict(
        registered, f"input_uri={mixed_csv}", "engine=spark", f"output_uri={output}",
        env={"SPARK_CONF_DIR": str(spark_conf_dir), "SPARK_MASTER": "local[1]"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # spark-defaults.conf was read: its small splits made several partitions, several files.
    assert len(list(output.glob("part-*.parquet"))) > 1

    predictions = _parquet(output)
    assert predictions.columns.tolist() == PREDICTION_COLUMNS
    assert predictions.dtypes.astype(str).tolist() == ["int64", "int64", "int64", "float64"]
    expected_predictions, expected_rejects = pandas_engine
    pd.testing.assert_frame_equal(predictions, expected_predictions, check_exact=True)

    rejects = _parquet(tmp_path / "predictions.rejects")
    assert rejects[["row", "reason"]].values.tolist() == [[r, why] for r, _, _, why in BROKEN]
    assert rejects[["row", "reason"]].astype(str).equals(expected_rejects[["row", "reason"]])
    # The rows as read: every column of the input, the bad value as it was written.
    passengers = pd.read_csv(mixed_csv, dtype=str, keep_default_na=False)
    as_read = rejects.fillna("")  # CSV's empty field is a null in Spark's row
    for index, (row, column, value, _) in enumerate(BROKEN):
        assert as_read.loc[index, column] == value
        assert as_read.loc[index, "Name"] == passengers.loc[row, "Name"]
    assert rejects.columns.tolist() == ["row", "reason", *passengers.columns]

    run = registered.latest_run()
    assert run.data.metrics == {"rows_total": 418, "rows_scored": 411, "rows_rejected": 7}
    assert run.data.params["engine"] == "spark"
    # spark-defaults.conf's master wins over SPARK_MASTER, as in Spark's own launcher.
    assert run.data.tags["spark_master"] == "local[2]"


def test_a_folder_of_parquet_files_is_numbered_in_file_order(
    registered, test_csv, pandas_engine, tmp_path
):
    # Typed Parquet columns, as a warehouse writes them; bad values that such columns can hold.
    passengers = pd.read_csv(test_csv).drop(index=[r for r, *_ in BROKEN]).reset_index(drop=True)
    passengers.loc[3, "Sex"] = "x"
    passengers.loc[250, "Pclass"] = 5
    folder = tmp_path / "passengers"
    folder.mkdir()
    for index, start in enumerate(range(0, len(passengers), 140)):
        part = passengers.iloc[start : start + 140]
        pyarrow.parquet.write_table(
            pyarrow.Table.from_pandas(part, preserve_index=False),
            folder / f"part-{index}.parquet",
        )
    (folder / "_SUCCESS").touch()
    result = _predict(registered, f"input_uri={folder}", "engine=spark")
    assert result.returncode == 0, result.stderr[-3000:]

    predictions = _parquet(tmp_path / "passengers.predictions")
    rejects = _parquet(tmp_path / "passengers.rejects")
    assert rejects[["row", "reason"]].values.tolist() == [
        [3, "field 'Sex': 'x' is not one of female, male"],
        [250, "field 'Pclass': 5 is not one of 1, 2, 3"],
    ]
    assert sorted([*predictions["row"], *rejects["row"]]) == list(range(len(passengers)))
    # Each good passenger has the answer the pandas engine gave it in the CSV.
    expected = pandas_engine[0].set_index("PassengerId")
    answers = predictions.set_index("PassengerId")[["survived", "probability"]]
    pd.testing.assert_frame_equal(
        answers, expected.loc[answers.index, ["survived", "probability"]], check_exact=True
    )


def test_bad_input_fails_in_one_line_before_anything_is_written(registered, test_csv, tmp_path):
    source = tmp_path / "no_name.csv"
    pd.read_csv(test_csv).drop(columns=["Name"]).to_csv(source, index=False)
    result = _predict(registered, f"input_uri={source}", "engine=spark")
    assert result.returncode != 0
    assert "error: missing required column(s): Name" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_name.csv"]


def test_an_existing_output_is_kept_unless_overwrite_is_given(registered, test_csv, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "earlier.parquet").write_bytes(b"not ours to touch")
    result = _predict(registered, f"input_uri={test_csv}", "engine=spark", f"output_uri={output}")
    assert result.returncode != 0
    assert (
        f"error: cannot write {output}: it exists already (pass -P overwrite=true to replace it)"
        in result.stderr
    )
    assert [p.name for p in output.iterdir()] == ["earlier.parquet"]
    assert not (tmp_path / "out.rejects").exists()

    result = _predict(
        registered, f"input_uri={test_csv}", "engine=spark", f"output_uri={output}",
        "overwrite=true", env={"SPARK_MASTER": "local[1]"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (output / "earlier.parquet").exists()
    assert len(_parquet(output)) == 418
    assert registered.latest_run().data.tags["spark_master"] == "local[1]"


@pytest.fixture(scope="module")
def spark() -> Iterator:
    session = spark_session(SparkSettings(master="local[2]"))
    yield session
    session.stop()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "no such file or folder"),
        ("empty.csv", b"", "the file is empty"),
        ("passengers.json", b"{}", "engine=spark reads a .csv or .parquet file"),
        ("broken.parquet", b"PAR1 not parquet", "Could not read footer"),
    ],
)
def test_unreadable_inputs_are_one_line_errors(spark, tmp_path, name, content, message):
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(DataSourceError, match=f"^cannot read input_uri {source}: ") as caught:
        read_passengers(spark, str(source)).count()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "Exception" not in str(caught.value)


def test_a_header_without_the_required_columns_is_a_schema_error(spark, tmp_path):
    source = tmp_path / "other.csv"
    source.write_text("PassengerId,Pclass,Sex\n1,3,male\n")
    with pytest.raises(
        SchemaError, match=r"^missing required column\(s\): Name, SibSp, Parch, Ticket$"
    ):
        read_passengers(spark, str(source))


def test_s3_without_hadoop_aws_says_what_is_missing(spark):
    with pytest.raises(DataSourceError) as caught:
        read_passengers(spark, "s3://bucket/passengers.csv")
    message = str(caught.value)
    assert message.startswith("cannot read input_uri s3://bucket/passengers.csv: ")
    assert "S3AFileSystem not found" in message
    assert "hadoop-aws" in message
    assert "\n" not in message
    assert "Exception" not in message


def test_outputs_are_checked_before_writing(spark, tmp_path):
    (tmp_path / "taken").mkdir()
    free, taken = str(tmp_path / "free"), str(tmp_path / "taken")
    check_outputs_free(spark, (free,), overwrite=False)
    with pytest.raises(DataSourceError, match="it exists already"):
        check_outputs_free(spark, (free, taken), overwrite=False)
    check_outputs_free(spark, (free, taken), overwrite=True)


def test_the_submit_script_runs_the_job_through_spark_submit(registered, test_csv, tmp_path):
    output = tmp_path / "submitted"
    command = [
        str(PROJECT_ROOT / "deployment" / "spark" / "submit.sh"),
        "--input_uri", str(test_csv), "--output_uri", str(output),
    ]  # fmt: skip
    env = {**registered.env, "SPARK_MASTER": "local[2]", "MLFLOW_EXPERIMENT_NAME": EXPERIMENT}
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = registered.latest_run()
    assert (run.data.params["engine"], run.data.tags["spark_master"]) == ("spark", "local[2]")
    assert len(_parquet(output)) == 418
