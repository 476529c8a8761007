"""Typed, frozen configuration parsed once at the edge from MLflow's string parameters.

``mlflow run`` hands every parameter over as a string. The entry points pass those strings
here, get an immutable config back (or a one-line :class:`ConfigError`) and pass the config
down; nothing below the entry points reads parameters or environment variables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from titanic_model.evaluation import HOLDOUT_METRICS
from titanic_model.pipeline import CANDIDATES
from titanic_model.training import CV_METRICS

# Where the course publishes Kaggle's training file; downloaded once into data/.
PUBLIC_DATA_URI = (
    "https://minio.lab.sspcloud.fr/projet-formation/ensae-reproductibilite/data/raw/train.csv"
)
DATA_URI_VARIABLE = "TITANIC_DATA_URI"
CACHE_DIR_VARIABLE = "TITANIC_CACHE_DIR"
# MLflow's own variable for S3-compatible stores first, then the AWS SDK's.
S3_ENDPOINT_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
MODEL_NAME = "titanic"
CHAMPION_ALIAS = "champion"


class ConfigError(ValueError):
    """Raised for a parameter that cannot be used; the message is one line."""


def _bad(name: str, text: str, rule: str) -> ConfigError:
    return ConfigError(f"invalid parameter {name}={text!r}: must be {rule}")


def _parse_int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _bad(name, text, f"an integer >= {minimum}") from None
    if value < minimum:
        raise _bad(name, text, f"an integer >= {minimum}")
    return value


def _parse_fraction(name: str, text: str) -> float:
    rule = "a number strictly between 0 and 1"
    try:
        value = float(text.strip())
    except ValueError:
        raise _bad(name, text, rule) from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise _bad(name, text, rule)
    return value


def _parse_grid(
    name: str,
    text: str,
    rule: str,
    parse_item: Callable[[str], object],
    keywords: Mapping[str, object],
) -> tuple:
    """Parse a comma-separated grid; ``parse_item`` raises ValueError for a bad item."""
    values = []
    for item in (part.strip() for part in text.split(",")):
        if item.lower() in keywords:
            values.append(keywords[item.lower()])
            continue
        try:
            values.append(parse_item(item))
        except ValueError:
            raise _bad(name, text, rule) from None
    return tuple(dict.fromkeys(values))


def _parse_int_grid(name: str, text: str, minimum: int, allow_none: bool) -> tuple[int | None, ...]:
    def parse_item(item: str) -> int:
        value = int(item)
        if value < minimum:
            raise ValueError(item)
        return value

    rule = f"a comma-separated list of integers >= {minimum}" + (" or 'none'" * allow_none)
    return _parse_grid(name, text, rule, parse_item, {"none": None} if allow_none else {})


def _parse_feature_share_grid(name: str, text: str) -> tuple[float | str, ...]:
    def parse_item(item: str) -> float:
        value = float(item)
        if not (math.isfinite(value) and 0.0 < value <= 1.0):
            raise ValueError(item)
        return value

    rule = "a comma-separated list of 'sqrt', 'log2' or fractions in (0, 1]"
    return _parse_grid(name, text, rule, parse_item, {"sqrt": "sqrt", "log2": "log2"})


def _param(params: Mapping[str, str], name: str, parse, default, *args):
    """Parse ``params[name]`` with ``parse(name, text, *args)``; an absent key gives ``default``."""
    return default if name not in params else parse(name, params[name], *args)


def _optional_text(params: Mapping[str, str], name: str) -> str | None:
    """An optional free-text parameter; empty means not given."""
    return (params.get(name) or "").strip() or None


def _parse_positive_float_grid(name: str, text: str) -> tuple[float, ...]:
    def parse_item(item: str) -> float:
        value = float(item)
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(item)
        return value

    return _parse_grid(name, text, "a comma-separated list of positive numbers", parse_item, {})


def _parse_choices(name: str, text: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    def parse_item(item: str) -> str:
        if item not in choices:
            raise ValueError(item)
        return item

    rule = "a comma-separated list of " + ", ".join(choices)
    return _parse_grid(name, text, rule, parse_item, {})


def _parse_choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    value = text.strip()
    if value not in choices:
        raise _bad(name, text, "one of " + ", ".join(choices))
    return value


def _parse_name(name: str, text: str) -> str:
    value = text.strip()
    if not value:
        raise _bad(name, text, "a non-empty name")
    return value


@dataclass(frozen=True)
class StorageConfig:
    """Where data comes from and is cached; read from the environment at the edge.

    Attributes:
        cache_dir: Folder for downloaded copies of ``https://`` data (git-ignored ``data/``).
        s3_endpoint_url: Endpoint of an S3-compatible store (MinIO, moto), or None for AWS.
    """

    cache_dir: Path = Path("data")
    s3_endpoint_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StorageConfig:
        """Read the storage settings from environment variables."""
        endpoint = next((environ[v] for v in S3_ENDPOINT_VARIABLES if environ.get(v)), None)
        return cls(
            cache_dir=Path(environ.get(CACHE_DIR_VARIABLE) or "data"), s3_endpoint_url=endpoint
        )


@dataclass(frozen=True)
class PrepareConfig:
    """Parameters of the ``prepare`` step.

    Attributes:
        data_uri: Raw passenger CSV: local path, ``https://`` or ``s3://``.
        test_fraction: Share of passengers held out for evaluation.
        seed: Seed of the stratified split.
        storage: Where data is cached and how S3 is reached.
    """

    data_uri: str = PUBLIC_DATA_URI
    test_fraction: float = 0.2
    seed: int = 42
    storage: StorageConfig = StorageConfig()

    @classmethod
    def from_params(cls, params: Mapping[str, str], environ: Mapping[str, str]) -> PrepareConfig:
        """Parse ``prepare``'s string parameters.

        An empty ``data_uri`` means ``$TITANIC_DATA_URI``, else the public copy.

        Raises:
            ConfigError: For the first unusable parameter.
        """
        return cls(
            data_uri=_optional_text(params, "data_uri")
            or environ.get(DATA_URI_VARIABLE)
            or PUBLIC_DATA_URI,
            test_fraction=_param(params, "test_fraction", _parse_fraction, cls.test_fraction),
            seed=_param(params, "seed", _parse_int, cls.seed, 0),
            storage=StorageConfig.from_environ(environ),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Parameters of the ``train`` step.

    Attributes:
        prepare: How to prepare data when no ``prepare_run_id`` is given.
        prepare_run_id: Run whose splits to train on; None runs ``prepare`` first.
        candidates: Classifiers competing in the grid search (see ``pipeline.CANDIDATES``).
        n_trees: Grid of forest sizes.
        max_depth: Grid of tree depths (None: unlimited).
        min_samples_leaf: Grid of minimum leaf sizes.
        max_features: Grid of the share of features each split considers.
        learning_rate: Grid of the gradient boosting's learning rates.
        logistic_c: Grid of the logistic regression's inverse L2 regularisation strength.
        cv_folds: Folds of the stratified cross-validation.
        seed: Seed of the folds and of the model.
        refit_metric: CV metric that picks the grid point to refit on all training data.
        model_name: Registered model to add the new version to.
    """

    prepare: PrepareConfig = PrepareConfig()
    prepare_run_id: str | None = None
    candidates: tuple[str, ...] = CANDIDATES
    n_trees: tuple[int, ...] = (200,)
    max_depth: tuple[int | None, ...] = (6, 8, None)
    min_samples_leaf: tuple[int, ...] = (2, 4)
    max_features: tuple[float | str, ...] = (0.5,)
    learning_rate: tuple[float, ...] = (0.05, 0.1)
    logistic_c: tuple[float, ...] = (0.1, 1.0)
    cv_folds: int = 5
    seed: int = 42
    refit_metric: str = "accuracy"
    model_name: str = MODEL_NAME

    @classmethod
    def from_params(cls, params: Mapping[str, str], environ: Mapping[str, str]) -> TrainConfig:
        """Parse ``train``'s string parameters (and ``prepare``'s, used when it runs first).

        Raises:
            ConfigError: For the first unusable parameter.
        """
        return cls(
            prepare=PrepareConfig.from_params(params, environ),
            prepare_run_id=_optional_text(params, "prepare_run_id"),
            candidates=_param(params, "candidates", _parse_choices, cls.candidates, CANDIDATES),
            n_trees=_param(params, "n_trees", _parse_int_grid, cls.n_trees, 1, False),
            max_depth=_param(params, "max_depth", _parse_int_grid, cls.max_depth, 1, True),
            min_samples_leaf=_param(
                params, "min_samples_leaf", _parse_int_grid, cls.min_samples_leaf, 1, False
            ),
            max_features=_param(
                params, "max_features", _parse_feature_share_grid, cls.max_features
            ),
            learning_rate=_param(
                params, "learning_rate", _parse_positive_float_grid, cls.learning_rate
            ),
            logistic_c=_param(params, "logistic_c", _parse_positive_float_grid, cls.logistic_c),
            cv_folds=_param(params, "cv_folds", _parse_int, cls.cv_folds, 2),
            seed=_param(params, "seed", _parse_int, cls.seed, 0),
            refit_metric=_param(
                params, "refit_metric", _parse_choice, cls.refit_metric, CV_METRICS
            ),
            model_name=_param(params, "model_name", _parse_name, cls.model_name),
        )

    def candidate_grids(self) -> dict[str, dict[str, list]]:
        """The hyper-parameter grid of each chosen candidate, for the grid search."""
        grids = {
            "random_forest": {
                "n_estimators": list(self.n_trees),
                "max_depth": list(self.max_depth),
                "min_samples_leaf": list(self.min_samples_leaf),
                "max_features": list(self.max_features),
            },
            "hist_gradient_boosting": {"learning_rate": list(self.learning_rate)},
            "logistic_regression": {"C": list(self.logistic_c)},
        }
        return {name: grids[name] for name in self.candidates}


@dataclass(frozen=True)
class EvaluateConfig:
    """Parameters of the ``evaluate`` step.

    Attributes:
        model_uri: Model to score; None means the newest version of ``model_name``.
        model_name: Registered model whose ``champion`` alias is gated.
        gate_metric: Holdout metric the candidate must match or beat to become champion.
        prepare_run_id: Run whose holdout to score on; None means the one the model was
            trained from.
    """

    model_uri: str | None = None
    model_name: str = MODEL_NAME
    gate_metric: str = "roc_auc"
    prepare_run_id: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EvaluateConfig:
        """Parse ``evaluate``'s string parameters.

        Raises:
            ConfigError: For the first unusable parameter.
        """
        return cls(
            model_uri=_optional_text(params, "model_uri"),
            model_name=_param(params, "model_name", _parse_name, cls.model_name),
            gate_metric=_param(
                params, "gate_metric", _parse_choice, cls.gate_metric, tuple(HOLDOUT_METRICS)
            ),
            prepare_run_id=_optional_text(params, "prepare_run_id"),
        )


def as_params(config: object) -> dict[str, str]:
    """Flatten a config into MLflow run parameters (nested configs are prefixed).

    Args:
        config: One of the config dataclasses.

    Returns:
        ``{"n_trees": "200", "prepare.seed": "42", …}`` with tuples joined by commas.
    """
    flat: dict[str, str] = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if hasattr(value, "__dataclass_fields__"):
            flat.update({f"{field.name}.{k}": v for k, v in as_params(value).items()})
        elif isinstance(value, tuple):
            flat[field.name] = ",".join("none" if v is None else str(v) for v in value)
        else:
            flat[field.name] = str(value)
    return flat


def _sibling(uri: str, suffix: str) -> str:
    """``data/test.csv`` or ``data/test.predictions.csv`` -> ``data/test<suffix>``."""
    return uri.removesuffix(".csv").removesuffix(".predictions") + suffix


@dataclass(frozen=True)
class PredictConfig:
    """Parameters of the ``predict`` (batch scoring) entry point.

    Attributes:
        input_uri: CSV of raw passengers: local path, ``https://`` or ``s3://``.
        output_uri: Where the predictions go; default: beside the input, ``*.predictions.csv``.
        rejects_uri: Where rejected rows go, with their reason; default: beside the output,
            ``*.rejects.csv``.
        model_uri: The model to score with.
        chunk_rows: Rows read, scored and written at a time (bounds memory).
        storage: How S3 is reached.
    """

    input_uri: str
    output_uri: str
    rejects_uri: str
    model_uri: str = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"
    chunk_rows: int = 50_000
    storage: StorageConfig = StorageConfig()

    @classmethod
    def from_params(cls, params: Mapping[str, str], environ: Mapping[str, str]) -> PredictConfig:
        """Parse ``predict``'s string parameters.

        Raises:
            ConfigError: For the first unusable parameter.
        """
        input_uri = _optional_text(params, "input_uri")
        if input_uri is None:
            raise _bad("input_uri", params.get("input_uri", ""), "the CSV to score")
        output_uri = _optional_text(params, "output_uri")
        if output_uri is None:
            if input_uri.startswith(("http://", "https://")):
                raise _bad("output_uri", "", "given when input_uri is a URL")
            output_uri = _sibling(input_uri, ".predictions.csv")
        return cls(
            input_uri=input_uri,
            output_uri=output_uri,
            rejects_uri=_optional_text(params, "rejects_uri")
            or _sibling(output_uri, ".rejects.csv"),
            model_uri=_optional_text(params, "model_uri") or cls.model_uri,
            chunk_rows=_param(params, "chunk_rows", _parse_int, cls.chunk_rows, 1),
            storage=StorageConfig.from_environ(environ),
        )
