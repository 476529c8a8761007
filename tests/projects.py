"""Running the MLflow Project as a user does, against a chosen tracking backend."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import pandas as pd
import pytest
import requests
import skops.io
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.processes import (
    PROJECT_ROOT,
    VENV_BIN,
    free_port,
    start_process,
    stop_process,
    wait_for_http,
)

EXPERIMENT = "titanic-integration"


def mlflow_params(**params: str) -> tuple[str, ...]:
    """``-P name=value`` options for ``mlflow run``."""
    return tuple(option for name, value in params.items() for option in ("-P", f"{name}={value}"))


# Small but real: every candidate, 4 grid points, 3 folds.
QUICK_GRID = {
    "n_trees": "40", "max_depth": "4,6", "min_samples_leaf": "2", "learning_rate": "0.1",
    "logistic_c": "1", "cv_folds": "3",
}  # fmt: skip
QUICK = mlflow_params(**QUICK_GRID)
# A deliberately poor model: one stump.
WEAK = mlflow_params(
    candidates="random_forest", n_trees="1", max_depth="1", min_samples_leaf="100", cv_folds="2"
)


@dataclass
class Project:
    """Runs ``mlflow run`` on the project against one tracking backend, in one experiment."""

    tracking_uri: str
    env: dict[str, str]
    experiment: str = EXPERIMENT

    def run(
        self,
        *args: str,
        entry_point: str = "main",
        env_manager: str = "local",
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        command = [
            str(VENV_BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", entry_point,
            "--env-manager", env_manager, "--experiment-name", self.experiment, *args,
        ]  # fmt: skip
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def runs(self) -> list:
        experiment = self.client.get_experiment_by_name(self.experiment)
        return self.client.search_runs([experiment.experiment_id], max_results=1000)

    def latest_run(self):
        """The run started last in the experiment."""
        return max(self.runs(), key=lambda r: r.info.start_time)

    def registry_state(self) -> tuple[list[str], dict[str, str]]:
        # Stores disagree on whether versions are ints or strings: compare them as strings.
        versions = self.client.search_model_versions("name = 'titanic'")
        aliases = self.client.get_registered_model("titanic").aliases
        return sorted(str(v.version) for v in versions), {k: str(v) for k, v in aliases.items()}


def activate_sqlite_store(folder: Path, experiment: str, patch: pytest.MonkeyPatch) -> str:
    """A new sqlite store in ``folder`` (artifacts beside it), active in this process.

    Returns:
        Its URI; the new ``experiment`` is the one runs go to.
    """
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment_id = MlflowClient(uri).create_experiment(experiment, str(folder / "artifacts"))
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    return uri


def make_project(
    tracking_uri: str,
    artifact_location: str | None,
    folder: Path,
    train_csv: Path,
    experiment: str | None = None,
) -> Project:
    """A :class:`Project` on ``tracking_uri`` with a clean environment.

    Its runs go to a fresh experiment, or to ``experiment`` when given (one that exists: on
    the tracking stack, only the admin creates experiments).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TITANIC_", "AWS_"))}
    env.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        TITANIC_DATA_URI=str(train_csv),
        TITANIC_CACHE_DIR=str(folder / "cache"),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        # Every model the tests load or serve must load without unpickling anything.
        MLFLOW_ALLOW_PICKLE_DESERIALIZATION="false",
    )
    if experiment is None:
        experiment = EXPERIMENT
        MlflowClient(tracking_uri).create_experiment(experiment, artifact_location)
    return Project(tracking_uri, env, experiment)


def project_on_sqlite(folder: Path, train_csv: Path) -> Project:
    """A :class:`Project` on a new sqlite store with local artifacts, both in ``folder``."""
    return make_project(
        f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"), folder, train_csv
    )


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts of plain Python values at full precision; NaN becomes None.

    What a server's JSON answer must equal, to the bit, for the same model's predictions.
    """
    return [
        {k: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _start_server(command: list[str], log: Path, env: dict[str, str]) -> tuple[str, object]:
    """Start a model server whose command ends with its port; wait for its ``/ping``."""
    port = free_port()
    process = start_process([*command, str(port)], log.with_name(f"{log.name}-{port}.log"), env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process)
    except Exception:
        stop_process(process)
        raise
    return url, process


def serve_model(project: Project, model_uri: str, folder: Path) -> tuple[str, object]:
    """Start ``mlflow models serve`` on a free port; return its URL and process."""
    return _start_server(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p"],
        folder / "serve",
        project.env,
    )  # fmt: skip


def serve_layer(
    project: Project,
    model_uri: str,
    folder: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> tuple[str, subprocess.Popen]:
    """Start the serving layer (``python -m titanic_model.serving``, what ``make serve`` runs).

    Args:
        project: Whose tracking store and environment to use.
        model_uri: What to serve.
        folder: Where its output goes (``layer-<port>.log``).
        workers: Worker processes.
        env: Extra environment variables (``TITANIC_PREDICTION_LOG``…).

    Returns:
        Its URL and process (stop it with :func:`stop_process`).
    """
    return _start_server(
        [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri", model_uri,
         "--workers", str(workers), "--port"],
        folder / "layer",
        {**project.env, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
    )  # fmt: skip


def tampered_copy(project: Project, folder: Path) -> Path:
    """A copy of version 1 whose pipeline file was rewritten to run a command (skops)."""
    original = Path(project.client.get_model_version_download_uri("titanic", "1"))
    tampered = folder / "tampered"
    shutil.copytree(original, tampered)
    skops.io.dump(
        Pipeline([("run", FunctionTransformer(os.system))]),
        tampered / "artifacts" / "pipeline.skops",
    )
    return tampered


#: Credentials moto's S3 server accepts (any will do), for the processes the tests start.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def s3_client(endpoint_url: str):
    """A boto3 S3 client of moto's server at ``endpoint_url``, with :data:`S3_CREDENTIALS`."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def predict_csv(url: str, passengers: pd.DataFrame) -> list[dict]:
    """POST raw passengers as CSV to a model server; return its predictions (a 200 or fail)."""
    response = requests.post(
        f"{url}/invocations",
        data=passengers.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]
