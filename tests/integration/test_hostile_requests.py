"""Hand-made hostile requests against ``deployment/stack.sh up``, as an attacker would send them.

Raw HTTP (``http.client``: paths, headers and bodies exactly as written), as the anonymous,
serving and monitoring users (and training where only it could try), for each class of
docs/deployment.md's table: one object named twice, model-version sources, caller-chosen
artifact locations, routes nobody uses, and the artifact store's keys. Each case must be
refused with one JSON line, logged on the server in one line with its user, method and route,
and leave everything as it was: after each refusal the tracking and permission databases
(every table, hashed) and both buckets (every key and its bytes' ETag) are compared with a
snapshot taken before the cases. The legitimate flows still work through the filter: the MLflow
UI shows the registry to training in Chromium, and a pickled model is refused where the
serving user loads it. (Training, serving and monitoring end to end: tests/integration/
test_stack.py.)
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import boto3
import mlflow
import psycopg2
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from playwright.sync_api import sync_playwright

from tests.processes import CHROMIUM, CHROMIUM_ARGS
from tests.stack import STORE_KEYS, running_stack
from titanic_model.io.digests import digest_tags
from titanic_model.serving.app import build_app
from titanic_model.serving.settings import ServingConfig

pytestmark = pytest.mark.integration

RUN_SPELLINGS = ("run_id", "runId", "run_uuid", "runUuid")
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = (
    "/api/2.0/mlflow-artifacts/artifacts",
    "/ajax-api/2.0/mlflow-artifacts/artifacts",
)
CONTENT_TYPES = (None, "text/plain", "application/x-www-form-urlencoded", "application/json",
                 "application/json; charset=utf-8")  # fmt: skip
CANARY = Path(tempfile.gettempdir()) / "titanic-hostile-canary"


@pytest.fixture(scope="module")
def stack() -> Iterator[dict]:
    with running_stack("titanic-hostile-") as stack:
        yield stack


@contextmanager
def _as(stack: dict, role: str) -> Iterator[MlflowClient]:
    """A client of the server as ``role`` (MLflow's client reads the credentials per call)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack["users"][role].items():
            patch.setenv(name, value)
        patch.setenv("MLFLOW_TRACKING_URI", stack["tracking_uri"])
        yield MlflowClient(stack["tracking_uri"], registry_uri=stack["tracking_uri"])


@dataclass(frozen=True)
class World:
    """The objects the attacks aim at, all made the legitimate way."""

    training_experiment: str
    monitoring_experiment: str
    victim_run: str  # training's, in titanic
    own_run: str  # monitoring's, in titanic-monitoring
    logged_model: str


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    with _as(stack, "training") as training:
        experiment = training.get_experiment_by_name("titanic").experiment_id
        victim = training.create_run(experiment, run_name="victim").info.run_id
        training.log_batch(victim, metrics=[Metric("cv_accuracy_mean", 0.8, 0, 0)],
                           params=[Param("alpha", "1")])  # fmt: skip
        training.set_tag(victim, "stage", "trained")
        training.log_text(victim, "the victim's notes", "notes.txt")
        model = training.create_logged_model(experiment, name="model", source_run_id=victim)
        training.log_model_artifact(model.model_id, str(folder / "MLmodel"))
        training.finalize_logged_model(model.model_id, "READY")
        for _ in range(2):
            training.create_model_version(
                "titanic", f"models:/{model.model_id}", model_id=model.model_id
            )
        training.set_registered_model_alias("titanic", "champion", "1")
        training.update_model_version("titanic", "1", description="the model card")
        training.set_model_version_tag("titanic", "1", "cv_accuracy", "0.8")
        training.set_terminated(victim)
    with _as(stack, "monitoring") as monitoring:
        monitoring_experiment = monitoring.get_experiment_by_name("titanic-monitoring")
        own = monitoring.create_run(monitoring_experiment.experiment_id).info.run_id
        monitoring.log_text(own, "monitoring's own report", "report.html")
    log = stack["env"]["serving"]
    _s3(log).put_object(Bucket="prediction-log", Key="predictions/0.jsonl", Body=b"{}\n")
    return World(experiment, monitoring_experiment.experiment_id, victim, own, model.model_id)


def _s3(env: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=env["TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL"],
        aws_access_key_id=env["TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


class Snapshot:
    """The whole state, cheaply: a hash per database table, every object's ETag, the canary.

    One query per database (each table's rows hashed server-side) and one listing per bucket.
    """

    def __init__(self, stack: dict):
        self.connections = []
        self.queries = []
        for database in ("mlflow", "mlflow_auth"):
            connection = psycopg2.connect(
                host="127.0.0.1", port=stack["PG_PORT"], user="postgres", dbname=database
            )
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                tables = sorted(name for (name,) in cursor.fetchall())
            self.connections.append(connection)
            self.queries.append(" UNION ALL ".join(
                f"SELECT '{database}.{t}', md5(coalesce(string_agg(x::text, '|' ORDER BY "
                f"x::text), '')) FROM \"{t}\" x" for t in tables
            ))  # fmt: skip
        self.s3 = boto3.client("s3", endpoint_url=stack["s3_endpoint"], **{
            "aws_access_key_id": STORE_KEYS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": STORE_KEYS["AWS_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
        })  # fmt: skip

    def __call__(self) -> dict[str, str]:
        state = {}
        for connection, query in zip(self.connections, self.queries, strict=True):
            with connection.cursor() as cursor:
                cursor.execute(query)
                state.update(dict(cursor.fetchall()))
        for bucket in ("mlflow", "prediction-log"):
            for item in self.s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                state[f"s3://{bucket}/{item['Key']}"] = f"{item['ETag']}:{item['Size']}"
        state["canary"] = str(CANARY.exists())
        return state

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


@pytest.fixture(scope="module")
def snapshot(stack, world) -> Iterator[Snapshot]:
    taker = Snapshot(stack)
    yield taker
    taker.close()


@dataclass(frozen=True)
class Case:
    """One hostile request: who sends what, and the status it must get."""

    user: str
    method: str
    target: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    status: int | tuple[int, ...] = (400, 403)
    # Whether the server logs the refusal: the filter logs its own and MLflow's 401s and 403s,
    # not the 400s of MLflow's handlers (False); None: unless MLflow answered 400.
    logged: bool | None = True
    headers: tuple[tuple[str, str], ...] = field(default=())


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


def _send(stack: dict, case: Case) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", int(stack["MLFLOW_PORT"]), timeout=30)
    try:
        connection.putrequest(case.method, case.target, skip_accept_encoding=True)
        if case.user != "anonymous":
            user = stack["users"][case.user]
            secret = f"{user['MLFLOW_TRACKING_USERNAME']}:{user['MLFLOW_TRACKING_PASSWORD']}"
            connection.putheader(
                "Authorization", "Basic " + base64.b64encode(secret.encode()).decode()
            )
        if case.content_type is not None:
            connection.putheader("Content-Type", case.content_type)
        for name, value in case.headers:
            connection.putheader(name, value)
        if case.body is not None:
            connection.putheader("Content-Length", str(len(case.body)))
        connection.endheaders(case.body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _hold(stack: dict, snapshot: Snapshot, cases: list[Case]) -> None:
    """Every case refused in one logged JSON line, and nothing changed by any of them."""
    before = snapshot()
    log = stack["log"].open("rb")
    log.seek(0, 2)
    for case in cases:
        status, body = _send(stack, case)
        after = snapshot()
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        assert not changed, (case, status, changed)
        expected = case.status if isinstance(case.status, tuple) else (case.status,)
        assert status in expected, (case, status, body[:300])
        answer = json.loads(body)
        assert set(answer) >= {"error_code", "message"}, (case, answer)
        assert b"\n" not in body.strip(), case
        written = log.read().decode("utf-8", "replace")
        if case.logged or (case.logged is None and status != 400):
            route = json.dumps(unquote(case.target.split("?", 1)[0]))
            user = json.dumps(case.user if case.user != "anonymous" else "-")
            line = (f"refused status={status} user={user} method=\"{case.method}\" "
                    f"route={route}")  # fmt: skip
            assert line in written, (case, written[-500:])
    log.close()


# ---------------------------------------------------------------- 1. one object, two names

OPEN_RUN_WRITES = ("runs/set-tag", "runs/log-batch", "runs/update")
CLOSED_RUN_WRITES = ("runs/log-metric", "runs/delete", "runs/log-parameter")
RUN_WRITES = {
    "runs/set-tag": {"key": "stage", "value": "pwned"},
    "runs/log-batch": {
        "metrics": [{"key": "cv_accuracy_mean", "value": 0.99, "timestamp": 0, "step": 0}]
    },
    "runs/update": {"status": "KILLED"},
    "runs/log-metric": {"key": "cv_accuracy_mean", "value": 0.99, "timestamp": 0, "step": 0},
    "runs/delete": {},
    "runs/log-parameter": {"key": "alpha", "value": "2"},
}


def test_a_run_named_twice_is_refused_on_every_run_route_however_it_is_spelt(
    stack, world, snapshot
):
    cases = []
    # Monitoring names its own run one way and training's another, on each run route it may
    # call: every ordered pair of spellings, under both prefixes, the second one in the body
    # or in the query string.
    pairs = list(itertools.permutations(RUN_SPELLINGS, 2))
    for (i, (own, victim)), prefix, route in itertools.product(
        enumerate(pairs), PREFIXES, OPEN_RUN_WRITES
    ):
        body = RUN_WRITES[route] | {own: world.own_run}
        target = f"{prefix}/{route}"
        if i % 2:
            target += "?" + urlencode({victim: world.victim_run})
        else:
            body = body | {victim: world.victim_run}
        cases.append(Case("monitoring", "POST", target, _json(body), status=400))
    # The routes nobody here calls are closed, however the run is named.
    for (own, victim), route in zip(pairs, itertools.cycle(CLOSED_RUN_WRITES)):
        body = RUN_WRITES[route] | {own: world.own_run, victim: world.victim_run}
        cases.append(Case("monitoring", "POST", f"{PREFIXES[len(cases) % 2]}/{route}",
                          _json(body), status=403))  # fmt: skip
    # Serving, which may write no run, and anonymous callers: each route, each spelling.
    for (i, spelling), route in itertools.product(enumerate(RUN_SPELLINGS), RUN_WRITES):
        # One name: MLflow's check reads run_id, else run_uuid, and refuses the rest (400).
        body = _json(RUN_WRITES[route] | {spelling: world.victim_run})
        cases.append(Case("serving", "POST", f"{PREFIXES[i % 2]}/{route}", body, logged=None))
    for i, route in enumerate(RUN_WRITES):
        body = _json(RUN_WRITES[route] | {"run_id": world.victim_run})
        cases.append(Case("anonymous", "POST", f"{PREFIXES[i % 2]}/{route}", body, status=401))
    _hold(stack, snapshot, cases)


def test_a_run_read_two_ways_is_refused(stack, world, snapshot):
    # Serving may read titanic's runs, not monitoring's: each read names both.
    cases = []
    for first, second in itertools.combinations(RUN_SPELLINGS, 2):
        both = {first: world.victim_run, second: world.own_run}
        for prefix in PREFIXES:
            for route in ("runs/get", "metrics/get-history", "artifacts/list"):
                extra = {"metric_key": "cv_accuracy_mean"} if "metrics" in route else {}
                cases.append(Case("serving", "GET", f"{prefix}/{route}?" + urlencode(both | extra),
                                  content_type=None, status=400))  # fmt: skip
        query = urlencode({first: world.victim_run, second: world.own_run, "path": "report.html"})
        cases.append(Case("serving", "GET", f"/get-artifact?{query}", content_type=None,
                          status=400))  # fmt: skip
        # A body on a GET, which MLflow's handler would read when the query string is empty.
        cases.append(Case("serving", "GET", f"{PREFIXES[0]}/runs/get?{first}={world.victim_run}",
                          _json({second: world.own_run}), status=400))  # fmt: skip
    cases.append(Case("serving", "GET", f"{PREFIXES[1]}/runs/get", _json({"run_id": world.own_run}),
                      status=400))  # fmt: skip
    cases.append(Case("anonymous", "GET", f"/get-artifact?run_id={world.victim_run}&path=notes.txt",
                      content_type=None, status=401))  # fmt: skip
    _hold(stack, snapshot, cases)


REGISTRY_ATTACKS = [
    ("DELETE", "registered-models/delete", {"name": "titanic"}),
    ("DELETE", "model-versions/delete", {"name": "titanic", "version": "1"}),
    ("DELETE", "registered-models/alias", {"name": "titanic", "alias": "champion"}),
    ("DELETE", "model-versions/delete-tag", {"name": "titanic", "version": "1", "key": "x"}),
    ("DELETE", "registered-models/delete-tag", {"name": "titanic", "key": "x"}),
    ("POST", "registered-models/alias", {"name": "titanic", "alias": "champion", "version": "2"}),
    ("PATCH", "model-versions/update", {"name": "titanic", "version": "1", "description": "pwned"}),
    ("POST", "model-versions/set-tag", {"name": "titanic", "version": "1", "key": "cv_accuracy",
                                        "value": "0.99"}),
    ("POST", "registered-models/rename", {"name": "titanic", "new_name": "pwned"}),
    ("PATCH", "registered-models/update", {"name": "titanic", "description": "pwned"}),
    ("POST", "model-versions/transition-stage", {"name": "titanic", "version": "1",
                                                 "stage": "Archived"}),
]  # fmt: skip


OPEN_REGISTRY_ROUTES = (
    "registered-models/alias",
    "model-versions/update",
    "model-versions/set-tag",
)


def test_registry_routes_given_one_name_in_the_query_and_another_in_the_body_are_refused(
    stack, world, snapshot
):
    cases = []
    types = itertools.cycle(CONTENT_TYPES)
    for (method, route, body), prefix in itertools.product(REGISTRY_ATTACKS, PREFIXES):
        # The query string names something harmless and the body titanic, or the other way
        # round; the body's type is every one in turn (all of them on the routes left open).
        decoy = {key: "decoy" if key == "name" else value for key, value in body.items()}
        target = f"{prefix}/{route}?"
        for content_type in CONTENT_TYPES if route in OPEN_REGISTRY_ROUTES else [next(types)]:
            cases.append(Case("monitoring", method, target + urlencode(decoy), _json(body),
                              content_type))  # fmt: skip
        user = ("monitoring", "serving")[len(cases) % 2]
        cases.append(Case(user, method, target + urlencode(body), _json(decoy), next(types)))
        if prefix == PREFIXES[0]:
            cases.append(Case("serving", method, f"{prefix}/{route}", _json(body)))
        else:
            cases.append(Case("anonymous", method, target + urlencode(body), content_type=None,
                              status=401))  # fmt: skip
    # The gate's lock is the one registered model training may create and delete: nobody
    # else may, and training no other.
    lock = _json({"name": "titanic-gate-lock"})
    for prefix in PREFIXES:
        cases += [
            Case("monitoring", "POST", f"{prefix}/registered-models/create", lock, status=403),
            Case("serving", "DELETE", f"{prefix}/registered-models/delete", lock, status=403),
            Case("training", "DELETE", f"{prefix}/registered-models/delete",
                 _json({"name": "titanic"}), status=403),
            Case("training", "POST", f"{prefix}/registered-models/create",
                 _json({"name": "mallory"}), status=403),
        ]  # fmt: skip
    # The version and the alias, named twice.
    for prefix in PREFIXES:
        cases += [
            Case("monitoring", "POST", f"{prefix}/model-versions/set-tag?version=2",
                 _json({"name": "titanic", "version": "1", "key": "k", "value": "v"}), status=400),
            Case("monitoring", "GET",
                 f"{prefix}/registered-models/alias?name=titanic&alias=champion&alias=shadow",
                 content_type=None, status=400),
        ]  # fmt: skip
    _hold(stack, snapshot, cases)


def test_an_upload_naming_two_runs_is_refused(stack, world, snapshot):
    query = urlencode({"run_id": world.own_run, "run_uuid": world.victim_run, "path": "notes.txt"})
    cases = [
        Case(user, "POST", f"/ajax-api/2.0/mlflow/upload-artifact?{query}", b"pwned",
             "application/octet-stream", status=401 if user == "anonymous" else 403)
        for user in ("anonymous", "serving", "monitoring")
    ]  # fmt: skip
    cases += [
        Case(
            "monitoring",
            "PATCH",
            f"{prefix}/logged-models/{world.logged_model}",
            _json({"model_id": "m-" + "0" * 32, "status": "READY"}),
            status=400,
        )
        for prefix in PREFIXES
    ]
    _hold(stack, snapshot, cases)


# ---------------------------------------------------------------- 2. model-version sources

HOSTILE_SOURCES = [
    "s3://mlflow/artifacts/{e}/{r}/artifacts/notes.txt", "s3://mlflow/artifacts",
    "s3://prediction-log/predictions", "S3://mlflow/artifacts", "file:///etc", "/etc/passwd",
    "http://127.0.0.1:{s3}/mlflow/artifacts/{e}", "mlflow-artifacts://127.0.0.1:1/{e}/{r}",
    "mlflow-artifacts:/{e}/{r}/artifacts/../../{m}", "mlflow-artifacts:/{e}/{r}/artifacts/%2e%2e",
    "runs:/{r}/../../{o}", "models:/{lm}/../x", " models:/{lm}", "models://x/{lm}",
    "gs://bucket/x",
]  # fmt: skip
# Well-formed, but another run's files: MLflow's own check of the run named beside it refuses.
FOREIGN_SOURCES = ["mlflow-artifacts:/{m}/{o}/artifacts", "runs:/{o}/report.html"]


def test_a_version_from_outside_its_runs_artifacts_is_refused_even_to_training(
    stack, world, snapshot
):
    values = {"e": world.training_experiment, "r": world.victim_run, "o": world.own_run,
              "m": world.monitoring_experiment, "lm": world.logged_model,
              "s3": stack["S3_PORT"]}  # fmt: skip
    cases = []
    for template, prefix in itertools.product(HOSTILE_SOURCES + FOREIGN_SOURCES, PREFIXES):
        body = {"name": "titanic", "source": template.format(**values),
                "run_id": world.victim_run}  # fmt: skip
        cases.append(Case("training", "POST", f"{prefix}/model-versions/create", _json(body),
                          status=400, logged=template in HOSTILE_SOURCES))  # fmt: skip
        if prefix == PREFIXES[0]:
            # The filter lets the admin through; MLflow's check, set from the same rule, holds.
            cases.append(Case("admin", "POST", f"{prefix}/model-versions/create", _json(body),
                              status=400, logged=False))  # fmt: skip
    for user in ("serving", "monitoring"):
        body = {"name": "titanic", "source": "s3://mlflow/artifacts", "run_id": world.victim_run}
        cases.append(Case(user, "POST", f"{PREFIXES[0]}/model-versions/create", _json(body)))
    for path in ("../../../etc/passwd", "%2e%2e/%2e%2e/x", "%252e%252e/x", "/etc/passwd"):
        query = f"name=titanic&version=1&path={quote(path, safe='%')}"
        cases.append(Case("serving", "GET", f"/model-versions/get-artifact?{query}",
                          content_type=None, status=400))  # fmt: skip
    _hold(stack, snapshot, cases)


# ---------------------------------------------------------------- 3. artifact locations

LOCATIONS = [
    f"file://{CANARY}", str(CANARY), "s3://mlflow/prediction-log", "s3://prediction-log/predictions",
    "s3://mlflow/artifacts/{e}", "S3://mlflow/artifacts", "mlflow-artifacts:/{e}",
]  # fmt: skip


def test_only_the_admin_chooses_where_an_experiments_artifacts_go(stack, world, snapshot):
    users = itertools.cycle(("training", "serving", "monitoring"))
    cases = []
    for (i, location), prefix in itertools.product(enumerate(LOCATIONS), PREFIXES):
        location = location.format(e=world.training_experiment)
        spelling = ("artifact_location", "artifactLocation")[i % 2]
        body = {"name": f"hostile-{i}", spelling: location}
        cases.append(Case(next(users), "POST", f"{prefix}/experiments/create", _json(body),
                          status=403))  # fmt: skip
        cases.append(Case(next(users), "POST", f"{prefix}/experiments/create?" + urlencode(
            {spelling: location}), _json({"name": f"hostile-q-{i}"}), status=403))  # fmt: skip
    cases += [Case("anonymous", "POST", f"{prefix}/experiments/create",
                   _json({"name": "x", "artifact_location": str(CANARY)}), status=401)
              for prefix in PREFIXES]  # fmt: skip
    _hold(stack, snapshot, cases)
    assert not CANARY.exists()


# ---------------------------------------------------------------- 4. routes nobody uses

CLOSED_ROUTES = [
    ("GET", "{p}/users/list", None), ("GET", "{p}/users/get?username=admin", None),
    ("POST", "{p}/users/create", {"username": "mallory", "password": "mallory-password-123"}),
    ("PATCH", "{p}/users/update-admin", {"username": "monitoring", "is_admin": True}),
    ("PATCH", "{p}/users/update-password", {"username": "training", "password": "x" * 20}),
    ("DELETE", "{p}/users/delete", {"username": "training"}),
    ("POST", "/api/3.0/mlflow/users/permissions/grant", {"username": "monitoring",
     "resource_type": "registered_model", "resource_id": "titanic", "permission": "MANAGE"}),
    ("POST", "/ajax-api/3.0/mlflow/users/permissions/revoke", {"username": "training",
     "resource_type": "registered_model", "resource_id": "titanic"}),
    ("GET", "/api/3.0/mlflow/users/permissions/list?username=admin", None),
    ("POST", "/api/3.0/mlflow/roles/create", {"name": "r", "workspace": "default"}),
    ("GET", "/ajax-api/3.0/mlflow/assistant/config", None),
    ("PUT", "/ajax-api/3.0/mlflow/assistant/config", {"providers": {}}),
    ("POST", "/ajax-api/3.0/mlflow/assistant/message", {"message": "hi"}),
    ("POST", "/api/3.0/mlflow/gateway/secrets/create", {"secret_name": "s", "secret_value": "v"}),
    ("POST", "{p}/webhooks", {"name": "w", "url": "http://127.0.0.1:9/", "events": []}),
    ("POST", "/api/3.0/mlflow/scorers/register", {"experiment_id": "{e}", "name": "s"}),
    ("POST", "{p}/registered-models/create", {"name": "mallory"}),
    ("POST", "{p}/registered-models/create", {"name": "p", "tags": [
        {"key": "mlflow.prompt.is_prompt", "value": "true"}]}),
    ("POST", "{p}/experiments/delete", {"experiment_id": "{e}"}),
    ("POST", "{p}/experiments/update", {"experiment_id": "{e}", "new_name": "pwned"}),
    ("POST", "{p}/runs/delete", {"run_id": "{r}"}),
    ("POST", "{p}/runs/restore", {"run_id": "{r}"}),
    ("GET", "{p}/registered-models/get-latest-versions?name=titanic", None),
    ("POST", "{p}/artifacts/presigned-download-url", {"run_id": "{r}", "path": "notes.txt"}),
    ("POST", "{p}/artifacts/presigned-upload-url", {"run_id": "{r}", "path": "notes.txt"}),
    ("GET", "/api/2.0/mlflow-artifacts/presigned/{e}/{r}/artifacts/notes.txt", None),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{e}/{r}/artifacts/x", {"path": "x"}),
    ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/notes.txt", None),
    ("POST", "/api/3.0/mlflow/traces", {"trace": {}}), ("GET", "/graphql?query=%7Btest%7D", None),
    ("GET", "/version", None), ("GET", "/signup", None), ("HEAD", "{p}/runs/get?run_id={r}", None),
    ("OPTIONS", "{p}/runs/get", None), ("GET", "{p}/runs/get/?run_id={r}", None),
    ("GET", "{p}//runs/get?run_id={r}", None), ("GET", "/API/2.0/mlflow/runs/get?run_id={r}", None),
    ("POST", "/ajax-api/3.0/mlflow/traces/metrics", {"experiment_ids": ["{e}"]}),
]  # fmt: skip


def test_routes_nobody_uses_are_closed_to_everyone_but_the_admin(stack, world, snapshot):
    values = {"e": world.training_experiment, "r": world.victim_run}
    users = itertools.cycle(("anonymous", "serving", "monitoring", "training"))
    cases = []
    for method, target, body in CLOSED_ROUTES:
        for prefix in PREFIXES if "{p}" in target else ("",):
            path = target.replace("{p}", prefix).format(**values)
            data = None if body is None else json.dumps(body).replace("{e}", values["e"])
            data = None if data is None else data.replace("{r}", values["r"]).encode()
            for user in (next(users), next(users)):
                status = 401 if user == "anonymous" else 403
                cases.append(Case(user, method, path, data, "application/json" if data else None,
                                  status=status, logged=method != "HEAD"))  # fmt: skip
    _hold_heads_too(stack, snapshot, cases)


def _hold_heads_too(stack: dict, snapshot: Snapshot, cases: list[Case]) -> None:
    """A HEAD answer has no body: its status alone, then the rest as :func:`_hold`."""
    before = snapshot()
    for case in [c for c in cases if c.method == "HEAD"]:
        status, body = _send(stack, case)
        assert status == case.status, (case, status)
        assert body == b"", case
    assert snapshot() == before
    _hold(stack, snapshot, [c for c in cases if c.method != "HEAD"])


# ---------------------------------------------------------------- 5. the artifact store's keys

TRAVERSALS = [
    "{e}/../{m}/{o}/artifacts/report.html", "{e}/%2e%2e/{m}/{o}/artifacts/report.html",
    "%2e%2e/%2e%2e/etc/passwd", "{e}/%252e%252e/%252e%252e/x", "/etc/passwd",
    "%2Fetc%2Fpasswd", "{e}/{r}/artifacts/..%5c..%5cx", "{e}/{r}/artifacts/notes.txt%00.png",
    "prediction-log/predictions/0.jsonl", "{e}/./{r}/artifacts/notes.txt",
    "{e}//{r}/artifacts/notes.txt",
]  # fmt: skip


def test_the_artifact_proxy_refuses_paths_out_of_bounds(stack, world, snapshot):
    values = {"e": world.training_experiment, "r": world.victim_run, "o": world.own_run,
              "m": world.monitoring_experiment}  # fmt: skip
    users = itertools.cycle(("serving", "monitoring"))
    cases = []
    for template, prefix in itertools.product(TRAVERSALS, ARTIFACT_PREFIXES):
        path = template.format(**values)
        cases += [
            Case(next(users), "GET", f"{prefix}/{path}", content_type=None),
            Case(next(users), "PUT", f"{prefix}/{path}", b"pwned", "text/plain"),
            Case(next(users), "GET", f"{prefix}?path={quote(path, safe='%/')}", content_type=None),
        ]
        if prefix == ARTIFACT_PREFIXES[0]:
            cases.append(Case("anonymous", "PUT", f"{prefix}/{path}", b"pwned", "text/plain",
                              status=401))  # fmt: skip
    # Monitoring writing over training's run, or reading another experiment's files.
    for prefix in ARTIFACT_PREFIXES:
        victim = f"{prefix}/{values['e']}/{values['r']}/artifacts/notes.txt"
        cases.append(Case("monitoring", "PUT", victim, b"pwned", "text/plain", status=403))
        cases.append(Case("serving", "PUT", victim, b"pwned", "text/plain", status=403))
        cases.append(Case("serving", "GET", f"{prefix}/{values['m']}/{values['o']}/artifacts/"
                          "report.html", content_type=None, status=403))  # fmt: skip
    _hold(stack, snapshot, cases)


def test_no_roles_variables_carry_a_key_of_the_artifact_store(stack):
    for role in ("training", "serving", "monitoring", "admin"):
        printed = stack["run"]("env", role)
        assert STORE_KEYS["AWS_SECRET_ACCESS_KEY"] not in printed, role
        assert STORE_KEYS["AWS_ACCESS_KEY_ID"] not in printed, role
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"} & set(
            stack["env"][role]
        ), role
        assert stack["env"][role]["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    for role in ("serving", "monitoring"):  # the prediction log's own keys, for its own bucket
        log_key = stack["env"][role]["TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID"]
        assert log_key not in STORE_KEYS.values()


def test_without_keys_the_serving_user_reads_a_runs_files_through_the_proxy(stack, world):
    with _as(stack, "serving"):
        notes = mlflow.artifacts.load_text(f"runs:/{world.victim_run}/notes.txt")
    assert notes == "the victim's notes"


# ---------------------------------------------------------------- legitimate flows


def test_the_ui_shows_the_registry_to_training_through_the_filter(stack, world):
    user = stack["users"]["training"]
    statuses: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(http_credentials={
                "username": user["MLFLOW_TRACKING_USERNAME"],
                "password": user["MLFLOW_TRACKING_PASSWORD"],
            })  # fmt: skip
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("response", lambda r: statuses.setdefault(r.url.split("?")[0], r.status))
            page.goto(f"{stack['tracking_uri']}/#/models/titanic")
            page.get_by_text("@ champion").wait_for(timeout=60_000)
            page.get_by_text("Version 2").wait_for(timeout=30_000)
        finally:
            browser.close()
    assert errors == []
    api = {
        url.split(stack["tracking_uri"])[1]: s for url, s in statuses.items() if "/mlflow/" in url
    }
    assert api["/ajax-api/2.0/mlflow/registered-models/get"] == 200
    assert api["/ajax-api/2.0/mlflow/model-versions/search"] == 200


def test_a_pickled_model_is_refused_where_the_serving_user_loads_it(stack, world, tmp_path):
    # Training may register what it likes, its files' digest rightly tagged; a pickle must
    # still not load where it is served.
    with _as(stack, "training") as training:
        run = training.create_run(world.training_experiment, run_name="pickled").info.run_id
        with mlflow.start_run(run_id=run):
            info = mlflow.pyfunc.log_model(
                name="pickled", python_model=_Pickled(), pip_requirements=["mlflow"]
            )
        stored = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path))
        files = digest_tags(Path(stored))
        version = training.create_model_version(
            "titanic", info.model_uri, tags=files, model_id=info.model_id
        )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack["env"]["serving"].items():  # as `stack.sh env serving` sets
            patch.setenv(name, value)
        config = ServingConfig.from_command_line(
            {"model_uri": f"models:/titanic/{version.version}"}
        )
        with pytest.raises(MlflowException, match="pickle is disallowed"):
            build_app(config, str(tmp_path / "metrics"))


class _Pickled(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input
