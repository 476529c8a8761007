"""``engine=spark``: the same answers as the pandas engine, on Spark.

Real Spark (pyspark from PyPI on Debian's OpenJDK 17). Two tests run the job as a user does,
each in its own JVM: ``mlflow run . -e predict -P engine=spark`` and
``deployment/spark/submit.sh``. The others call the engine in this process on one shared
session (``local[2]``, on 127.0.0.1), whose JVM ends with the module; the pandas engine they
compare with runs in this process too. The tests read local files: ``s3a://`` needs
hadoop-aws on Spark's classpath, which cannot be fetched here (docs/batch.md says how it is
configured on a cluster); what is tested is the one-line error when it is missing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet
import pytest
from pyspark import SparkContext
from pyspark.sql import SparkSession

from tests.processes import PROJECT_ROOT
from tests.projects import EXPERIMENT, Project
from titanic_model.batch.predict_config import PredictConfig
from titanic_model.batch.spark import (
    check_outputs_free,
    read_passengers,
    score_passengers,
    spark_session,
)
from titanic_model.environment import SparkSettings
from titanic_model.io.data import DataSourceError
from titanic_model.io.model_files import download_verified
from titanic_model.jobs.predict import predict
from titanic_model.model.schema import SchemaError
from titanic_model.names import CHAMPION_URI

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
BROKEN_ROWS = [row for row, *_ in BROKEN]
PREDICTION_COLUMNS = ["row", "PassengerId", "survived", "probability"]
# Small splits: a CSV read line by line would be cut into several partitions.
SPLIT_BYTES = "8k"


@pytest.fixture(scope="module")
def mixed(test_csv) -> pd.DataFrame:
    """The test passengers with :data:`BROKEN` written in, as text (what a CSV holds)."""
    passengers = pd.read_csv(test_csv, dtype=str, keep_default_na=False)
    for row, column, value, _ in BROKEN:
        passengers.loc[row, column] = value
    return passengers


def _every_way_at_once(passengers: pd.DataFrame) -> pd.DataFrame:
    """Non-ASCII names, names broken inside their quotes (CRLF, and one bare LF)."""
    written = _quoted(_non_ascii(passengers), "\r\n")
    written.loc[300, "Name"] = written.loc[300, "Name"].replace(", ", ",\n", 1)
    return written


@pytest.fixture(scope="module")
def hard(mixed) -> pd.DataFrame:
    """:func:`mixed`, its names as :func:`_every_way_at_once` writes them."""
    return _every_way_at_once(mixed)


@pytest.fixture(scope="module")
def hard_csv(hard, tmp_path_factory) -> Path:
    """:func:`hard` in one file with a UTF-8 byte-order mark and CRLF line endings."""
    path = tmp_path_factory.mktemp("spark") / "hard.csv"
    hard.to_csv(path, index=False, lineterminator="\r\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfPassengerId,")
    return path


@pytest.fixture(scope="module")
def spark_conf_dir(tmp_path_factory) -> Path:
    """A ``spark-defaults.conf`` that sets the master and asks for small splits."""
    folder = tmp_path_factory.mktemp("spark-conf")
    (folder / "spark-defaults.conf").write_text(
        f"spark.master local[2]\nspark.sql.files.maxPartitionBytes {SPLIT_BYTES}\n"
    )
    return folder


@pytest.fixture(scope="module")
def store(registered, tmp_path_factory) -> Iterator[None]:
    """This process reads the registered project's store and logs to an experiment of its own."""
    artifacts = tmp_path_factory.mktemp("in-process-artifacts")
    experiment = registered.client.create_experiment("spark-in-process", str(artifacts))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
        patch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
        yield


@pytest.fixture(scope="module")
def model(store) -> str:
    """The champion's checked files, as the job hands them to Spark."""
    return str(download_verified(CHAMPION_URI).path)


def _processes_under(pid: int) -> set[int]:
    """The processes descended from ``pid``, from Linux's ``/proc``."""
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended while listed
        children.setdefault(parent, set()).add(int(stat.parent.name))
    found, parents = set(), [pid]
    while parents:
        new = children.get(parents.pop(), set()) - found
        found |= new
        parents.extend(new)
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no longer does: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One session for the module, its JVM ended with it (not left until pytest exits).

    Its teardown fails unless the JVM and every process under it (PySpark's daemon and the
    Python workers it forked, each holding a loaded model) have ended: later modules do not
    share the machine with them.
    """
    with pytest.MonkeyPatch.context() as patch:
        # spark_session sets these for Spark's launcher and workers: undone with the module.
        patch.setenv("MASTER", "")
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        session = spark_session(SparkSettings(master="local[2]"))
        jvm = SparkContext._gateway.proc
        session.conf.set("spark.sql.files.maxPartitionBytes", SPLIT_BYTES)
        try:
            yield session
        finally:
            workers = _processes_under(jvm.pid)
            session.stop()
            SparkContext._gateway.shutdown()
            SparkContext._gateway = SparkContext._jvm = None
            jvm.stdin.close()  # PySpark's JVM ends when its stdin does
            try:
                jvm.wait(timeout=60)
            finally:
                if jvm.poll() is None:
                    jvm.kill()
            # The daemon ends when the JVM does, and its workers with it.
            deadline = time.monotonic() + 60
            while (left := sorted(filter(_running, workers))) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not left, f"Spark's Python workers outlived its JVM: {left}"


@dataclass(frozen=True)
class Output:
    """What an engine made of a CSV: its predictions, its rejects and its counts."""

    predictions: pd.DataFrame
    rejects: pd.DataFrame
    counts: tuple[int, int]


def _pandas_engine(source: Path) -> Output:
    """``predict`` with the pandas engine, in this process; its CSVs read back."""
    output = source.with_name(f"{source.stem}.pandas.csv")
    with mlflow.start_run():
        counts = predict(PredictConfig(input_uri=str(source), output_uri=str(output)))
    return Output(
        pd.read_csv(output, float_precision="round_trip"),
        pd.read_csv(output.with_name(f"{source.stem}.pandas.rejects.csv"), dtype=str,
                    keep_default_na=False),
        (counts["rows_scored"], counts["rows_rejected"]),
    )  # fmt: skip


def _parquet(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder).sort_values("row", ignore_index=True)


def _spark_engine(spark: SparkSession, model: str, source: Path, folder: Path) -> Output:
    """The Spark engine's reading and scoring, on the shared session."""
    outputs = (folder / "predictions", folder / "rejects")
    passengers = read_passengers(spark, str(source))
    counts = score_passengers(spark, passengers, model, tuple(map(str, outputs)), False)
    return Output(_parquet(outputs[0]), _parquet(outputs[1]), counts)


@pytest.fixture(scope="module")
def pandas_engine(store, hard_csv) -> Output:
    """What the pandas engine made of the file written every way at once."""
    return _pandas_engine(hard_csv)


def test_spark_gives_the_pandas_engines_answers_to_the_last_bit(
    registered, hard, hard_csv, spark_conf_dir, pandas_engine, tmp_path
):
    """The job as a user runs it, on a file written every way at once.

    Compared with the pandas engine's ``predict`` on the same file: names that span lines
    inside their quotes, a byte-order mark, CRLF line endings, non-ASCII text, seven bad rows.
    """
    output = tmp_path / "predictions"
    env = {"SPARK_CONF_DIR": str(spark_conf_dir), "SPARK_MASTER": "local[1]"}
    result = Project(registered.tracking_uri, {**registered.env, **env}).run(
        "-P", f"input_uri={hard_csv}", "-P", "engine=spark", "-P", f"output_uri={output}",
        entry_point="predict", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    predictions = _parquet(output)
    assert predictions.columns.tolist() == PREDICTION_COLUMNS
    assert predictions.dtypes.astype(str).tolist() == ["int64", "int64", "int64", "float64"]
    pd.testing.assert_frame_equal(predictions, pandas_engine.predictions, check_exact=True)
    # Scored on spark-defaults.conf's master, local[2]: over its two cores, two files.
    assert len(list(output.glob("part-*.parquet"))) == 2

    rejects = _parquet(tmp_path / "predictions.rejects")
    assert rejects[["row", "reason"]].values.tolist() == [[r, why] for r, _, _, why in BROKEN]
    assert rejects.columns.tolist() == ["row", "reason", *hard.columns]
    # Every cell of every reject as the pandas engine wrote it (a missing cell is empty there).
    pd.testing.assert_frame_equal(rejects.fillna("").astype(str), pandas_engine.rejects)
    # The rows as pandas reads the file: every column, the bad value and the name as written.
    as_read = pd.read_csv(hard_csv, dtype=str).loc[BROKEN_ROWS].reset_index(drop=True)
    pd.testing.assert_frame_equal(rejects.drop(columns=["row", "reason"]), as_read)
    for index, (_, column, value, _) in enumerate(BROKEN):
        assert as_read.fillna("").loc[index, column] == value
    # Line breaks inside quotes, kept as written: a CRLF (row 5), a bare LF (row 300).
    assert as_read.loc[[0, 5], "Name"].tolist() == [
        "Østergaard,\r\nMr. Søren",
        "Nguyễn,\nMiss. Thị Mai 🌊",
    ]

    run = registered.latest_run()
    assert run.data.metrics == {"rows_total": 418, "rows_scored": 411, "rows_rejected": 7}
    assert run.data.params["engine"] == "spark"
    # spark-defaults.conf's master wins over SPARK_MASTER, as in Spark's own launcher.
    assert run.data.tags["spark_master"] == "local[2]"


def test_the_submit_script_runs_the_job_through_spark_submit(registered, test_csv, tmp_path):
    output = tmp_path / "submitted"
    command = [
        str(PROJECT_ROOT / "deployment" / "spark" / "submit.sh"),
        "--input_uri", str(test_csv), "--output_uri", str(output),
    ]  # fmt: skip
    env = {**registered.env, "SPARK_MASTER": "local[1]", "MLFLOW_EXPERIMENT_NAME": EXPERIMENT}
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = registered.latest_run()
    assert (run.data.params["engine"], run.data.tags["spark_master"]) == ("spark", "local[1]")
    assert len(_parquet(output)) == 418


def test_the_shared_session_is_the_configured_master_on_loopback(spark):
    assert spark.sparkContext.master == "local[2]"  # SparkSettings.master, not local[*]
    assert spark.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert spark.conf.get("spark.ui.enabled") == "false"


# --- CSV as pandas reads it ---------------------------------------------------------------------


def _quoted(passengers: pd.DataFrame, line_break: str) -> pd.DataFrame:
    """Names broken after the surname, inside their quotes, and backslashes before quotes.

    Row 52's name ends in quotes, doubled in the file; row 150's has a backslash before a
    quote and before its closing quote (no escape to RFC 4180). Rows 5 and 150 are rejected:
    the rejects show the names as read.
    """
    broken = passengers.copy()
    for row in (0, 5, 52, 200, 416):
        broken.loc[row, "Name"] = broken.loc[row, "Name"].replace(", ", f",{line_break}", 1)
    assert broken.loc[52, "Name"] == f'Hocking,{line_break}Miss. Ellen Nellie""'
    broken.loc[150, "Name"] = 'Slash, Mr. Back\\"Jack\\" \\'
    return broken


def _non_ascii(passengers: pd.DataFrame) -> pd.DataFrame:
    changed = passengers.copy()
    names = {
        1: "Müller, Mrs. Zoë (Ελένη Παπαδοπούλου)", 5: "Østergaard, Mr. Søren",
        50: "王, Mr. 小明", 300: "Nguyễn, Miss. Thị Mai 🌊", 301: "Ибрагимов, Mr. Ильдар",
    }  # fmt: skip
    for row, name in names.items():
        changed.loc[row, "Name"] = name
    changed.loc[50, "Ticket"] = "Ä/5 2117"
    return changed


# Where pandas sees a missing value: (row, column, marker); rows 14 and 15 lose a required one.
NA_MARKERS = [
    (10, "Cabin", "NA"), (11, "Age", "nan"), (12, "Embarked", "null"), (13, "Fare", "N/A"),
    (14, "Name", "None"), (15, "Ticket", "#N/A"), (16, "PassengerId", "NULL"),
]  # fmt: skip


def _na_markers(passengers: pd.DataFrame) -> pd.DataFrame:
    changed = passengers.copy()
    for row, column, marker in NA_MARKERS:
        changed.loc[row, column] = marker
    return changed


def _blank_lines(csv: str) -> str:
    """Lines of spaces and tabs, between records and at the end (no field spans lines here)."""
    lines = csv.split("\n")
    return "\n".join([*lines[:101], " \t ", *lines[101:-1], "   ", ""])


@dataclass(frozen=True)
class Dialect:
    """A way to write the mixed passengers, and the rows both engines must set aside."""

    write: Callable[[pd.DataFrame, Path], None]
    rejected: list[int]


DIALECTS = {
    "RFC 4180 quoting, LF line endings": Dialect(
        lambda p, path: _quoted(p, "\n").to_csv(path, index=False), BROKEN_ROWS
    ),
    "CRLF line endings, CRLF inside quotes": Dialect(
        lambda p, path: _quoted(p, "\r\n").to_csv(path, index=False, lineterminator="\r\n"),
        BROKEN_ROWS,
    ),
    "CR line endings, CR inside quotes": Dialect(
        lambda p, path: _quoted(p, "\r").to_csv(path, index=False, lineterminator="\r"),
        BROKEN_ROWS,
    ),
    "a UTF-8 byte-order mark": Dialect(
        lambda p, path: p.to_csv(path, index=False, encoding="utf-8-sig"), BROKEN_ROWS
    ),
    "non-ASCII text": Dialect(lambda p, path: _non_ascii(p).to_csv(path, index=False), BROKEN_ROWS),
    "pandas' missing-value markers": Dialect(
        lambda p, path: _na_markers(p).to_csv(path, index=False), sorted([*BROKEN_ROWS, 14, 15])
    ),
    "blank lines of spaces and tabs": Dialect(
        lambda p, path: path.write_text(_blank_lines(p.to_csv(index=False))), BROKEN_ROWS
    ),
}


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_spark_reads_a_csv_as_the_pandas_engine_does(spark, model, mixed, tmp_path, dialect):
    source = tmp_path / "passengers.csv"
    DIALECTS[dialect].write(mixed, source)
    expected = _pandas_engine(source)
    output = _spark_engine(spark, model, source, tmp_path)

    pd.testing.assert_frame_equal(output.predictions, expected.predictions, check_exact=True)
    rejected = DIALECTS[dialect].rejected
    assert output.counts == expected.counts == (418 - len(rejected), len(rejected))
    assert output.rejects["row"].tolist() == rejected
    assert output.rejects[["row", "reason"]].astype(str).equals(expected.rejects[["row", "reason"]])
    # The rejected rows as pandas reads the file's cells (as text, missing values as NaN).
    as_read = pd.read_csv(source, dtype=str).loc[output.rejects["row"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(output.rejects.drop(columns=["row", "reason"]), as_read)
    # Read in one partition (a quoted field may span lines), scored over both cores.
    assert len(list((tmp_path / "predictions").glob("part-*.parquet"))) == 2


# --- Parquet, outputs and errors ----------------------------------------------------------------


def test_a_folder_of_parquet_files_is_numbered_in_file_order(
    spark, model, test_csv, pandas_engine, tmp_path
):
    # Typed Parquet columns, as a warehouse writes them; bad values that such columns can hold.
    # The names the pandas engine read in the hard file, whose answers these are compared with.
    passengers = _every_way_at_once(pd.read_csv(test_csv))
    passengers = passengers.drop(index=BROKEN_ROWS).reset_index(drop=True)
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
    output = _spark_engine(spark, model, folder, tmp_path)

    assert output.rejects[["row", "reason"]].values.tolist() == [
        [3, "field 'Sex': 'x' is not one of female, male"],
        [250, "field 'Pclass': 5 is not one of 1, 2, 3"],
    ]
    rows = [*output.predictions["row"], *output.rejects["row"]]
    assert sorted(rows) == list(range(len(passengers)))
    # Each good passenger has the answer the pandas engine gave it in the CSV.
    expected = pandas_engine.predictions.set_index("PassengerId")
    answers = output.predictions.set_index("PassengerId")[["survived", "probability"]]
    pd.testing.assert_frame_equal(
        answers, expected.loc[answers.index, ["survived", "probability"]], check_exact=True
    )


def test_an_existing_output_is_kept_unless_overwrite_is_given(spark, model, test_csv, tmp_path):
    output, rejects, free = tmp_path / "out", tmp_path / "out.rejects", tmp_path / "free"
    output.mkdir()
    (output / "earlier.parquet").write_bytes(b"not ours to touch")
    with pytest.raises(DataSourceError) as caught:
        check_outputs_free(spark, (str(free), str(output), str(rejects)), overwrite=False)
    assert str(caught.value) == (
        f"cannot write {output}: it exists already (pass -P overwrite=true to replace it)"
    )
    assert [p.name for p in output.iterdir()] == ["earlier.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    check_outputs_free(spark, (str(output), str(rejects)), overwrite=True)
    passengers = read_passengers(spark, str(test_csv))
    counts = score_passengers(spark, passengers, model, (str(output), str(rejects)), True)
    assert counts == (418, 0)
    assert not (output / "earlier.parquet").exists()
    assert len(_parquet(output)) == 418


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


def test_a_header_without_the_required_columns_is_a_schema_error(spark, test_csv, tmp_path):
    no_name = tmp_path / "no_name.csv"
    pd.read_csv(test_csv).drop(columns=["Name"]).to_csv(no_name, index=False)
    with pytest.raises(SchemaError, match=r"^missing required column\(s\): Name$"):
        read_passengers(spark, str(no_name))
    other = tmp_path / "other.csv"
    other.write_text("PassengerId,Pclass,Sex\n1,3,male\n")
    with pytest.raises(
        SchemaError, match=r"^missing required column\(s\): Name, SibSp, Parch, Ticket$"
    ):
        read_passengers(spark, str(other))


def test_s3_without_hadoop_aws_says_what_is_missing(spark):
    with pytest.raises(DataSourceError) as caught:
        read_passengers(spark, "s3://bucket/passengers.csv")
    message = str(caught.value)
    assert message.startswith("cannot read input_uri s3://bucket/passengers.csv: ")
    assert "S3AFileSystem not found" in message
    assert "hadoop-aws" in message
    assert "\n" not in message
    assert "Exception" not in message
