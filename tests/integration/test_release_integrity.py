"""What serves is what was approved (issue 23's acceptance, through the real serving layer).

- A server started on a checkout whose feature code was changed answers as the version.
- A server of a version whose ``model_code.py`` was changed in the artifact store refuses it,
  in one line naming the file, without running any of it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.processes import (
    PROJECT_ROOT,
    VENV_BIN,
    free_port,
    start_process,
    stop_process,
    wait_for_http,
)
from tests.projects import json_records, predict_csv

pytestmark = pytest.mark.integration

# The checkout's feature code changed after the version was trained: every title becomes
# "Rev" (a reverend's survival odds are not a Miss's).
_CHANGED_TITLES = """

def extract_titles(names):
    return np.array(["Rev" for _ in _text(names)], dtype=object)
"""


@pytest.fixture(scope="module")
def changed_checkout(tmp_path_factory) -> Path:
    checkout = tmp_path_factory.mktemp("checkout")
    for part in ("titanic_model", "entrypoints"):
        shutil.copytree(PROJECT_ROOT / part, checkout / part,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    features = checkout / "titanic_model" / "model" / "features.py"
    features.write_text(features.read_text() + _CHANGED_TITLES)
    return checkout


def test_the_changed_feature_code_would_change_the_answers(
    registered, changed_checkout, test_csv, in_process
):
    # What a process of that checkout would answer if it ran the version's fitted state
    # under its own feature code (MLflow's loader, with titanic_model imported first).
    script = (
        "import sys, mlflow, pandas as pd\n"
        "import titanic_model.model.features\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(model.predict(pd.read_csv(sys.argv[2]))['probability'].tolist())\n"
    )
    path = registered.client.get_model_version_download_uri("titanic", "1")
    mixed = subprocess.run(
        [sys.executable, "-c", script, path, str(test_csv)], cwd=changed_checkout,
        env={**registered.env, "PYTHONPATH": str(changed_checkout)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    mixed_answers = ast.literal_eval(mixed.stdout.strip().splitlines()[-1])
    version_answers = in_process.predict(pd.read_csv(test_csv))["probability"].tolist()
    assert len(mixed_answers) == len(version_answers)
    assert mixed_answers != version_answers


def test_a_server_of_a_changed_checkout_answers_as_the_version(
    registered, changed_checkout, test_csv, in_process, tmp_path
):
    passengers = pd.read_csv(test_csv)
    port = free_port()
    process = start_process(
        [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri",
         "models:/titanic/1", "--port", str(port)],
        tmp_path / "layer.log",
        {**registered.env, "PYTHONPATH": str(changed_checkout)},
        cwd=changed_checkout,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process)
        answers = predict_csv(f"http://127.0.0.1:{port}", passengers)
        served_from = subprocess.run(
            ["cat", f"/proc/{process.pid}/cwd/titanic_model/model/features.py"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        stop_process(process)
    assert _CHANGED_TITLES in served_from  # the server ran from the changed checkout
    assert answers == json_records(in_process.predict(passengers))


def test_a_version_whose_model_code_changed_is_refused_without_running_it(registered, tmp_path):
    stored = Path(registered.client.get_model_version_download_uri("titanic", "1"))
    model_code = stored / "model_code.py"
    original = model_code.read_bytes()
    marker = tmp_path / "it-ran"
    model_code.write_bytes(f"open({str(marker)!r}, 'w').close()\n".encode() + original)
    port = free_port()
    try:
        process = start_process(
            [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri",
             "models:/titanic/1", "--port", str(port)],
            tmp_path / "layer.log",
            {**registered.env, "PYTHONPATH": str(PROJECT_ROOT)},
        )  # fmt: skip
        try:
            status = process.wait(timeout=120)
        finally:
            stop_process(process)
    finally:
        model_code.write_bytes(original)
    output = (tmp_path / "layer.log").read_text()
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert status == 1, output
    assert len(errors) == 1, output
    assert errors[0].startswith("error: refusing titanic/1: model_code.py was changed"), output
    assert "Traceback" not in output
    assert not marker.exists()
