"""The serving image, built and run for real in a Docker engine of the tests' own.

``deployment/Dockerfile`` is built on a stand-in for its base (``tests/image/build_base.sh``,
from Debian's packages: no image registry is reachable) while the rest of the suite runs
(``tests/containers.py``). A container runs as a pod does: uid 10001, a read-only root file
system, two workers. It serves a pinned version of the authenticated stack
(``deployment/stack.sh``) with the serving user's credentials, given as environment variables
only, and answers as the same version loaded in this process.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests

from tests.containers import Container, Engine, run_container
from tests.processes import PROJECT_ROOT, free_port
from tests.projects import json_records, make_project, mlflow_params

pytestmark = pytest.mark.integration

STACK = PROJECT_ROOT / "deployment" / "stack.sh"
VERSION = "models:/titanic/1"
# One small forest: these tests are about the image, not the model.
SMALL = mlflow_params(
    candidates="random_forest", n_trees="20", max_depth="4", min_samples_leaf="2", cv_folds="2"
)
# What a pod's probes would wait for; the HEALTHCHECK's own command, polled every second.
FAST_HEALTH = ["--health-interval", "1s", "--health-start-period", "120s"]
WRONG_DIGEST = "sha256:" + "0" * 64


def _exports(text: str) -> dict[str, str]:
    """The variables of the ``export`` lines in ``text``."""
    return dict(
        pair.split("=", 1)
        for line in text.splitlines()
        if line.startswith("export ")
        for pair in shlex.split(line.removeprefix("export "))
    )


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, dict[str, str]]]:
    """``deployment/stack.sh up`` on free ports; yields what ``env ROLE`` prints, by role."""
    # PostgreSQL runs as its own user, who cannot enter pytest's private temporary folders.
    folder = Path(tempfile.mkdtemp(prefix="titanic-image-stack-"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "TITANIC_"))}
    env.update(STACK_DIR=str(folder), PG_PORT=str(free_port()), S3_PORT=str(free_port()),
               MLFLOW_PORT=str(free_port()))  # fmt: skip

    def run(*command: str) -> str:
        result = subprocess.run(
            [str(STACK), *command], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (command, result.stderr[-3000:])
        return result.stdout

    run("up")
    try:
        yield {role: _exports(run("env", role)) for role in ("training", "serving")}
    finally:
        run("down")
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture(scope="module")
def version(stack, train_csv, tmp_path_factory) -> str:
    """Version 1, trained by ``mlflow run -e train`` as the training user; its URI."""
    training = stack["training"]
    with _environment(training):
        # On the stack only the admin creates experiments: the training user's own one.
        project = make_project(
            training["MLFLOW_TRACKING_URI"], None, tmp_path_factory.mktemp("image"), train_csv,
            experiment=training["MLFLOW_EXPERIMENT_NAME"],
        )  # fmt: skip
    project.env.update(training)
    # train registers its best model; evaluate's gate and figures are not what is tested here.
    result = project.run(*SMALL, entry_point="train")
    assert result.returncode == 0, result.stderr[-3000:]
    with _environment(training):
        assert project.registry_state()[0] == ["1"]
    return VERSION


@pytest.fixture(scope="module")
def in_process(stack, version) -> mlflow.pyfunc.PyFuncModel:
    """The same version loaded in this process, as the serving user."""
    with _environment(stack["serving"]):
        return mlflow.pyfunc.load_model(version)


def serving_env(stack: dict, model_uri: str, **more: str) -> dict[str, str]:
    """A container's environment: the serving user's variables, exactly as ``deployment/stack.sh
    env serving`` prints them, ``model_uri``, and its own free ports on 127.0.0.1 (it shares
    the host's network)."""
    return {
        **stack["serving"], "MODEL_URI": model_uri,
        "WEB_ADDRESS": f"127.0.0.1:{free_port()}", "METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "MODEL_ADDRESS": f"127.0.0.1:{free_port()}", **more,
    }  # fmt: skip


def error_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def served(docker_engine, version, stack, serving_image) -> Iterator[dict]:
    """The image serving the pinned version with the serving user's variables, as a pod does."""
    env = serving_env(
        stack, version, WORKERS="2", PROMETHEUS_MULTIPROC_DIR="/run/prometheus-multiproc",
        TITANIC_PREDICTION_LOG="/tmp/prediction-log",
    )  # fmt: skip
    with run_container(docker_engine, serving_image, env, options=FAST_HEALTH) as container:
        state = container.wait_for(
            lambda s: s["Health"]["Status"] != "starting" or s["Status"] != "running", "healthy"
        )
        assert state["Health"]["Status"] == "healthy", container.logs()
        yield {
            "container": container,
            "web": f"http://{env['WEB_ADDRESS']}",
            "metrics": f"http://{env['METRICS_ADDRESS']}",
        }


def test_the_healthcheck_is_the_images_and_probes_the_address_it_was_given(served):
    container: Container = served["container"]
    details = container.inspect()
    # The run changed how often it probes, not what: the Dockerfile's command ran.
    assert details["Config"]["Healthcheck"]["Test"] == ["CMD", "deployment/web.sh", "health"]
    assert not served["web"].endswith(":8080")
    probes = details["State"]["Health"]["Log"]
    assert probes
    assert probes[-1]["ExitCode"] == 0


def test_it_runs_as_uid_10001_on_a_read_only_root(served):
    container: Container = served["container"]
    details = container.inspect()
    assert details["HostConfig"]["ReadonlyRootfs"] is True
    top = container.engine.docker("top", container.id, "-eo", "pid,uid,comm")
    assert top.returncode == 0, top.stderr
    processes = [line.split(None, 2)[1:] for line in top.stdout.splitlines()[1:]]
    assert {comm for _, comm in processes} >= {"bash", "nginx", "python"}
    assert {uid for uid, _ in processes} == {"10001"}
    write = container.exec("touch", "/app/titanic_model/written")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


def test_it_answers_exactly_as_the_version_in_process(served, in_process, test_csv):
    response = requests.post(
        f"{served['web']}/invocations",
        data=Path(test_csv).read_bytes(),
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    passengers = pd.read_csv(test_csv)
    assert response.json()["predictions"] == json_records(in_process.predict(passengers))
    assert len(passengers) == 418


def test_metrics_answer_on_the_metrics_port_only(served):
    public = requests.get(f"{served['web']}/metrics", timeout=10)
    assert public.status_code == 404
    scraped = requests.get(f"{served['metrics']}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert 'titanic_requests_total{status="200"}' in scraped.text
    assert requests.get(f"{served['metrics']}/ping", timeout=10).status_code == 404


def test_docker_stop_ends_it_cleanly_within_the_grace_period(served):
    """Runs last of the served container's tests: it stops it."""
    container: Container = served["container"]
    grace = 10
    started = time.monotonic()
    stop = container.engine.docker("stop", "--time", str(grace), container.id)
    took = time.monotonic() - started
    assert stop.returncode == 0, stop.stderr
    assert took < grace
    state = container.inspect()["State"]
    assert state["ExitCode"] == 0
    logs = container.logs()
    assert error_lines(logs) == []
    assert "unbound variable" not in logs
    assert "Traceback" not in logs


@pytest.mark.parametrize(
    ("model_uri", "more", "said"),
    [
        ("models:/titanic/99", {}, "version=99"),
        (VERSION, {"MODEL_DIGEST": WRONG_DIGEST}, f"expected {WRONG_DIGEST}"),
    ],
    ids=["a missing version", "a wrong MODEL_DIGEST"],
)
def test_a_version_that_cannot_load_ends_the_container_with_one_error_line(
    docker_engine: Engine, stack, version, serving_image, model_uri, more, said
):
    env = serving_env(stack, model_uri, **more)
    with run_container(docker_engine, serving_image, env) as container:
        status = container.wait_exit()
        logs = container.logs()
    assert status != 0, logs
    (line,) = error_lines(logs)
    assert said in line
    assert "Traceback" not in logs
