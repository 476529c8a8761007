"""The remote tracking stack for real: PostgreSQL, an S3 server and ``mlflow server``.

``deployment/stack.sh`` starts them on 127.0.0.1; the project then reads its data from
``s3://``, logs to the server, keeps its artifacts in the bucket and is served from the
registry through the server, and a restart of the tracking services loses nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import mlflow
import pandas as pd
import pytest
import requests

from tests.processes import PROJECT_ROOT, free_port, stop_process
from tests.projects import QUICK, Project, make_project, predict_csv, serve_model

pytestmark = pytest.mark.integration

STACK = PROJECT_ROOT / "deployment" / "stack.sh"
ALLEN = {
    "Pclass": 1, "Name": "Allen, Miss. Elisabeth Walton", "Sex": "female", "Age": 29,
    "SibSp": 0, "Parch": 0, "Ticket": "24160", "Fare": 211.34,
}  # fmt: skip
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "stack-test", "AWS_SECRET_ACCESS_KEY": "stack-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    # PostgreSQL runs as its own user, who cannot enter pytest's private temporary folders.
    folder = Path(tempfile.mkdtemp(prefix="titanic-stack-"))
    folder.chmod(0o755)
    settings = {
        "STACK_DIR": str(folder), "PG_PORT": str(free_port()), "S3_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()), "BUCKET": "mlflow", **CREDENTIALS,
    }  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env.update(settings)

    def run(command: str) -> None:
        result = subprocess.run(
            [str(STACK), command], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr[-3000:])

    run("up")
    try:
        yield {
            **settings,
            "tracking_uri": f"http://127.0.0.1:{settings['MLFLOW_PORT']}",
            "s3_endpoint": f"http://127.0.0.1:{settings['S3_PORT']}",
            "restart": lambda: run("restart-tracking"),
        }
    finally:
        run("down")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def on_stack(stack, train_csv, tmp_path_factory) -> Project:
    """The project pointed at the stack, with the raw data uploaded to the bucket."""
    s3 = boto3.client("s3", endpoint_url=stack["s3_endpoint"], **_boto_credentials())
    s3.upload_file(str(train_csv), "mlflow", "data/train.csv")
    project = make_project(
        stack["tracking_uri"], None, tmp_path_factory.mktemp("on-stack"), train_csv
    )
    project.env.update(CREDENTIALS, MLFLOW_S3_ENDPOINT_URL=stack["s3_endpoint"])
    project.env.pop("TITANIC_DATA_URI")
    return project


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def test_end_to_end_on_postgres_s3_and_mlflow_server(stack, on_stack, tmp_path):
    result = on_stack.run(*QUICK, "-P", "data_uri=s3://mlflow/data/train.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert on_stack.registry_state() == (["1"], {"champion": "1"})

    # The model's files are in the bucket, under the server's artifact destination.
    s3 = boto3.client("s3", endpoint_url=stack["s3_endpoint"], **_boto_credentials())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow", Prefix="artifacts/")["Contents"]]
    assert any(key.endswith("/MLmodel") for key in keys)
    assert any(key.endswith("splits/holdout.csv") for key in keys)

    # Served from the registry, through the server.
    url, process = serve_model(on_stack, "models:/titanic@champion", tmp_path)
    try:
        response = requests.post(
            f"{url}/invocations",
            json={"dataframe_records": [ALLEN]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["survived"] == 1
    finally:
        stop_process(process)


def test_restarting_the_tracking_services_loses_nothing(stack, on_stack, tmp_path, test_csv):
    runs_before = sorted(run.info.run_id for run in on_stack.runs())
    registry_before = on_stack.registry_state()
    assert runs_before
    passengers = pd.read_csv(test_csv).head(20)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", on_stack.tracking_uri)
        champion = mlflow.pyfunc.load_model("models:/titanic@champion")
    expected = champion.predict(passengers).to_dict(orient="records")

    stack["restart"]()

    assert sorted(run.info.run_id for run in on_stack.runs()) == runs_before
    assert on_stack.registry_state() == registry_before
    # The champion still serves, through the restarted server, with the same answers.
    url, process = serve_model(on_stack, "models:/titanic@champion", tmp_path)
    try:
        assert predict_csv(url, passengers) == expected
    finally:
        stop_process(process)
