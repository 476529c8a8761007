"""The jobs' configurations: typed, frozen, parsed once at the edge from MLflow's parameters.

``mlflow run`` hands every parameter over as a string. Each job's parameters are the fields of
one pydantic model below, with their types, defaults and rules; these models are the one
source of parameter names and defaults (the CLI takes its options from them, and a test holds
``MLproject`` to them). :meth:`Params.from_params` turns the strings and the environment into a
frozen config, or raises a one-line :class:`ConfigError` whose end is the parameter's
:class:`Rule`: ``invalid parameter n_trees='-3': must be a comma-separated list of integers
>= 1``. The config is passed down; nothing below the edge reads parameters or the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from titanic_model.names import (
    CANDIDATES,
    CHAMPION_URI,
    CV_METRICS,
    HOLDOUT_METRICS,
    MODEL_NAME,
    MONITORING_EXPERIMENT,
)

# Where the course publishes Kaggle's training file; downloaded once into data/.
PUBLIC_DATA_URI = (
    "https://minio.lab.sspcloud.fr/projet-formation/ensae-reproductibilite/data/raw/train.csv"
)
DATA_URI_VARIABLE = "TITANIC_DATA_URI"
CACHE_DIR_VARIABLE = "TITANIC_CACHE_DIR"
# MLflow's own variable for S3-compatible stores first, then the AWS SDK's.
S3_ENDPOINT_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
# The prediction log's own S3 endpoint and keys (its bucket is not the artifact store's): the
# serving layer writes the log with them, the monitoring job reads it with them.
LOG_S3_ENDPOINT_VARIABLE = "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL"
LOG_ACCESS_KEY_VARIABLE = "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID"
LOG_SECRET_KEY_VARIABLE = "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY"


class ConfigError(ValueError):
    """Raised for a parameter that cannot be used; the message is one line."""


def parse_options(argv: Sequence[str]) -> dict[str, str]:
    """Read ``--name value …`` (or ``--name=value``) into ``{name: value}``.

    Raises:
        ConfigError: For anything that is not an option with its value.
    """
    params: dict[str, str] = {}
    options = list(argv)
    while options:
        flag = options.pop(0)
        if not flag.startswith("--") or flag == "--":
            raise ConfigError(f"expected an option such as --seed, got {flag!r}")
        name, equals, value = flag.removeprefix("--").partition("=")
        if not equals:
            if not options:
                raise ConfigError(f"option {flag!r} has no value")
            value = options.pop(0)
        params[name] = value
    return params


class Rule:
    """What a parameter must be, in words: the end of its error message."""

    def __init__(self, text: str):
        self.text = text


def _comma_separated(value: object) -> object:
    """``"6, 8,None"`` -> ``["6", "8", None]``: items stripped, keywords in any case."""
    if not isinstance(value, str):
        return value
    items = [item.strip() for item in value.split(",")]
    keywords = {"none": None, "sqrt": "sqrt", "log2": "log2"}
    return [keywords.get(item.lower(), item) for item in items]


def _grid(item: Any, rule: str) -> Any:
    """A comma-separated grid of ``item`` values, duplicates dropped, order kept."""
    distinct = AfterValidator(lambda values: tuple(dict.fromkeys(values)))
    return Annotated[
        tuple[item, ...],
        BeforeValidator(_comma_separated),
        distinct,
        Field(min_length=1),
        Rule(rule),
    ]


def _data_uri_or_fallback(value: str, info: ValidationInfo) -> str:
    environ = (info.context or {}).get("environ", {})
    return value or environ.get(DATA_URI_VARIABLE) or PUBLIC_DATA_URI


def _integer_text(value: object) -> object:
    """Refuse what ``int()`` would: pydantic alone reads ``"4.0"`` and ``"1_000"`` as integers."""
    if isinstance(value, str) and not re.fullmatch(r"[+-]?\d+", value):
        raise ValueError("not an integer")
    return value


Integer = Annotated[int, BeforeValidator(_integer_text)]
Positive = Annotated[Integer, Field(ge=1)]
INTEGERS = "a comma-separated list of integers >= 1"
POSITIVE_NUMBERS = "a comma-separated list of positive numbers"
Seed = Annotated[
    Integer,
    Field(ge=0, description="seed of the split, the CV folds and the models"),
    Rule("an integer >= 0"),
]
ModelName = Annotated[
    str, Field(min_length=1, description="registered model"), Rule("a non-empty name")
]
GateMetric = Annotated[
    Literal[tuple(HOLDOUT_METRICS)],
    Field(description="holdout metric the new version must match or beat to become champion"),
    Rule("one of " + ", ".join(HOLDOUT_METRICS)),
]
OptionalText = Annotated[str | None, BeforeValidator(lambda value: value or None), Rule("text")]
DataUri = Annotated[
    str,
    AfterValidator(_data_uri_or_fallback),
    Field(
        validate_default=True,
        description="raw CSV: local path, https:// or s3://; empty: "
        f"${DATA_URI_VARIABLE}, else the public copy",
    ),
    Rule("a local path, https:// or s3:// URI"),
]


class EnvironmentSettings(BaseModel):
    """Settings a job takes from environment variables, not from its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        """Read the settings from environment variables (empty ones are unset)."""
        raise NotImplementedError


def _is_settings(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, EnvironmentSettings)


class StorageConfig(EnvironmentSettings):
    """Where data is cached and how S3 is reached: settings from the environment.

    Attributes:
        cache_dir: Folder for downloaded copies of ``https://`` data (git-ignored ``data/``).
        s3_endpoint_url: Endpoint of an S3-compatible store (MinIO, moto), or None for AWS.
        aws_access_key_id: The S3 keys, or None for the AWS SDK's own (``AWS_*`` variables,
            a pod's role).
        aws_secret_access_key: Its secret.
    """

    cache_dir: Path = Path("data")
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = Field(None, repr=False)

    @property
    def s3_keys(self) -> tuple[str, str] | None:
        """The access key id and secret, when both are set."""
        if self.aws_access_key_id and self.aws_secret_access_key:
            return self.aws_access_key_id, self.aws_secret_access_key
        return None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StorageConfig:
        """Read the storage settings from environment variables (empty ones are unset)."""
        endpoint = next((environ[v] for v in S3_ENDPOINT_VARIABLES if environ.get(v)), None)
        return cls(
            cache_dir=Path(environ.get(CACHE_DIR_VARIABLE) or "data"), s3_endpoint_url=endpoint
        )


class PredictionLogStorage(StorageConfig):
    """The prediction log's S3 settings: its own endpoint and keys, else the general ones."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PredictionLogStorage:
        """Read ``TITANIC_PREDICTION_LOG_*`` (empty ones are unset).

        Raises:
            ConfigError: When only one of the two keys is set.
        """
        general = StorageConfig.from_environ(environ)
        key, secret = (environ.get(LOG_ACCESS_KEY_VARIABLE) or None,
                       environ.get(LOG_SECRET_KEY_VARIABLE) or None)  # fmt: skip
        if (key is None) != (secret is None):
            raise ConfigError(
                f"set both {LOG_ACCESS_KEY_VARIABLE} and {LOG_SECRET_KEY_VARIABLE}, or neither"
            )
        return cls(
            cache_dir=general.cache_dir,
            s3_endpoint_url=environ.get(LOG_S3_ENDPOINT_VARIABLE) or general.s3_endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )


SPARK_MASTER_VARIABLE = "SPARK_MASTER"
SPARK_PYTHON_VARIABLE = "PYSPARK_PYTHON"


class SparkSettings(EnvironmentSettings):
    """How the Spark engine reaches its cluster: settings from the environment.

    Attributes:
        master: ``SPARK_MASTER``; ``spark-submit --master`` and ``spark.master`` in
            ``spark-defaults.conf`` win over it, and ``local[*]`` is the fallback.
        python: ``PYSPARK_PYTHON``, the Python of Spark's workers; on a local master, unset
            means this process's own (the venv's), where the project's packages are.
    """

    master: str | None = None
    python: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SparkSettings:
        """Read the Spark settings from environment variables (empty ones are unset)."""
        return cls(
            master=environ.get(SPARK_MASTER_VARIABLE) or None,
            python=environ.get(SPARK_PYTHON_VARIABLE) or None,
        )


class Params(BaseModel):
    """A set of MLflow parameters: frozen, unknown keys refused, every string stripped.

    A field is a parameter unless it is itself a :class:`Params` (whose parameters it takes
    from the same flat list) or :class:`EnvironmentSettings` (read from the environment).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _strip(cls, values: object) -> object:
        if not isinstance(values, dict):
            return values
        return {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}

    @classmethod
    def _parts(cls) -> dict[str, type[Params] | None]:
        """Each field: its config class if it is a part, None if it is a parameter."""
        parts = {}
        for name, field in cls.model_fields.items():
            kind = field.annotation
            if not _is_settings(kind):
                parts[name] = kind if isinstance(kind, type) and issubclass(kind, Params) else None
        return parts

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Every parameter this config reads, its parts' included, without repeats."""
        names = [
            parameter
            for name, part in cls._parts().items()
            for parameter in (part.parameter_names() if part else (name,))
        ]
        return tuple(dict.fromkeys(names))

    @classmethod
    def describe(cls) -> dict[str, tuple[str | None, str]]:
        """Per parameter, in order: its default as MLflow spells it, and what it is.

        Returns:
            ``{name: (default, description)}``; the default is None for a required parameter.
        """
        described: dict[str, tuple[str | None, str]] = {}
        for name, part in cls._parts().items():
            if part:
                for parameter, entry in part.describe().items():
                    described.setdefault(parameter, entry)
                continue
            field = cls.model_fields[name]
            default = None if field.is_required() else _as_text(field.default)
            described.setdefault(name, (default, field.description or ""))
        return described

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> Self:
        """Parse MLflow's string parameters and the environment into a frozen config.

        Args:
            params: Parameter names and their text; an absent one takes its default.
            environ: Environment variables, for the settings that come from there.

        Returns:
            The config.

        Raises:
            ConfigError: For an unknown parameter, or the first unusable one.
        """
        environ = {} if environ is None else environ
        known = cls.parameter_names()
        for name in params:
            if name not in known:
                raise ConfigError(
                    f"unknown parameter {name}={params[name]!r}: expected one of "
                    + ", ".join(known)
                )
        values: dict[str, object] = {
            name: field.annotation.from_environ(environ)
            for name, field in cls.model_fields.items()
            if _is_settings(field.annotation)
        }
        for name, part in cls._parts().items():
            if part:
                part_names = part.parameter_names()
                own = {k: v for k, v in params.items() if k in part_names}
                values[name] = part.from_params(own, environ)
            elif name in params:
                values[name] = params[name]
        try:
            return cls.model_validate(values, context={"environ": environ})
        except ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            rule = next(m.text for m in cls.model_fields[name].metadata if isinstance(m, Rule))
            raise ConfigError(
                f"invalid parameter {name}={params.get(name, '')!r}: must be {rule}"
            ) from None

    def parameters(self) -> dict[str, str]:
        """Every parameter's value as MLflow spells it, flat: the inverse of :meth:`from_params`."""
        flat: dict[str, str] = {}
        for name, part in self._parts().items():
            value = getattr(self, name)
            flat |= value.parameters() if part else {name: _as_text(value)}
        return flat


def _as_text(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join("none" if v is None else str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, timedelta):
        minutes = int(value.total_seconds()) // 60
        days, minutes = divmod(minutes, 24 * 60)
        hours, minutes = divmod(minutes, 60)
        time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return "" if value is None else str(value)


class PrepareConfig(Params):
    """``prepare``: where the passengers come from and how they are split."""

    data_uri: DataUri = ""
    test_fraction: Annotated[
        float,
        Field(gt=0, lt=1, description="stratified holdout share"),
        Rule("a number strictly between 0 and 1"),
    ] = 0.2
    seed: Seed = 42
    storage: StorageConfig = StorageConfig()


class RandomForestGrid(Params):
    """The random forest's grid (candidate ``random_forest``)."""

    n_trees: _grid(Positive, INTEGERS) = Field((200,), description="grid: number of trees")
    max_depth: _grid(Positive | None, f"{INTEGERS} or 'none'") = Field(
        (6, 8, None), description="grid: tree depth (none = unlimited)"
    )
    min_samples_leaf: _grid(Positive, INTEGERS) = Field((2, 4), description="grid: leaf size")
    max_features: _grid(
        Literal["sqrt", "log2"] | Annotated[float, Field(gt=0, le=1)],
        "a comma-separated list of 'sqrt', 'log2' or fractions in (0, 1]",
    ) = Field((0.5,), description="grid: share of features per split (sqrt, log2 or a fraction)")

    def estimator_grid(self) -> dict[str, list]:
        """The grid in the classifier's own hyper-parameter names."""
        return {
            "n_estimators": list(self.n_trees),
            "max_depth": list(self.max_depth),
            "min_samples_leaf": list(self.min_samples_leaf),
            "max_features": list(self.max_features),
        }


PositiveNumbers = _grid(Annotated[float, Field(gt=0)], POSITIVE_NUMBERS)


class HistGradientBoostingGrid(Params):
    """Histogram gradient boosting's grid (candidate ``hist_gradient_boosting``)."""

    learning_rate: PositiveNumbers = Field((0.05, 0.1), description="grid: learning rate")

    def estimator_grid(self) -> dict[str, list]:
        """The grid in the classifier's own hyper-parameter names."""
        return {"learning_rate": list(self.learning_rate)}


class LogisticRegressionGrid(Params):
    """The logistic regression's grid (candidate ``logistic_regression``)."""

    logistic_c: PositiveNumbers = Field((0.1, 1.0), description="grid: inverse L2 penalty C")

    def estimator_grid(self) -> dict[str, list]:
        """The grid in the classifier's own hyper-parameter names."""
        return {"C": list(self.logistic_c)}


class SearchConfig(Params):
    """The grid search: the candidates, each with its own grid named after it, and the CV."""

    candidates: _grid(Literal[CANDIDATES], "a comma-separated list of " + ", ".join(CANDIDATES)) = (
        Field(CANDIDATES, description="classifiers competing in the grid search")
    )
    random_forest: RandomForestGrid = RandomForestGrid()
    hist_gradient_boosting: HistGradientBoostingGrid = HistGradientBoostingGrid()
    logistic_regression: LogisticRegressionGrid = LogisticRegressionGrid()
    cv_folds: Annotated[
        Integer, Field(ge=2, description="stratified, shuffled CV folds"), Rule("an integer >= 2")
    ] = 5
    seed: Seed = 42
    refit_metric: Annotated[
        Literal[CV_METRICS],
        Field(description="CV metric that picks the grid point to refit"),
        Rule("one of " + ", ".join(CV_METRICS)),
    ] = "accuracy"

    def candidate_grids(self) -> dict[str, dict[str, list]]:
        """Per chosen candidate, its grid in the classifier's hyper-parameter names."""
        return {name: getattr(self, name).estimator_grid() for name in self.candidates}


class TrainConfig(Params):
    """``train`` (and ``prepare``, which it runs first when given no prepare run)."""

    prepare: PrepareConfig = PrepareConfig()
    prepare_run_id: OptionalText = Field(
        None, description="train on the splits of this prepare run; empty: run prepare first"
    )
    search: SearchConfig = SearchConfig()
    model_name: ModelName = MODEL_NAME


class EvaluateConfig(Params):
    """``evaluate``: which model to score on which holdout, and how to gate it."""

    model_uri: OptionalText = Field(
        None, description="model to score; empty: the newest version of model_name"
    )
    model_name: ModelName = MODEL_NAME
    gate_metric: GateMetric = "roc_auc"
    prepare_run_id: OptionalText = Field(
        None, description="whose holdout to score on; empty: the model's own prepare run"
    )


class MainConfig(Params):
    """``main``: prepare, train and evaluate in one parent run."""

    prepare: PrepareConfig = PrepareConfig()
    search: SearchConfig = SearchConfig()
    model_name: ModelName = MODEL_NAME
    gate_metric: GateMetric = "roc_auc"


class EvaluateBestConfig(Params):
    """``evaluate_best``: gate the best version one experiment (or its runs of one name) trained."""

    experiment_name: Annotated[
        str,
        Field(min_length=1, description="evaluate the best-CV version trained in it"),
        Rule("an experiment's name"),
    ]
    run_name: Annotated[
        str,
        Field(description="only versions whose train run has this name compete; empty: all"),
        Rule("a run's name"),
    ] = ""
    model_name: ModelName = MODEL_NAME
    gate_metric: GateMetric = "roc_auc"


class CrossValidateConfig(Params):
    """``cross_validate``: the search to evaluate, on every labelled passenger."""

    data_uri: DataUri = ""
    search: SearchConfig = SearchConfig()
    storage: StorageConfig = StorageConfig()


def _sibling(uri: str, suffix: str) -> str:
    """``data/test.csv`` or ``data/test.predictions.csv`` -> ``data/test<suffix>``."""
    for extension in (".csv", ".parquet", "/"):
        uri = uri.removesuffix(extension)
    return uri.removesuffix(".predictions") + suffix


ENGINES = ("pandas", "spark")


class PredictConfig(Params):
    """``predict`` (batch scoring): what to score with which model, and where the rows go."""

    input_uri: Annotated[
        str,
        Field(
            min_length=1,
            description="raw passengers: a CSV (local path, https:// or s3://); with "
            "engine=spark, a CSV or Parquet file or a folder of Parquet files",
        ),
        Rule("the CSV to score"),
    ]
    engine: Annotated[
        Literal[ENGINES],
        Field(description="pandas: one process, in chunks; spark: mlflow.pyfunc.spark_udf"),
        Rule("pandas or spark (spark reads paths, s3:// and Hadoop URIs, not https://)"),
    ] = "pandas"
    output_uri: Annotated[
        str,
        Field(
            validate_default=True,
            description="predictions; empty: <input>.predictions.csv (spark: a folder, "
            "<input>.predictions)",
        ),
        Rule("given when input_uri is a URL"),
    ] = ""
    rejects_uri: Annotated[
        str,
        Field(
            validate_default=True,
            description="rejected rows; empty: <output>.rejects.csv (spark: <output>.rejects)",
        ),
        Rule("a path or URI"),
    ] = ""
    model_uri: Annotated[
        str,
        BeforeValidator(lambda value: value or CHAMPION_URI),
        Field(description="model to score with"),
        Rule("a model URI"),
    ] = CHAMPION_URI
    chunk_rows: Annotated[
        Integer,
        Field(ge=1, description="rows read, scored and written at a time (engine=pandas)"),
        Rule("an integer >= 1"),
    ] = 50_000
    overwrite: Annotated[
        bool,
        Field(description="engine=spark: replace existing output folders instead of failing"),
        Rule("true or false"),
    ] = False
    storage: StorageConfig = StorageConfig()
    spark: SparkSettings = SparkSettings()

    @field_validator("engine")
    @classmethod
    def _spark_reads_no_urls(cls, engine: str, info: ValidationInfo) -> str:
        input_uri = info.data.get("input_uri") or ""
        if engine == "spark" and input_uri.startswith(("http://", "https://")):
            raise ValueError("Spark reads no URLs")
        return engine

    @field_validator("output_uri")
    @classmethod
    def _beside_the_input(cls, output_uri: str, info: ValidationInfo) -> str:
        input_uri = info.data.get("input_uri")
        if output_uri or input_uri is None:
            return output_uri
        if input_uri.startswith(("http://", "https://")):
            raise ValueError("a URL input needs an output_uri")
        spark = info.data.get("engine") == "spark"
        return _sibling(input_uri, ".predictions" if spark else ".predictions.csv")

    @field_validator("rejects_uri")
    @classmethod
    def _beside_the_output(cls, rejects_uri: str, info: ValidationInfo) -> str:
        output_uri = info.data.get("output_uri")
        if rejects_uri or not output_uri:
            return rejects_uri
        spark = info.data.get("engine") == "spark"
        return _sibling(output_uri, ".rejects" if spark else ".rejects.csv")


# An ISO 8601 duration of days, hours and minutes: "P1D", "PT6H", "P1DT12H".
_DURATION = re.compile(r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?")


def _instant_or_duration(value: object) -> object:
    """An ISO 8601 instant (UTC when it has no offset), a duration, or nothing."""
    if not isinstance(value, str) or not value:
        return None
    duration = _DURATION.fullmatch(value.upper())
    if duration and any(duration.groupdict().values()):
        parts = {k: int(v) for k, v in duration.groupdict().items() if v}
        return timedelta(**parts)
    instant = datetime.fromisoformat(value)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


Window = Annotated[
    datetime | timedelta | None,
    BeforeValidator(_instant_or_duration),
    Rule("an ISO 8601 instant (2026-11-25T06:00:00Z) or duration (P1D, PT6H)"),
]
Threshold = Annotated[float, Field(gt=0, lt=1), Rule("a number strictly between 0 and 1")]


class MonitorConfig(Params):
    """``monitor``: drift and live quality of what the serving layer logged."""

    log_uri: Annotated[
        str,
        Field(min_length=1, description="prediction log: a folder or an s3:// prefix"),
        Rule("a folder or s3:// prefix"),
    ]
    labels_uri: Annotated[
        str,
        Field(description="CSV PassengerId,Survived of outcomes learnt later; empty: none"),
        Rule("a local path, https:// or s3:// URI"),
    ] = ""
    since: Annotated[
        Window,
        Field(description="window start: an instant, or a duration before until (P1D)"),
    ] = None
    until: Annotated[
        Window,
        Field(description="window end (excluded): an instant, or a duration before now"),
    ] = None
    experiment_name: Annotated[
        str,
        Field(min_length=1, description="experiment of the monitoring runs"),
        Rule("an experiment's name"),
    ] = MONITORING_EXPERIMENT
    p_value_threshold: Annotated[
        Threshold, Field(description="a test's p-value below this rejects 'same distribution'")
    ] = 0.01
    psi_threshold: Annotated[
        float,
        Field(gt=0, description="population stability index above this is a large shift"),
        Rule("a positive number"),
    ] = 0.2
    missing_share_threshold: Annotated[
        Threshold, Field(description="a change in a field's share of missing values above this")
    ] = 0.1
    fail_on_drift: Annotated[
        bool,
        Field(description="exit with an error when a field drifted (for schedulers)"),
        Rule("true or false"),
    ] = False
    storage: StorageConfig = StorageConfig()
    log_storage: PredictionLogStorage = PredictionLogStorage()

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The window as instants: a duration counts back from ``until`` (or from ``now``).

        Raises:
            ConfigError: When the window is empty.
        """
        until = now - self.until if isinstance(self.until, timedelta) else self.until
        since = self.since
        if isinstance(since, timedelta):
            since = (until or now) - since
        if since is not None and until is not None and since >= until:
            raise ConfigError(
                f"invalid window: since {since:%Y-%m-%dT%H:%M:%SZ} is not "
                f"before until {until:%Y-%m-%dT%H:%M:%SZ}"
            )
        return since, until
