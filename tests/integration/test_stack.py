"""The remote tracking stack for real: PostgreSQL, an S3 server and ``mlflow server``.

``deployment/stack.sh`` starts them on 127.0.0.1, with MLflow's basic-auth app behind the
project's request filter and one user per role (titanic_model/access.py); the project then
reads its data from ``s3://`` (a data bucket of its own), logs to the server as the training
user into the training experiment, keeps its artifacts in the bucket through the server's
proxy and is served from the registry through the server as the serving user, which logs its
predictions to a bucket of their own that the monitoring user reads; and a restart of the
tracking services loses nothing. Each role can do what it is for and is refused the rest; a
refusal is one line. (Hostile requests: tests/integration/test_hostile_requests.py.)
"""

from __future__ import annotations

import dataclasses
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import mlflow
import pandas as pd
import pytest
import requests
import sqlalchemy
from mlflow import MlflowClient
from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from tests.processes import PROJECT_ROOT, VENV_BIN, free_ports, stop_process
from tests.projects import (
    QUICK,
    Project,
    make_project,
    mlflow_params,
    predict_csv,
    serve_layer,
    serve_model,
)
from tests.stack import STORE_KEYS, USER_VARIABLES, exports, running_stack
from titanic_model.access import MONITORING_EXPERIMENT_ID, ROLES, TRAINING_EXPERIMENT_ID
from titanic_model.config import SearchConfig, TrainConfig
from titanic_model.io import registry
from titanic_model.io.runs import last_run_tagged, log_dataset
from titanic_model.jobs.train import train

pytestmark = pytest.mark.integration

ALLEN = {
    "Pclass": 1, "Name": "Allen, Miss. Elisabeth Walton", "Sex": "female", "Age": 29,
    "SibSp": 0, "Parch": 0, "Ticket": "24160", "Fare": 211.34,
}  # fmt: skip
# The training data's bucket and its reader's keys: the job's own, not the artifact store's.
DATA_BUCKET = "titanic-data"
DATA_KEYS = {
    "AWS_ACCESS_KEY_ID": "data-reader", "AWS_SECRET_ACCESS_KEY": "data-reader",
    "AWS_DEFAULT_REGION": "us-east-1",
}  # fmt: skip
DATA_URI = f"s3://{DATA_BUCKET}/train.csv"
# A small grid: these runs are about permissions, not models.
TINY = mlflow_params(candidates="logistic_regression", logistic_c="1", cv_folds="2")


@pytest.fixture(scope="module")
def stack() -> Iterator[dict]:
    # Two server workers: concurrent gates must take turns across processes (PostgreSQL).
    with running_stack("titanic-stack-", MLFLOW_WORKERS="2") as stack:
        yield stack


@contextmanager
def _as(user: dict[str, str]) -> Iterator[None]:
    """This process's MLflow clients call the server as ``user``."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in user.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def on_stack(stack, train_csv, tmp_path_factory) -> Iterator[Project]:
    """The project pointed at the stack as the training user, the raw data in its own bucket.

    Its runs go to the training experiment, which the admin created. The tests' own clients
    (``on_stack.client``) are the training user too.
    """
    s3 = _s3(stack["s3_endpoint"], DATA_KEYS)
    s3.create_bucket(Bucket=DATA_BUCKET)
    s3.upload_file(str(train_csv), DATA_BUCKET, "train.csv")
    with _as(stack["users"]["training"]):
        project = make_project(
            stack["tracking_uri"], None, tmp_path_factory.mktemp("on-stack"), train_csv,
            experiment=stack["env"]["training"]["MLFLOW_EXPERIMENT_NAME"],
        )  # fmt: skip
        project.env.update(
            stack["env"]["training"], **DATA_KEYS, AWS_ENDPOINT_URL_S3=stack["s3_endpoint"]
        )
        project.env.pop("TITANIC_DATA_URI")
        yield project


def _as_role(project: Project, stack: dict, role: str) -> Project:
    """``project`` with what ``stack.sh env <role>`` sets instead of the training user's."""
    own = {k: v for k, v in project.env.items() if k not in stack["env"]["training"]}
    return dataclasses.replace(project, env={**own, **stack["env"][role]})


def _s3(endpoint: str, keys: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        region_name=keys["AWS_DEFAULT_REGION"],
    )


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


def test_a_stack_that_fails_half_way_up_is_stopped():
    """`up` fails once PostgreSQL and moto run (a bucket name S3 refuses): both are stopped."""
    pg_port, s3_port = free_ports(2)
    ports = {"PG_PORT": str(pg_port), "S3_PORT": str(s3_port)}
    with (
        pytest.raises(AssertionError, match="InvalidBucketName"),
        running_stack("titanic-partial-", BUCKET="x", **ports),
    ):
        pass  # pragma: no cover: `up` fails
    listening = []
    for port in (pg_port, s3_port):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                listening.append(port)
    assert listening == []


def test_stack_up_prints_what_a_shell_exports_to_work_as_the_training_user(stack):
    assert (
        exports(stack["printed"])
        == stack["env"]["training"]
        == {
            "MLFLOW_TRACKING_URI": stack["tracking_uri"],
            **stack["users"]["training"],
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
            "MLFLOW_EXPERIMENT_NAME": "titanic",
        }
    )
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


def test_only_the_server_holds_the_artifact_stores_keys(stack):
    # Every role's variables name the server and the user, never the store's keys; serving
    # and monitoring get the prediction log's, for a bucket of its own.
    for role, variables in stack["env"].items():
        assert not set(variables) & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                     "MLFLOW_S3_ENDPOINT_URL"}, role  # fmt: skip
        assert not set(variables.values()) & set(STORE_KEYS.values()), role
    assert stack["env"]["serving"]["TITANIC_PREDICTION_LOG"] == "s3://prediction-log/predictions"
    log_variables = {name for name in stack["env"]["monitoring"] if "PREDICTION_LOG" in name}
    assert log_variables == {
        "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL", "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID",
        "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY",
    }  # fmt: skip


def test_end_to_end_on_postgres_s3_and_mlflow_server(stack, on_stack, tmp_path):
    result = on_stack.run(*QUICK, "-P", f"data_uri={DATA_URI}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert on_stack.registry_state() == (["1"], {"champion": "1"})
    (run,) = [r for r in on_stack.runs() if not r.data.tags.get("mlflow.parentRunId")]
    # In the experiment the admin created, whose artifacts go through the server's proxy.
    experiment = on_stack.client.get_experiment_by_name("titanic")
    assert run.info.experiment_id == experiment.experiment_id
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.experiment_id}"
    assert run.info.artifact_uri == (f"{experiment.artifact_location}/{run.info.run_id}/artifacts")

    # The model's files are in the bucket, under the server's artifact destination, in the
    # experiment's folder.
    s3 = _s3(stack["s3_endpoint"], STORE_KEYS)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow", Prefix="artifacts/")["Contents"]]
    assert all(key.startswith(f"artifacts/{experiment.experiment_id}/") for key in keys), keys
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
         "--data_uri", DATA_URI],
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
        monitoring, "main", "titanic-monitoring", *TINY, "-P", f"data_uri={DATA_URI}"
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
    # The serving layer logs what it answers to the log's bucket, with the log's own keys
    # (`stack.sh env serving`); the monitoring job reads it back with its own (`env monitoring`).
    started = int(time.time() * 1000)
    serving = _as_role(on_stack, stack, "serving")
    url, process = serve_layer(serving, "models:/titanic@champion", tmp_path)
    try:
        predict_csv(url, pd.read_csv(test_csv).head(60))
    finally:
        stop_process(process)  # the log is written out at shutdown
    registry = on_stack.registry_state()

    log_uri = stack["env"]["serving"]["TITANIC_PREDICTION_LOG"]
    result = _mlflow_run(_as_role(on_stack, stack, "monitoring"), "monitor", "titanic-monitoring",
                         "-P", f"log_uri={log_uri}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    champion = on_stack.client.get_model_version_by_alias("titanic", "champion")
    # The tag names the run this job logged, in monitoring's experiment.
    monitoring = on_stack.client.get_experiment_by_name("titanic-monitoring")
    monitor_run = on_stack.client.get_run(champion.tags["monitoring_run_id"])
    assert monitor_run.info.experiment_id == monitoring.experiment_id
    assert monitor_run.data.tags["mlflow.project.entryPoint"] == "monitor"
    assert monitor_run.info.start_time >= started
    assert on_stack.registry_state() == registry


def _grants(stack: dict, role: str) -> set[tuple[str, str, str]]:
    """Every permission ``role`` holds, as the server lists them to the admin."""
    admin = stack["users"]["admin"]
    listed = requests.get(
        f"{stack['tracking_uri']}/api/3.0/mlflow/users/permissions/list",
        params={"username": role}, timeout=30,
        auth=(admin["MLFLOW_TRACKING_USERNAME"], admin["MLFLOW_TRACKING_PASSWORD"]),
    )  # fmt: skip
    assert listed.status_code == 200, listed.text
    return {(p["resource_type"], p["resource_pattern"], p["permission"])
            for p in listed.json()["permissions"]}  # fmt: skip


def test_each_role_has_exactly_its_grants_however_often_it_is_set_up(stack):
    with _as(stack["users"]["admin"]):
        auth = AuthServiceClient(stack["tracking_uri"])
        client = MlflowClient(stack["tracking_uri"])
        experiments = {
            MONITORING_EXPERIMENT_ID: client.get_experiment_by_name("titanic-monitoring"),
            TRAINING_EXPERIMENT_ID: client.get_experiment_by_name("titanic"),
        }
        # Permissions from elsewhere (an older plan, a hand-made one) are taken away by `up`:
        # a grant of its own, a grant of a higher level, an admin's rights.
        auth.grant_user_permission("serving", "experiment", "0", "EDIT")
        auth.revoke_user_permission("training", "registered_model", "titanic")
        auth.grant_user_permission("training", "registered_model", "titanic", "MANAGE")
        auth.update_user_admin("monitoring", True)
    assert ("experiment", "0", "EDIT") in _grants(stack, "serving")
    assert ("registered_model", "titanic", "MANAGE") in _grants(stack, "training")
    assert _is_admin(stack, "monitoring")
    assert stack["run"]("up") == stack["printed"]
    for role, grants in ROLES.items():
        expected = {
            (g.resource_type, experiments[g.resource_id].experiment_id
             if g.resource_id in experiments else g.resource_id, g.permission)
            for g in grants
        }  # fmt: skip
        assert _grants(stack, role) == expected, role
        assert not _is_admin(stack, role), role


def _is_admin(stack: dict, role: str) -> bool:
    with _as(stack["users"]["admin"]):
        return AuthServiceClient(stack["tracking_uri"]).get_user(role).is_admin


def test_training_reads_the_comparisons_promote_acts_on_and_moves_challenger(stack, on_stack):
    """What `promote` needs beyond the gate: monitoring's comparison runs, and the alias."""
    champion = on_stack.client.get_model_version_by_alias("titanic", "champion")
    tags = {"served_model_name": "titanic", "served_model_version": str(champion.version),
            "decision": "keep"}  # fmt: skip
    with _as(stack["users"]["monitoring"]):
        monitoring = MlflowClient(on_stack.tracking_uri)
        experiment = monitoring.get_experiment_by_name("titanic-monitoring").experiment_id
        comparison = monitoring.create_run(experiment, tags=tags, run_name="compare")
        monitoring.set_terminated(comparison.info.run_id)
    with _as(stack["users"]["training"]), pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", on_stack.tracking_uri)
        found = last_run_tagged("titanic-monitoring", tags)
        registry.promote(champion, "challenger")
    assert found is not None
    assert found.info.run_id == comparison.info.run_id
    assert on_stack.registry_state()[1]["challenger"] == str(champion.version)
    with _as(stack["users"]["admin"]):  # removing an alias is the admin's alone
        MlflowClient(on_stack.tracking_uri).delete_registered_model_alias("titanic", "challenger")


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
    with _as(user):
        client = MlflowClient(stack["tracking_uri"])
        experiment = client.get_experiment_by_name("titanic").experiment_id
        runs_before = len(client.search_runs([experiment]))
    create = f"{stack['tracking_uri']}/api/2.0/mlflow/runs/create"
    foreign = requests.post(
        create, json={"experiment_id": experiment}, auth=auth,
        headers={"Origin": "https://evil.example"}, timeout=10,
    )  # fmt: skip
    assert foreign.status_code == 403
    with _as(user):
        assert len(MlflowClient(stack["tracking_uri"]).search_runs([experiment])) == runs_before


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


def test_two_gates_at_once_leave_the_better_version_champion(stack, on_stack):
    """Two evaluate jobs gate two new versions at once, through a two-worker server on
    PostgreSQL, both better than the champion they start from: each takes the gate's lock in
    turn, so the one that moves second is compared with the first one's result."""
    client = on_stack.client
    prepare_run_id = client.get_model_version_by_alias("titanic", "champion").tags["prepare_run_id"]
    grids = {
        "stump": {"n_trees": "1", "max_depth": "1", "min_samples_leaf": "100"},
        "stronger": {"n_trees": "40", "max_depth": "6", "min_samples_leaf": "2"},
        "weaker": {"n_trees": "40", "max_depth": "1", "min_samples_leaf": "2"},
    }
    trained = {}
    with _as(stack["users"]["training"]), pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", on_stack.tracking_uri)
        patch.setenv("MLFLOW_EXPERIMENT_NAME", stack["env"]["training"]["MLFLOW_EXPERIMENT_NAME"])
        for quality, grid in grids.items():
            search = SearchConfig.from_params(
                {"candidates": "random_forest", "cv_folds": "2", **grid}
            )
            with mlflow.start_run():
                trained[quality] = train(TrainConfig.of(search, prepare_run_id=prepare_run_id))
    stump = trained.pop("stump")
    # A weak champion that both candidates beat (its answers are constant: ROC AUC 0.5).
    client.set_registered_model_alias("titanic", "champion", stump.version)
    gates = {}
    for quality in ("stronger", "weaker"):  # the weaker one a moment later: it moves last
        gates[quality] = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "entrypoints", "evaluate",
             "--model_uri", f"models:/titanic/{trained[quality].version}"],
            cwd=PROJECT_ROOT, env=on_stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        time.sleep(2)
    for quality, gate in gates.items():
        _, stderr = gate.communicate(timeout=600)
        assert gate.returncode == 0, (quality, stderr[-3000:])

    evaluation = {
        quality: next(
            run.data for run in on_stack.runs()
            if run.data.tags.get("model_uri") == f"models:/titanic/{version.version}"
        )
        for quality, version in trained.items()
    }  # fmt: skip
    before = {q: e.tags["champion_version_before"] for q, e in evaluation.items()}
    # They took turns: one compared with the stump, the other with the first one's version
    # (without the lock, both compare with the stump and the last to move wins).
    (first,) = [q for q in trained if before[q] == str(stump.version)]
    (second,) = [q for q in trained if q != first]
    assert before[second] == str(trained[first].version)
    auc = {q: e.metrics["holdout_roc_auc"] for q, e in evaluation.items()}
    assert auc["stronger"] > auc["weaker"] > 0.5
    champion = client.get_model_version_by_alias("titanic", "champion")
    assert str(champion.version) == str(trained["stronger"].version)
    assert not client.search_registered_models("name = 'titanic-gate-lock'")


def test_a_dataset_another_run_created_at_the_same_moment_is_linked_on_postgresql(stack, tmp_path):
    """The Argo workflow's parallel train steps race to create a dataset row: here on the
    stack's PostgreSQL, which words the collision its own way (tests/integration/test_runs.py
    makes it happen on SQLite). As our run inserts the row, another run's insert commits
    first, on its own connection."""
    uri = f"postgresql+psycopg2://postgres@127.0.0.1:{stack['PG_PORT']}/mlflow"
    frame = pd.DataFrame({"Survived": [0, 1], "Age": [22.0, 38.0]})
    dataset = mlflow.data.from_pandas(frame, source="s3://bucket/train.csv", name="train",
                                      targets="Survived")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        client = MlflowClient(uri)
        experiment = client.create_experiment("dataset-race", str(tmp_path / "artifacts"))
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
        other = client.create_run(experiment).info.run_id
        collisions: list[str] = []

        def insert_first(connection, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO DATASETS") and not collisions:
                collisions.append(statement)
                client.log_inputs(other, [DatasetInput(dataset._to_mlflow_entity())])

        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", insert_first)
        try:
            with mlflow.start_run() as ours:
                digest = log_dataset(frame, "train", "s3://bucket/train.csv", "training")
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", insert_first)
        engine = sqlalchemy.create_engine(uri)
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "SELECT d.digest, i.destination_id FROM datasets d JOIN inputs i "
                    "ON i.source_id = d.dataset_uuid WHERE d.experiment_id = :experiment"
                ),
                {"experiment": int(experiment)},
            ).all()
        engine.dispose()
    assert collisions  # the race happened
    # One row, linked to both runs.
    assert sorted(rows) == sorted([(digest, other), (digest, ours.info.run_id)])
