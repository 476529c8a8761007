"""Batch scoring on Apache Spark: the registered model through ``mlflow.pyfunc.spark_udf``.

The model scores in Spark's Python workers, partition by partition, in the model's
``invalid_rows=reason`` mode: a bad row comes back with the rule it broke instead of failing
its task, through the same :func:`titanic_model.model.scoring.score_with_reasons` as the
single-machine path, so both engines give the same answers and reasons. The driver checks the
model's files against their digest and hands the workers that checked copy; the workers, which
import nothing of this project before the model, run the version's own code. The driver never
collects rows: it reads the input's schema (and a CSV's first bytes, for its line break),
counts rows per partition or file (to number them), and writes.

Every check that can fail on the user's input (the input exists, is not empty, has the
required columns; the outputs do not exist yet) runs before anything is written.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import mlflow
from py4j.protocol import Py4JJavaError
from pyspark import SparkConf, SparkContext
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (Spark's own convention)

from titanic_model.environment import SPARK_PYTHON_VARIABLE, SparkSettings
from titanic_model.errors import one_line
from titanic_model.io.data import DataSourceError
from titanic_model.model.schema import PASSENGER_ID, check_required_columns
from titanic_model.names import (
    INVALID_ROWS_PARAM,
    PROBABILITY_COLUMN,
    REASON_COLUMN,
    REASON_FOR_INVALID_ROWS,
    ROW_COLUMN,
    SURVIVED_COLUMN,
)

logger = logging.getLogger(__name__)

APP_NAME = "titanic-predict"
# The model's answer in reason mode (scoring.REASONED_COLUMNS) as a Spark struct. Integers come
# as doubles: spark_udf cannot convert a nullable integer column that holds nulls to long
# (a rejected row has no answer), and a double holds every PassengerId the schema allows
# (< 2**53) exactly.
ANSWER_TYPE = (
    f"{PASSENGER_ID} double, {SURVIVED_COLUMN} double, {PROBABILITY_COLUMN} double, "
    f"{REASON_COLUMN} string"
)
_ANSWER = "_answer"
# "java.lang.RuntimeException: " and Spark's "[ERROR_CLASS.SUB_CLASS] " before a message.
_JAVA_PREFIX = re.compile(r"^(?:(?:[a-z]\w*\.)+[A-Z][\w$]*(?:Exception|Error): |\[[A-Z_.]+\] )")
ARROW_BATCH_ROWS = 50_000
_LOCAL_DEFAULTS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
}
# monotonically_increasing_id() puts the partition in the bits above these.
_ROW_IN_PARTITION_BITS = 33
# What the pandas engine's read_csv takes for a missing value by default (pandas'
# STR_NA_VALUES): the same cells are nulls here, so that "NA" in Age is a missing age to both.
PANDAS_NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
# Enough of a CSV's start to hold its header line, whose line break is the file's.
_HEAD_BYTES = 64 * 1024


def spark_session(settings: SparkSettings) -> SparkSession:
    """The active Spark session, or a new one on the configured master.

    The master is Spark's own choice, in its order: ``spark-submit --master``, then
    ``spark.master`` in ``spark-defaults.conf``, then ``settings.master`` (handed to Spark's
    launcher as its ``MASTER`` variable), then ``local[*]``. On a local master, the workers run
    this process's Python unless ``settings.python`` names another.

    Args:
        settings: Master and worker Python from the environment.

    Returns:
        The session.
    """
    if settings.master:
        os.environ["MASTER"] = settings.master
    # Spark's JVM first (or the one spark-submit started): only a configuration read there
    # holds spark-submit's options, spark-defaults.conf and the master its launcher chose.
    SparkContext._ensure_initialized()
    conf = SparkConf()
    if conf.get("spark.app.name") == "pyspark-shell":  # PySpark's name for "none given"
        conf.setAppName(APP_NAME)
    if (conf.get("spark.master") or "").startswith("local"):
        # One machine: Spark listens on loopback only, and without its web UI; its progress
        # bars (PySpark turns them on) would garble the job's log.
        for key, value in _LOCAL_DEFAULTS.items():
            conf.setIfMissing(key, value)
        conf.set("spark.ui.showConsoleProgress", "false")
        if not settings.python:
            # PySpark forks its workers from PYSPARK_PYTHON, else "python3" on the PATH: not
            # necessarily the venv that has pandas, scikit-learn and MLflow.
            os.environ[SPARK_PYTHON_VARIABLE] = sys.executable
    session = SparkSession.builder.config(conf=conf).getOrCreate()
    logger.info("scoring on Spark master %s", session.sparkContext.master)
    return session


def _spark_reason(error: Exception) -> str:
    """The first line of a Spark or JVM error, without Java's class names and error codes.

    ``org.apache.spark.SparkException: [FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER] Encountered
    error while reading file …`` becomes ``Encountered error while reading file …``.
    """
    if isinstance(error, Py4JJavaError):
        text = str(error.java_exception.toString())
    else:
        text = str(error.getMessage() if isinstance(error, PySparkException) else error)
    line = one_line(text) if text.strip() else type(error).__name__
    while True:
        shorter = _JAVA_PREFIX.sub("", line, count=1)
        if shorter == line:
            return line
        line = shorter


@contextmanager
def _spark_errors(uri: str, action: str) -> Iterator[None]:
    """Turn Spark's and the JVM's errors about a location into one-line errors."""
    try:
        yield
    except (Py4JJavaError, PySparkException) as error:
        reason = _spark_reason(error)
        if "S3AFileSystem not found" in reason or 'No FileSystem for scheme "s3' in reason:
            reason += " (s3a:// needs hadoop-aws on Spark's classpath: see docs/batch.md)"
        raise DataSourceError(f"cannot {action} {uri}: {reason}") from None


def hadoop_uri(uri: str) -> str:
    """``s3://`` as Hadoop's S3 connector spells it (``s3a://``); anything else as given."""
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


class _Location:
    """A file or folder seen through Spark's Hadoop file system (local, s3a://, hdfs://…)."""

    def __init__(self, spark: SparkSession, uri: str):
        jvm: Any = spark.sparkContext._jvm
        self.path = jvm.org.apache.hadoop.fs.Path(uri)
        self.filesystem = self.path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self) -> bool:
        return bool(self.filesystem.exists(self.path))

    @cached_property
    def is_folder(self) -> bool:
        """Whether it is a folder: asked of the file system once (a request, on S3)."""
        return bool(self.filesystem.getFileStatus(self.path).isDirectory())

    def head(self, size: int) -> bytes:
        """The file's first ``size`` bytes, or all of them if it is shorter."""
        stream = self.filesystem.open(self.path)
        try:
            return bytes(stream.readNBytes(size))
        finally:
            stream.close()

    def data_size(self) -> int:
        """Bytes in the file, or in the folder's files not hidden from Spark (_*, .*)."""
        if not self.is_folder:
            return int(self.filesystem.getFileStatus(self.path).getLen())
        return sum(
            int(status.getLen())
            for status in self.filesystem.listStatus(self.path)
            if not status.getPath().getName().startswith(("_", "."))
        )


def read_passengers(spark: SparkSession, uri: str) -> DataFrame:
    """Read raw passengers from a CSV file, a Parquet file or a folder of Parquet files.

    A CSV is read as text, every column: the model's schema reads numbers from text as the
    single-machine path does, and a bad value reaches it as written instead of becoming a
    silent null. It is read as the pandas engine reads it (:func:`_read_csv`).

    Args:
        spark: The session.
        uri: Where the input is (``s3://`` is read as ``s3a://``).

    Returns:
        The rows, as read, with a ``row`` column first: the position in the file for a CSV,
        else the position in the files taken in name order (stable for the same input).

    Raises:
        DataSourceError: When the input is missing, empty, unreadable or of another kind.
        SchemaError: When a required column is absent.
    """
    source = hadoop_uri(uri)
    with _spark_errors(uri, "read input_uri"):
        location = _Location(spark, source)
        if not location.exists():
            raise DataSourceError(f"cannot read input_uri {uri}: no such file or folder")
        is_csv = source.endswith(".csv")
        if is_csv and location.is_folder:
            raise DataSourceError(f"cannot read input_uri {uri}: a .csv must be a file")
        if not (is_csv or source.endswith(".parquet") or location.is_folder):
            raise DataSourceError(
                f"cannot read input_uri {uri}: engine=spark reads a .csv or .parquet file, "
                "or a folder of Parquet files"
            )
        if location.data_size() == 0:
            raise DataSourceError(f"cannot read input_uri {uri}: the file is empty")
        if is_csv:
            frame = _read_csv(spark, source, line_separator(location.head(_HEAD_BYTES)))
        else:
            frame = spark.read.parquet(source)
    check_required_columns(frame.columns)
    with _spark_errors(uri, "read input_uri"):
        return _numbered_by_partition(frame) if is_csv else _numbered_by_file(frame)


def line_separator(head: bytes) -> str | None:
    """The line break that ends a CSV's first record: CRLF, LF or CR, as a string.

    Line breaks inside quotes belong to a field, not to the record.

    Args:
        head: The file's first bytes (UTF-8 or ASCII: no other character holds these bytes).

    Returns:
        The line break, or None when ``head`` ends before the first record does.
    """
    quoted = False
    for index, byte in enumerate(head):
        if byte == ord('"'):
            quoted = not quoted  # RFC 4180's doubled quote toggles twice
        elif byte == ord("\n") and not quoted:
            return "\n"
        elif byte == ord("\r") and not quoted:
            if index + 1 == len(head):
                return None  # "\r" or the start of "\r\n": the next byte would tell
            return "\r\n" if head[index + 1] == ord("\n") else "\r"
    return None


def _read_csv(spark: SparkSession, source: str, line_break: str | None) -> DataFrame:
    """Read a CSV file's cells as the pandas engine's ``read_csv`` does, as text.

    RFC 4180: a quoted field may hold line breaks, which Spark reads only with ``multiLine``
    (and then as one partition: a record may cross any split), and doubled quotes, not
    Spark's backslash. pandas keeps a CRLF or CR inside quotes as written; Spark turns it into
    LF unless it is told the file's line break. Spark drops a UTF-8 byte-order mark, as pandas
    does. pandas' missing-value markers become nulls, and its blank lines are skipped.

    Args:
        spark: The session.
        source: The file, as Hadoop names it.
        line_break: The file's line break (:func:`line_separator`); None: Spark finds it.

    Returns:
        The cells, every column a string.
    """
    options = {"lineSep": line_break} if line_break else {}
    frame = spark.read.csv(
        source, header=True, inferSchema=False, multiLine=True, quote='"', escape='"', **options
    )
    cells = [F.col(f"`{name}`") for name in frame.columns]
    # pandas skips a line of spaces and tabs as it skips an empty one (which Spark skips).
    # Spark no longer tells such a line from one that quotes them: that one is skipped too.
    blank_line = cells[0].rlike("^[ \t]+$")
    for cell in cells[1:]:
        blank_line &= cell.isNull()
    return frame.where(~blank_line).select(
        *[
            F.when(~cell.isin(*PANDAS_NA_VALUES), cell).alias(name)
            for cell, name in zip(cells, frame.columns, strict=True)
        ]
    )


def _offsets(counts: dict[Any, int]) -> Column:
    """A column expression mapping each key to the rows before it, keys in sorted order."""
    offsets: dict[Any, int] = {}
    before = 0
    for key in sorted(counts):
        offsets[key] = before
        before += counts[key]
    if not offsets:
        return F.lit(0)
    return F.create_map(*[F.lit(v) for pair in offsets.items() for v in pair])


def _numbered_by_partition(frame: DataFrame) -> DataFrame:
    """Number rows by their position in a single file's scan.

    Spark splits one file into partitions in the file's order (a CSV into one, as
    :func:`_read_csv` must read it), so the rows before a row are those of the earlier
    partitions (counted in one pass, one small number per partition) plus its rank inside its
    own.
    """
    partition = F.spark_partition_id()
    counts: dict[Any, int] = dict(frame.groupBy(partition.alias("p")).count().collect())
    rank = F.monotonically_increasing_id().bitwiseAND((1 << _ROW_IN_PARTITION_BITS) - 1)
    return frame.select((_offsets(counts)[partition] + rank).alias(ROW_COLUMN), "*")


def _numbered_by_file(frame: DataFrame) -> DataFrame:
    """Number Parquet rows by file (in name order) and their index in the file."""
    path, index = F.col("_metadata.file_path"), F.col("_metadata.row_index")
    counts: dict[Any, int] = dict(frame.groupBy(path.alias("f")).count().collect())
    return frame.select((_offsets(counts)[path] + index).alias(ROW_COLUMN), *frame.columns)


def check_outputs_free(spark: SparkSession, uris: tuple[str, ...], overwrite: bool) -> None:
    """Refuse to write into an existing location, unless told to replace it.

    Raises:
        DataSourceError: Naming the first location that exists, when ``overwrite`` is off.
    """
    if overwrite:
        return
    for uri in uris:
        with _spark_errors(uri, "write"):
            exists = _Location(spark, hadoop_uri(uri)).exists()
        if exists:
            raise DataSourceError(
                f"cannot write {uri}: it exists already (pass -P overwrite=true to replace it)"
            )


def _spread(spark: SparkSession, rows: DataFrame) -> DataFrame:
    """The rows over at least as many partitions as the cluster has cores, to score them.

    A CSV is read in one partition (:func:`_read_csv`), a few small Parquet files in one too:
    one core would score them all. The rows are numbered before they move.
    """
    cores = spark.sparkContext.defaultParallelism
    return rows if rows.rdd.getNumPartitions() >= cores else rows.repartition(cores)


def _as_long(column: Column) -> Column:
    """A double holding an integer, or NaN for none, as a nullable long."""
    return F.nanvl(column, F.lit(None).cast("double")).cast("long")


def score_passengers(
    spark: SparkSession,
    passengers: DataFrame,
    model_uri: str,
    outputs: tuple[str, str],
    overwrite: bool,
) -> tuple[int, int]:
    """Score numbered passengers with the model on Spark; write predictions and rejects.

    Args:
        spark: The session.
        passengers: From :func:`read_passengers`.
        model_uri: The model: the local folder of its checked files, shipped to the workers.
        outputs: The predictions folder and the rejects folder (Parquet).
        overwrite: Replace the folders if they exist.

    Returns:
        The rows scored and the rows set aside.
    """
    predict = mlflow.pyfunc.spark_udf(
        spark,
        model_uri,
        result_type=ANSWER_TYPE,
        env_manager="local",
        params={INVALID_ROWS_PARAM: REASON_FOR_INVALID_ROWS},
    )
    params = predict.metadata.get_params_schema()
    if params is None or INVALID_ROWS_PARAM not in [p.name for p in params.params]:
        raise DataSourceError(
            f"cannot score with {model_uri}: the model has no {INVALID_ROWS_PARAM} parameter "
            "(a version trained before Spark scoring): use engine=pandas, or train anew"
        )
    inputs = [F.col(f"`{name}`") for name in passengers.columns if name != ROW_COLUMN]
    # The model's answers are kept (a few numbers per row) to write both outputs from one
    # scoring; the rejected rows' input is read again and joined to them by number, rather
    # than keeping every input row. Bigger Arrow batches than Spark's 10,000 rows: fewer
    # calls into the model (a quarter less time on 2 cores).
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
    answers = (
        _spread(spark, passengers)
        .select(ROW_COLUMN, predict(F.struct(*inputs)).alias(_ANSWER))
        .persist()
    )
    try:
        reason = F.col(f"{_ANSWER}.{REASON_COLUMN}")
        # A row is scored when the model gave it an empty reason; any other answer (a
        # reason, or none at all) sets it aside: no row is lost between the two outputs.
        is_scored = F.coalesce(reason == F.lit(""), F.lit(False))
        mode = "overwrite" if overwrite else "errorifexists"
        predictions_uri, rejects_uri = outputs
        answers.where(is_scored).select(
            ROW_COLUMN,
            _as_long(F.col(f"{_ANSWER}.{PASSENGER_ID}")).alias(PASSENGER_ID),
            _as_long(F.col(f"{_ANSWER}.{SURVIVED_COLUMN}")).alias(SURVIVED_COLUMN),
            F.col(f"{_ANSWER}.{PROBABILITY_COLUMN}").alias(PROBABILITY_COLUMN),
        ).write.mode(mode).parquet(hadoop_uri(predictions_uri))
        reasons = answers.where(~is_scored).select(
            ROW_COLUMN, F.coalesce(reason, F.lit("the model gave no answer")).alias(REASON_COLUMN)
        )
        reasons.join(passengers, ROW_COLUMN).select(ROW_COLUMN, REASON_COLUMN, *inputs).write.mode(
            mode
        ).parquet(hadoop_uri(rejects_uri))
        counts: dict[bool, int] = dict(answers.groupBy(is_scored.alias("scored")).count().collect())
    finally:
        answers.unpersist()
    return counts.get(True, 0), counts.get(False, 0)
