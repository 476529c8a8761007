"""Everything that talks to MLflow's tracking server and model registry."""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from sklearn.pipeline import Pipeline

import titanic_model
from titanic_model.config import CHAMPION_ALIAS, StorageConfig
from titanic_model.data import read_passenger_csv
from titanic_model.model import PIPELINE_ARTIFACT, TitanicSurvivalModel, model_signature
from titanic_model.model_card import ModelCardFacts
from titanic_model.schema import LABEL, describe_fields

SPLITS_DIR = "splits"
MODEL_ARTIFACT = "model"
PREPARE_RUN_TAG = "prepare_run_id"
DATA_URI_TAG = "data_uri"
# What the served model needs, pinned to the versions it was trained with.
_SERVING_DISTRIBUTIONS = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "joblib")


def log_new_params(params: dict[str, object]) -> None:
    """Log the parameters that the active run does not have yet.

    ``mlflow run`` logs the ``-P`` values, as typed, on the run before the entry point starts;
    MLflow refuses to log a parameter twice, so those keep the user's spelling.

    Args:
        params: Parameter names and values.
    """
    existing = MlflowClient().get_run(mlflow.active_run().info.run_id).data.params
    mlflow.log_params({k: v for k, v in params.items() if k not in existing})


def log_dataset(frame: pd.DataFrame, name: str, source_uri: str, context: str) -> str:
    """Record ``frame`` as an MLflow dataset input of the active run.

    Args:
        frame: The data, label included.
        name: The dataset's name (``"train"``, ``"holdout"``).
        source_uri: Where the data came from, recorded as the dataset's source.
        context: The dataset's role in this run (``"training"``, ``"evaluation"``…).

    Returns:
        The dataset's digest, which identifies its content.
    """
    dataset = mlflow.data.from_pandas(frame, source=source_uri, name=name, targets=LABEL)
    try:
        mlflow.log_input(dataset, context=context)
    except MlflowException:
        # The tracking store's get-or-create of a dataset is not atomic: runs logging the same
        # data at once (the Argo workflow's parallel train steps) can collide on its unique
        # key. The other run has created it by now, so a second attempt links to it.
        mlflow.log_input(dataset, context=context)
    return dataset.digest


def log_split(frame: pd.DataFrame, name: str, source_uri: str) -> str:
    """Log a split as ``splits/<name>.csv`` and as a dataset input (context ``name``).

    Args:
        frame: The split, label included.
        name: ``"train"`` or ``"holdout"``.
        source_uri: Where the raw data came from.

    Returns:
        The dataset's digest.
    """
    digest = log_dataset(frame, name, source_uri, context=name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=SPLITS_DIR)
    return digest


def split_source(run_id: str) -> str:
    """The raw data URI that the splits of prepare run ``run_id`` were cut from."""
    return MlflowClient().get_run(run_id).data.tags[DATA_URI_TAG]


def load_split(run_id: str, name: str) -> pd.DataFrame:
    """Read a split that ``prepare`` logged in run ``run_id``.

    Args:
        run_id: The prepare run.
        name: ``"train"`` or ``"holdout"``.

    Returns:
        The split as it was logged.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{SPLITS_DIR}/{name}.csv", dst_path=folder
        )
        return read_passenger_csv(path, StorageConfig())


def serving_requirements() -> list[str]:
    """Pinned pip requirements of the served model: the versions installed here."""
    return [f"{distribution}=={version(distribution)}" for distribution in _SERVING_DISTRIBUTIONS]


def log_and_register_model(
    pipeline: Pipeline, input_example: pd.DataFrame, model_name: str, tags: dict[str, str]
) -> tuple[ModelInfo, ModelVersion]:
    """Log the fitted pipeline as the custom pyfunc and register a new version of it.

    Args:
        pipeline: The fitted pipeline.
        input_example: A few raw passenger records (no label); saved as strict JSON.
        model_name: The registered model to add a version to.
        tags: Tags for the new version (data digest, prepare run, CV score…).

    Returns:
        The logged model's info and the new registered version.
    """
    client = MlflowClient()
    with tempfile.TemporaryDirectory() as folder:
        pipeline_path = Path(folder) / "pipeline.joblib"
        joblib.dump(pipeline, pipeline_path)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=TitanicSurvivalModel(),
            artifacts={PIPELINE_ARTIFACT: str(pipeline_path)},
            # The package travels with the model, so it loads where titanic_model is not installed.
            code_paths=[str(Path(titanic_model.__file__).parent)],
            signature=model_signature(),
            metadata={"input_schema": describe_fields()},
            input_example=input_example.astype(object).where(input_example.notna(), None),
            pip_requirements=serving_requirements(),
        )
    registered = mlflow.register_model(info.model_uri, model_name, tags=tags)
    return info, client.get_model_version(model_name, registered.version)


def latest_version(model_name: str) -> ModelVersion:
    """The newest version of a registered model.

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
    """The registry version behind ``models:/name/N`` or ``models:/name@alias``, else None."""
    if not model_uri.startswith("models:/"):
        return None
    reference = model_uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in reference:
        name, alias = reference.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    name, _, number = reference.rpartition("/")
    return client.get_model_version(name, number) if name and number.isdigit() else None


def champion(model_name: str) -> ModelVersion | None:
    """The version holding the ``champion`` alias, or None before the first promotion."""
    client = MlflowClient()
    # A missing alias is reported differently by the stores; the model's alias map is not.
    version = client.get_registered_model(model_name).aliases.get(CHAMPION_ALIAS)
    return None if version is None else client.get_model_version(model_name, version)


def promote(model_version: ModelVersion) -> None:
    """Move the ``champion`` alias to ``model_version``."""
    MlflowClient().set_registered_model_alias(
        model_version.name, CHAMPION_ALIAS, model_version.version
    )


def version_uri(model_version: ModelVersion) -> str:
    """``models:/name/N`` of a registered version."""
    return f"models:/{model_version.name}/{model_version.version}"


GIT_COMMIT_TAG = "mlflow.source.git.commit"


def source_commit(run_id: str) -> str | None:
    """The git commit ``mlflow run`` recorded for ``run_id`` or for the nearest parent run."""
    client = MlflowClient()
    while run_id:
        tags = client.get_run(run_id).data.tags
        if GIT_COMMIT_TAG in tags:
            return tags[GIT_COMMIT_TAG]
        run_id = tags.get("mlflow.parentRunId", "")
    return None


def model_card_facts(
    version: ModelVersion,
    prepare_run_id: str,
    holdout_metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    importance: pd.DataFrame,
) -> ModelCardFacts:
    """Gather what the model card of ``version`` states from its train and prepare runs.

    Args:
        version: The registered version being evaluated.
        prepare_run_id: The prepare run whose holdout was scored.
        holdout_metrics: The version's holdout metrics.
        baselines: Holdout metrics per baseline.
        importance: Permutation importance of the raw columns.

    Returns:
        The facts for :func:`~titanic_model.model_card.render_model_card`.
    """
    client = MlflowClient()
    train = client.get_run(version.run_id).data
    prepare = client.get_run(prepare_run_id).data
    return ModelCardFacts(
        model_name=version.name,
        version=str(version.version),
        model_params={
            k.removeprefix("best_"): v for k, v in train.params.items() if k.startswith("best_")
        },
        cv_metrics={k: v for k, v in train.metrics.items() if k.startswith("cv_")},
        cv_folds=int(train.params.get("cv_folds", "0")),
        holdout_metrics=holdout_metrics,
        baselines=baselines,
        holdout_rows=int(prepare.metrics["rows_holdout"]),
        train_rows=int(prepare.metrics["rows_train"]),
        data_uri=prepare.tags[DATA_URI_TAG],
        train_digest=prepare.tags["train_digest"],
        holdout_digest=prepare.tags["holdout_digest"],
        importance=importance,
        git_commit=source_commit(version.run_id),
        train_params={k: v for k, v in train.params.items() if not k.startswith("best_")}
        | {"prepare_run_id": prepare_run_id},
    )


def describe_version(version: ModelVersion, description: str, tags: dict[str, str]) -> None:
    """Set the registry description (the model card) and tags of a model version."""
    client = MlflowClient()
    client.update_model_version(version.name, version.version, description=description)
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value)


def best_version(model_name: str, experiment_name: str, tag: str = "cv_accuracy") -> ModelVersion:
    """The version of ``model_name`` trained in ``experiment_name`` with the highest ``tag``.

    Args:
        model_name: Registered model.
        experiment_name: Experiment whose train runs competed (one Argo workflow's, say).
        tag: Version tag holding the score to maximise.

    Raises:
        MlflowException: When no version of the model comes from that experiment.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    versions = [
        v
        for v in client.search_model_versions(f"name = '{model_name}'")
        if experiment is not None
        and v.run_id
        and client.get_run(v.run_id).info.experiment_id == experiment.experiment_id
        and tag in v.tags
    ]
    if not versions:
        raise MlflowException(
            f"no version of {model_name!r} was trained in experiment {experiment_name!r}",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return max(versions, key=lambda v: (float(v.tags[tag]), -int(v.version)))
