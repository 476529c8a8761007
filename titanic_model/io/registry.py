"""The model registry: log and register versions, find them, move ``champion`` and ``challenger``.

I/O shell: every name comes from :mod:`titanic_model.names`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from sklearn.pipeline import Pipeline

import titanic_model
import titanic_model.model
from titanic_model import names
from titanic_model.io.digests import digest_tags
from titanic_model.model.pyfunc import model_signature, save_pipeline
from titanic_model.model.schema import describe_fields
from titanic_model.names import (
    APPROVAL_TAG,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    CV_METRICS,
    FAILED,
    GATE_DECISION_TAG,
    INPUT_SCHEMA_METADATA,
    MODEL_ARTIFACT,
    PIPELINE_ARTIFACT,
    cv_score_tag,
    gate_lock_model,
)

logger = logging.getLogger(__name__)
# The model's code: the package's top level, the names and the model subpackage, nothing
# else of the project (an import-linter contract keeps the subpackage from importing more).
_PACKAGE = Path(titanic_model.__file__).parent
_MODEL_PACKAGE = Path(titanic_model.model.__file__).parent
# The pyfunc, as code MLflow runs at load time (never imported here: it calls set_model).
MODEL_CODE = _MODEL_PACKAGE / "model_code.py"
# What the served model needs, pinned to the versions it was trained with: MLflow and the
# model's libraries, skops to read the pipeline, and uvloop and httptools, without which
# `mlflow models serve --workers 2` loses TCP_NODELAY (uvicorn issue #3149).
_SERVING_DISTRIBUTIONS = (
    "mlflow",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "skops",
    "uvloop",
    "httptools",
)


def serving_requirements() -> list[str]:
    """Pinned pip requirements of the served model: the versions installed here."""
    return [f"{distribution}=={version(distribution)}" for distribution in _SERVING_DISTRIBUTIONS]


def stage_model_code(folder: Path) -> Path:
    """Copy the model's code, and only it, into ``folder/titanic_model``.

    Args:
        folder: An empty folder.

    Returns:
        The package folder to log as the version's code: ``__init__.py``, ``names.py`` and
        ``model/`` (no caches).
    """
    package = folder / _PACKAGE.name
    package.mkdir()
    shutil.copy2(_PACKAGE / "__init__.py", package / "__init__.py")
    shutil.copy2(Path(names.__file__), package / "names.py")
    shutil.copytree(
        _MODEL_PACKAGE, package / _MODEL_PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__")
    )
    return package


def log_and_register_model(
    pipeline: Pipeline, input_example: pd.DataFrame, model_name: str, tags: dict[str, str]
) -> ModelVersion:
    """Log the fitted pipeline as the custom pyfunc in the active run and register it.

    Args:
        pipeline: The fitted pipeline.
        input_example: A few raw passenger records (no label); saved as strict JSON.
        model_name: The registered model to add a version to.
        tags: Tags for the new version (data digest, prepare run, CV score…).

    Returns:
        The new registered version, tagged with the digest and manifest of its files.
    """
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "code").mkdir()
        pipeline_path = Path(folder) / "pipeline.skops"
        save_pipeline(pipeline, pipeline_path)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(MODEL_CODE),  # models from code: no pickle
            artifacts={PIPELINE_ARTIFACT: str(pipeline_path)},
            # The model's code travels with it, so it loads where titanic_model is not installed.
            code_paths=[str(stage_model_code(Path(folder) / "code"))],
            signature=model_signature(),
            metadata={INPUT_SCHEMA_METADATA: describe_fields()},
            input_example=input_example.astype(object).where(input_example.notna(), None),
            pip_requirements=serving_requirements(),
        )
        # The digest of the files as the store holds them: what every loader will check.
        stored = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=f"{folder}/stored")
        files = digest_tags(Path(stored))
    client = MlflowClient()
    # Created only when missing: on the shared server the admin creates it, and only the
    # admin may (creating a model is asking for it, as mlflow.register_model does each time).
    try:
        client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        client.create_registered_model(model_name)
    registered = client.create_model_version(
        model_name, info.model_uri, tags={**tags, **files}, model_id=info.model_id
    )
    return client.get_model_version(model_name, registered.version)


def version_uri(model_version: ModelVersion) -> str:
    """``models:/name/N`` of a registered version."""
    return f"models:/{model_version.name}/{model_version.version}"


def latest_version(model_name: str) -> ModelVersion:
    """The newest version of a registered model.

    Args:
        model_name: The registered model.

    Returns:
        Its highest-numbered version.

    Raises:
        MlflowException: When the model has no version.
    """
    versions = MlflowClient().search_model_versions(
        f"name = '{model_name}'", order_by=["version_number DESC"], max_results=1
    )
    if not versions:
        raise MlflowException(
            f"registered model {model_name!r} has no version: run train first",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return versions[0]


def registered_version(model_uri: str) -> ModelVersion | None:
    """The registry version behind a model URI.

    Args:
        model_uri: ``models:/name/N``, ``models:/name@alias``, or any other model URI.

    Returns:
        The version, or None for a URI that does not name one (``runs:/…``, a path).
    """
    if not model_uri.startswith("models:/"):
        return None
    reference = model_uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in reference:
        name, alias = reference.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    name, _, number = reference.rpartition("/")
    return client.get_model_version(name, number) if name and number.isdigit() else None


# A gate holds the lock for seconds; one held this long belongs to a gate that died.
GATE_LOCK_STALE_SECONDS = 600
_GATE_LOCK_POLL_SECONDS = 0.5


@contextmanager
def gate_lock(model_name: str, timeout: float = GATE_LOCK_STALE_SECONDS) -> Iterator[None]:
    """Hold the gate's lock on ``model_name``: one gate at a time reads and moves its aliases.

    Args:
        model_name: The registered model whose aliases the gate moves.
        timeout: How long to wait for another gate, in seconds.

    Raises:
        MlflowException: When another gate holds the lock for longer than ``timeout``.
    """
    client = MlflowClient()
    lock = gate_lock_model(model_name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.create_registered_model(lock, description="held by a gate of " + model_name)
            break
        except MlflowException as error:
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        _break_if_stale(client, lock)
        if time.monotonic() > deadline:
            raise MlflowException(
                f"another gate of {model_name!r} holds its lock ({lock}) for over {timeout:.0f} s",
                error_code=RESOURCE_ALREADY_EXISTS,
            )
        time.sleep(_GATE_LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def _break_if_stale(client: MlflowClient, lock: str) -> None:
    """Delete a lock left by a gate that died (older than :data:`GATE_LOCK_STALE_SECONDS`)."""
    try:
        created = client.get_registered_model(lock).creation_timestamp
    except MlflowException:
        return  # released meanwhile
    if time.time() - created / 1000 > GATE_LOCK_STALE_SECONDS:
        client.delete_registered_model(lock)


def _holder(model_name: str, alias: str) -> ModelVersion | None:
    client = MlflowClient()
    # A missing alias is reported differently by the stores; the model's alias map is not.
    number = client.get_registered_model(model_name).aliases.get(alias)
    return None if number is None else client.get_model_version(model_name, number)


def champion(model_name: str) -> ModelVersion | None:
    """The version holding the ``champion`` alias, or None before the first promotion."""
    return _holder(model_name, CHAMPION_ALIAS)


def challenger(model_name: str) -> ModelVersion | None:
    """The version holding the ``challenger`` alias, or None."""
    return _holder(model_name, CHALLENGER_ALIAS)


def promote(model_version: ModelVersion, alias: str = CHAMPION_ALIAS) -> None:
    """Move ``alias`` (``champion`` unless told otherwise) to ``model_version``."""
    MlflowClient().set_registered_model_alias(model_version.name, alias, model_version.version)


def describe_version(model_version: ModelVersion, description: str, tags: dict[str, str]) -> None:
    """Set the registry description and tags of a model version.

    Args:
        model_version: The version.
        description: Its new description (the model card, in Markdown).
        tags: Tags to set on it.
    """
    client = MlflowClient()
    client.update_model_version(model_version.name, model_version.version, description=description)
    for key, value in tags.items():
        client.set_model_version_tag(model_version.name, model_version.version, key, value)


def mark_failed(model_version: ModelVersion, reason: str) -> None:
    """Mark a version not approved after a failed gate (its alias did not move).

    Best effort: when the registry itself is what failed, the marking fails too, and the
    gate's own error is what the caller reports.

    Args:
        model_version: The version the gate was deciding about.
        reason: The failure, in one line.
    """
    try:
        tag_version(
            model_version.name,
            str(model_version.version),
            {APPROVAL_TAG: FAILED, GATE_DECISION_TAG: f"failed: {reason}"},
        )
    except MlflowException as error:
        logger.warning(
            "could not mark %s/%s failed: %s",
            model_version.name,
            model_version.version,
            error.message,
        )


def tag_version(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a registered version (the monitoring job's latest status).

    Args:
        model_name: The registered model.
        version: Its version number.
        tags: Tags to set.
    """
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def _cv_score(model_version: ModelVersion) -> tuple[str, float] | None:
    """The refit metric a version was chosen by and its CV score (``cv_<metric>`` tag)."""
    for metric in CV_METRICS:
        if cv_score_tag(metric) in model_version.tags:
            return metric, float(model_version.tags[cv_score_tag(metric)])
    return None


def best_version(model_name: str, experiment_name: str, run_name: str = "") -> ModelVersion:
    """The version of ``model_name`` trained in ``experiment_name`` with the best CV score.

    Each train run tags its version with the CV score of its refit metric
    (``cv_<refit_metric>``); versions are compared on that score, so they must all have been
    chosen by the same metric.

    Args:
        model_name: Registered model.
        experiment_name: Experiment whose train runs competed.
        run_name: When given, only the train runs of this name compete (one Argo workflow's,
            named after it, in the shared training experiment).

    Returns:
        The best version; the oldest one on a tie.

    Raises:
        MlflowException: When no version of the model comes from that experiment, or the
            versions were chosen by different metrics.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    scored = {}
    if experiment is not None:
        for candidate in client.search_model_versions(f"name = '{model_name}'"):
            score = _cv_score(candidate)
            if score is None or not candidate.run_id:
                continue
            trained = client.get_run(candidate.run_id).info
            if trained.experiment_id == experiment.experiment_id and (
                not run_name or trained.run_name == run_name
            ):
                scored[candidate.version] = (candidate, *score)
    if not scored:
        of_name = f" by runs named {run_name!r}" if run_name else ""
        raise MlflowException(
            f"no version of {model_name!r} was trained in experiment {experiment_name!r}{of_name}",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    metrics = sorted({metric for _, metric, _ in scored.values()})
    if len(metrics) > 1:
        raise MlflowException(
            f"the versions of {model_name!r} in experiment {experiment_name!r} were chosen by "
            f"different CV metrics ({', '.join(metrics)}): their scores do not compare",
            error_code=INVALID_PARAMETER_VALUE,
        )
    best, _, _ = max(scored.values(), key=lambda entry: (entry[2], -int(entry[0].version)))
    return best
