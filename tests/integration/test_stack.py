"""The remote tracking stack for real: PostgreSQL, an S3 server and ``mlflow server``.

``deployment/stack.sh`` starts them on 127.0.0.1, with MLflow's basic-auth app and one user
per role (titanic_model/access.py); the project then reads its data from ``s3://``, logs to
the server as the training user, keeps its artifacts in the bucket and is served from the
registry through the server as the serving user, and a restart of the tracking services loses
nothing. Each role can do what it is for and is refused the rest; a refusal is one line.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import mlflow
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from tests.processes import PROJECT_ROOT, VENV_BIN, free_port, stop_process
from tests.projects import (
    QUICK,
    Project,
    make_project,
    mlflow_params,
    predict_csv,
    serve_layer,
    serve_model,
)
from titanic_model.access import MONITORING_EXPERIMENT_ID, ROLES

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
USER_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
# A small grid: these runs are about permissions, not models.
TINY = mlflow_params(candidates="logistic_regression", logistic_c="1", cv_folds="2")


def _exports(text: str) -> dict[str, str]:
    """The variables of the ``export`` lines in ``text``."""
    return dict(
        pair.split("=", 1)
        for line in text.splitlines()
        if line.startswith("export ")
        for pair in shlex.split(line.removeprefix("export "))
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[dict]:
    # PostgreSQL runs as its own user, who cannot enter pytest's private temporary folders.
    folder = Path(tempfile.mkdtemp(prefix="titanic-stack-"))
    folder.chmod(0o755)
    settings = {
        "STACK_DIR": str(folder), "PG_PORT": str(free_port()), "S3_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()), "BUCKET": "mlflow", **CREDENTIALS,
    }  # fmt: skip
    # No password from the caller's environment: the stack generates every one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "TITANIC_"))}
    env.update(settings)

    def run(*command: str) -> str:
        result = subprocess.run(
            [str(STACK), *command], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr[-3000:])
        return result.stdout

    printed = run("up")
    users = {role: _exports(run("env", role)) for role in [*ROLES, "admin"]}
    try:
        yield {
            **settings,
            "printed": printed,
            "users": {role: {k: v[k] for k in USER_VARIABLES} for role, v in users.items()},
            "tracking_uri": f"http://127.0.0.1:{settings['MLFLOW_PORT']}",
            "s3_endpoint": f"http://127.0.0.1:{settings['S3_PORT']}",
            "run": run,
        }
    finally:
        run("down")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _as(user: dict[str, str]) -> Iterator[None]:
    """This process's MLflow clients call the server as ``user``."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in user.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def on_stack(stack, train_csv, tmp_path_factory) -> Iterator[Project]:
    """The project pointed at the stack as the training user, the raw data in the bucket.

    The tests' own clients (``on_stack.client``) are the training user too.
    """
    s3 = boto3.client("s3", endpoint_url=stack["s3_endpoint"], **_boto_credentials())
    s3.upload_file(str(train_csv), "mlflow", "data/train.csv")
    with _as(stack["users"]["training"]):
        project = make_project(
            stack["tracking_uri"], None, tmp_path_factory.mktemp("on-stack"), train_csv
        )
        project.env.update(
            CREDENTIALS, MLFLOW_S3_ENDPOINT_URL=stack["s3_endpoint"], **stack["users"]["training"]
        )
        project.env.pop("TITANIC_DATA_URI")
        yield project


def _as_role(project: Project, stack: dict, role: str) -> Project:
    """``project`` with ``role``'s credentials instead of the training user's."""
    return dataclasses.replace(project, env={**project.env, **stack["users"][role]})


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _mlflow_run(
    project: Project, entry_point: str, experiment: str, *params: str
) -> subprocess.CompletedProcess:
    """``mlflow run`` of ``entry_point`` in ``experiment`` (Project.run's is the tests' own)."""
    command = [
        str(VENV_BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", entry_point,
        "--env-manager", "local", "--experiment-name", experiment, *params,
    ]  # fmt: skip
    return subprocess.run(
        command, env=project.env, capture_output=True, text=True, timeout=600, check=False
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_stack_up_prints_what_a_shell_exports_to_work_as_the_training_user(stack):
    assert _exports(stack["printed"]) == {
        "MLFLOW_TRACKING_URI": stack["tracking_uri"],
        **stack["users"]["training"],
        "MLFLOW_S3_ENDPOINT_URL": stack["s3_endpoint"],
        "AWS_ACCESS_KEY_ID": "stack-test",
        "AWS_SECRET_ACCESS_KEY": "stack-test",
    }
    assert stack["users"]["training"]["MLFLOW_TRACKING_USERNAME"] == "training"
    passwords = [user["MLFLOW_TRACKING_PASSWORD"] for user in stack["users"].values()]
    assert len(set(passwords)) == len(passwords)
    assert all(len(password) >= 24 for password in passwords)
    # The server's auth settings: readable by their owner alone, and no password in them.
    ini = Path(stack["STACK_DIR"]) / "basic_auth.ini"
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600
    text = ini.read_text()
    assert "default_permission = NO_PERMISSIONS" in text
    assert "/mlflow_auth" in text
    assert not any(password in text for password in passwords)


def test_end_to_end_on_postgres_s3_and_mlflow_server(stack, on_stack, tmp_path):
    result = on_stack.run(*QUICK, "-P", "data_uri=s3://mlflow/data/train.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert on_stack.registry_state() == (["1"], {"champion": "1"})

    # The model's files are in the bucket, under the server's artifact destination.
    s3 = boto3.client("s3", endpoint_url=stack["s3_endpoint"], **_boto_credentials())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow", Prefix="artifacts/")["Contents"]]
    assert any(key.endswith("/MLmodel") for key in keys)
    assert any(key.endswith("splits/holdout.csv") for key in keys)

    # Served from the registry, through the server, with the serving user's credentials.
    url, process = serve_model(_as_role(on_stack, stack, "serving"), "models:/titanic@champion",
                               tmp_path)  # fmt: skip
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


def test_an_anonymous_call_is_refused(stack):
    search = f"{stack['tracking_uri']}/api/2.0/mlflow/experiments/search"
    assert requests.get(search, params={"max_results": 1}, timeout=10).status_code == 401
    create = f"{stack['tracking_uri']}/api/2.0/mlflow/registered-models/create"
    assert requests.post(create, json={"name": "anonymous"}, timeout=10).status_code == 401


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(stack, on_stack):
    search = f"{stack['tracking_uri']}/api/2.0/mlflow/experiments/search"
    answers = [
        requests.get(search, params={"max_results": 1}, auth=auth, timeout=10)
        for auth in [("serving", "wrong"), ("nobody", "wrong"), None]
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    # A wrong password of a real user, an unknown user, no credentials: the same answer.
    assert len({(answer.text, answer.headers["WWW-Authenticate"]) for answer in answers}) == 1
    assert "password" not in answers[0].text.lower()

    wrong = {**on_stack.env, "MLFLOW_TRACKING_PASSWORD": "wrong"}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "entrypoints", "prepare",
         "--data_uri", "s3://mlflow/data/train.csv"],
        cwd=PROJECT_ROOT, env=wrong, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert _error_lines(result.stderr) == [
        f"error: the tracking server at {stack['tracking_uri']} refused the credentials of user "
        "'training' (401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user "
        "of the server"
    ]

    # What `make run` checks before `mlflow run`, whose own process would print a traceback.
    anonymous = {k: v for k, v in on_stack.env.items() if k not in USER_VARIABLES}
    check = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "titanic_model.credentials"],
        cwd=PROJECT_ROOT, env=anonymous, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 1
    assert check.stderr == (
        f"error: the tracking server at {stack['tracking_uri']} refused a call without "
        "credentials (401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user "
        "of the server\n"
    )


def _status(call) -> int | None:
    """The HTTP status of the server's refusal of ``call``; None if it succeeded."""
    try:
        call()
    except MlflowException as error:
        return error.get_http_status_code()
    return None


def test_the_serving_user_serves_the_champion_and_changes_nothing(stack, on_stack, tmp_path):
    registry = on_stack.registry_state()
    champion = on_stack.client.get_model_version_by_alias("titanic", "champion")
    serving = _as_role(on_stack, stack, "serving")

    # The serving layer (the image's, `make serve`'s) loads and serves the champion.
    url, process = serve_layer(serving, "models:/titanic@champion", tmp_path)
    try:
        assert predict_csv(url, pd.DataFrame([ALLEN]))[0]["survived"] == 1
    finally:
        stop_process(process)

    with _as(stack["users"]["serving"]):
        client = MlflowClient(stack["tracking_uri"], registry_uri=stack["tracking_uri"])
        refusals = [
            _status(lambda: client.create_model_version(
                "titanic", champion.source, champion.run_id)),
            _status(lambda: client.set_registered_model_alias(
                "titanic", "champion", champion.version)),
            _status(lambda: client.set_registered_model_alias("titanic", "shadow", "1")),
            _status(lambda: client.delete_registered_model_alias("titanic", "champion")),
            _status(lambda: client.delete_run(champion.run_id)),
        ]  # fmt: skip
    assert refusals == [403] * 5
    assert on_stack.registry_state() == registry
    assert on_stack.client.get_run(champion.run_id).info.lifecycle_stage == "active"


def test_a_refused_training_run_leaves_nothing_registered(stack, on_stack):
    # The monitoring user may log runs in its experiment, but not register versions.
    registry = on_stack.registry_state()
    monitoring = _as_role(on_stack, stack, "monitoring")
    result = _mlflow_run(
        monitoring, "main", "titanic-monitoring", *TINY, "-P", "data_uri=s3://mlflow/data/train.csv"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert _error_lines(result.stderr) == [
        f"error: the tracking server at {stack['tracking_uri']} does not let user 'monitoring' "
        "call /api/2.0/mlflow/model-versions/create (403): its role lacks the permission "
        "(docs/deployment.md#who-may-do-what)"
    ]
    assert on_stack.registry_state() == registry
    with _as(stack["users"]["admin"]):
        everything = MlflowClient(stack["tracking_uri"]).search_registered_models()
    assert [model.name for model in everything] == ["titanic"]


def test_the_monitoring_user_logs_its_runs_and_tags_the_versions_it_saw(
    stack, on_stack, test_csv, tmp_path
):
    # The serving layer logs what it answers to the bucket; the monitoring job reads it back.
    log = {"TITANIC_PREDICTION_LOG": "s3://mlflow/prediction-log"}
    url, process = serve_layer(_as_role(on_stack, stack, "serving"), "models:/titanic@champion",
                               tmp_path, env=log)  # fmt: skip
    try:
        predict_csv(url, pd.read_csv(test_csv).head(60))
    finally:
        stop_process(process)  # the log is written out at shutdown
    registry = on_stack.registry_state()

    result = _mlflow_run(_as_role(on_stack, stack, "monitoring"), "monitor", "titanic-monitoring",
                         "-P", "log_uri=s3://mlflow/prediction-log")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    champion = on_stack.client.get_model_version_by_alias("titanic", "champion")
    assert "monitoring_run_id" in champion.tags
    assert on_stack.registry_state() == registry


def test_each_role_has_exactly_its_grants_however_often_it_is_set_up(stack):
    assert stack["run"]("up") == stack["printed"]
    with _as(stack["users"]["admin"]):
        auth = AuthServiceClient(stack["tracking_uri"])
        monitoring = MlflowClient(stack["tracking_uri"]).get_experiment_by_name(
            "titanic-monitoring"
        )
        for role, grants in ROLES.items():
            for grant in grants:
                resource = grant.resource_id.replace(
                    MONITORING_EXPERIMENT_ID, monitoring.experiment_id
                )
                granted = auth.get_user_permission(role, grant.resource_type, resource)
                assert granted.permission == grant.permission, (role, grant)


def test_the_server_answers_only_its_own_host_names_and_origins(stack):
    search = f"{stack['tracking_uri']}/api/2.0/mlflow/experiments/search"
    user = stack["users"]["training"]
    auth = (user["MLFLOW_TRACKING_USERNAME"], user["MLFLOW_TRACKING_PASSWORD"])
    ok = requests.get(search, params={"max_results": 1}, auth=auth, timeout=10)
    assert ok.status_code == 200
    rebound = requests.get(
        search, params={"max_results": 1}, auth=auth, headers={"Host": "evil.example"}, timeout=10
    )
    assert rebound.status_code == 403
    create = f"{stack['tracking_uri']}/api/2.0/mlflow/experiments/create"
    foreign = requests.post(
        create, json={"name": "cross-site"}, auth=auth,
        headers={"Origin": "https://evil.example"}, timeout=10,
    )  # fmt: skip
    assert foreign.status_code == 403
    with _as(user):
        assert MlflowClient(stack["tracking_uri"]).get_experiment_by_name("cross-site") is None


def test_restarting_the_tracking_services_loses_nothing(stack, on_stack, tmp_path, test_csv):
    runs_before = sorted(run.info.run_id for run in on_stack.runs())
    registry_before = on_stack.registry_state()
    assert runs_before
    passengers = pd.read_csv(test_csv).head(20)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", on_stack.tracking_uri)
        champion = mlflow.pyfunc.load_model("models:/titanic@champion")
    expected = champion.predict(passengers).to_dict(orient="records")

    stack["run"]("restart-tracking")

    assert sorted(run.info.run_id for run in on_stack.runs()) == runs_before
    assert on_stack.registry_state() == registry_before
    # The champion still serves, through the restarted server, with the same answers; the
    # users and their permissions survived too.
    serving = _as_role(on_stack, stack, "serving")
    url, process = serve_model(serving, "models:/titanic@champion", tmp_path)
    try:
        assert predict_csv(url, passengers) == expected
    finally:
        stop_process(process)
