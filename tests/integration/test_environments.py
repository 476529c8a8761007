"""The environments MLflow builds itself, with its default environment manager (virtualenv).

No ``--env-manager local`` here: MLflow asks pyenv for the interpreter, makes a virtualenv and
installs the pinned requirements from the package index, as a new user's machine would. For a
registered version it builds from the version's own files (``python_env.yaml`` and
``requirements.txt``); for the project, from ``conda.yaml``. Each build takes a few minutes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.processes import VENV_BIN, free_port, start_process, stop_process, wait_for_http
from tests.projects import QUICK_GRID, Project, mlflow_params, predict_csv, project_on_sqlite

pytestmark = pytest.mark.integration

BUILD_TIMEOUT = 900


def test_the_design_cards_serve_command_builds_the_models_own_environment(
    registered: Project, in_process, test_csv, tmp_path
):
    """``mlflow models serve -m models:/titanic/1``, literally: nothing but the address added."""
    port = free_port()
    process = start_process(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", "models:/titanic/1",
         "-h", "127.0.0.1", "-p", str(port)],
        tmp_path / "serve.log",
        registered.env,
    )  # fmt: skip
    passengers = pd.read_csv(test_csv).head(25)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process, timeout=BUILD_TIMEOUT)
        predictions = predict_csv(f"http://127.0.0.1:{port}", passengers)
    finally:
        stop_process(process)

    log = (tmp_path / "serve.log").read_text()
    assert "Creating a new environment" in log or "already exists" in log, log[-2000:]
    assert predictions == in_process.predict(passengers).to_dict("records")


def test_mlflow_run_builds_the_projects_environment_from_conda_yaml(train_csv, tmp_path):
    """``mlflow run . --env-manager virtualenv``: conda.yaml is all it needs.

    The quick grid with ``n_trees=50``: the claim is the environment, not the model.
    """
    project = project_on_sqlite(tmp_path, train_csv)

    result = project.run(
        *mlflow_params(**{**QUICK_GRID, "n_trees": "50"}),
        env_manager="virtualenv",
        timeout=BUILD_TIMEOUT,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert project.registry_state() == (["1"], {"champion": "1"})
    train = next(r for r in project.runs() if r.info.run_name == "train")
    assert train.data.params["n_trees"] == "50"
