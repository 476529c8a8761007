"""Human review against the real Label Studio, from a log the real serving layer wrote.

One Label Studio for the module, started by ``deployment/label_studio.sh up`` with a test
token. Passengers go through the serving layer; ``request_labels`` pushes the records it
logged; two reviewers annotate through the API, disagreeing on some tasks, and a third in
Chromium on the labelling page (screenshots in ``test-output/review/``); ``collect_labels``
exports the majority, and ``monitor`` takes that file as it is: its ``live_accuracy`` is the
accuracy computed here from the annotations themselves.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from playwright.sync_api import sync_playwright

from tests.label_studio import run_script
from tests.processes import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    VENV_BIN,
    free_port,
    stop_process,
)
from tests.projects import EXPERIMENT, Project, mlflow_params, serve_layer
from titanic_model.cli import main
from titanic_model.model.schema import check_passengers
from titanic_model.serving.log_writer import ModelIdentity, scored_lines

pytestmark = pytest.mark.integration

TOKEN = "titanic-review-test-token"
ADMIN = "admin@example.com"
REVIEW = "titanic-review"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "review"
SURVIVED, DIED = "Survived", "Died"


@dataclass
class Studio:
    """The running Label Studio and how it was started."""

    url: str
    folder: Path
    env: dict[str, str]
    up: subprocess.CompletedProcess

    def api(self, method: str, path: str, token: str = TOKEN, **kwargs) -> object:
        response = requests.request(
            method, self.url + path, headers={"Authorization": f"Token {token}"}, timeout=60,
            **kwargs,
        )  # fmt: skip
        assert response.ok, (response.status_code, response.text[:500])
        return response.json()

    def project(self, title: str = REVIEW) -> dict | None:
        found = self.api("GET", "/api/projects/", params={"title": title})["results"]
        return next((p for p in found if p["title"] == title), None)

    def tasks(self, title: str = REVIEW) -> list[dict]:
        project = self.project(title)
        return self.api("GET", f"/api/projects/{project['id']}/export",
                        params={"exportType": "JSON", "download_all_tasks": "true"})  # fmt: skip


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Iterator[Studio]:
    folder = tmp_path_factory.mktemp("label-studio") / "data"
    port = free_port()
    env = {
        "LABEL_STUDIO_DIR": str(folder), "LABEL_STUDIO_PORT": str(port),
        "LABEL_STUDIO_API_KEY": TOKEN, "LABEL_STUDIO_USERNAME": ADMIN,
        # What Label Studio would take for its admin if the script did not set its own.
        "USERNAME": "someone-else", "PASSWORD": "not-the-admins",
    }  # fmt: skip
    try:
        # Minutes on a machine without the cached venv: the install started with the session.
        up = run_script("up", env, timeout=1200)
        assert up.returncode == 0, up.stderr[-3000:]
        yield Studio(f"http://127.0.0.1:{port}", folder, env, up)
    finally:
        down = run_script("down", env)
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def reviewing(registered, studio) -> Project:
    """The registered project, its jobs pointed at Label Studio with the test token."""
    return Project(
        registered.tracking_uri,
        {**registered.env, "LABEL_STUDIO_URL": studio.url, "LABEL_STUDIO_API_KEY": TOKEN},
    )


@dataclass
class Served:
    """What the serving layer logged: by (request id, record), its answer and the truth."""

    log: Path
    records: dict[tuple[str, int], dict]


@pytest.fixture(scope="module")
def served(registered, train_csv, tmp_path_factory) -> Served:
    """24 labelled passengers through the real serving layer, 6 a request; the second request's
    records carry no PassengerId."""
    folder = tmp_path_factory.mktemp("served")
    log = folder / "log"
    passengers = pd.read_csv(train_csv).sample(24, random_state=11)
    url, process = serve_layer(registered, "models:/titanic@champion", folder,
                               env={"TITANIC_PREDICTION_LOG": str(log)})  # fmt: skip
    records = {}
    try:
        for index, start in enumerate(range(0, 24, 6)):
            chunk = passengers.iloc[start : start + 6]
            sent = chunk.drop(columns=["Survived", *(["PassengerId"] if index == 1 else [])])
            response = requests.post(
                f"{url}/invocations",
                json={"dataframe_records": json.loads(sent.to_json(orient="records"))},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            request_id = response.headers["X-Request-ID"]
            answers = response.json()["predictions"]
            rows = chunk.to_dict(orient="records")
            for record, (answer, row) in enumerate(zip(answers, rows, strict=True)):
                records[(request_id, record)] = {
                    "survived": answer["survived"], "probability": answer["probability"],
                    "truth": int(row["Survived"]),
                    "PassengerId": None if index == 1 else int(row["PassengerId"]),
                }  # fmt: skip
    finally:
        stop_process(process)  # the log is written out at shutdown
    assert list(log.glob("*.jsonl"))
    return Served(log, records)


def _run(project: Project, entry_point: str, **params: str):
    result = project.run(*mlflow_params(**params), entry_point=entry_point, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return project.latest_run()


@pytest.fixture(scope="module")
def pushed(reviewing, served, studio):
    """The first push: 20 of the 24 logged records, the ones the model was least sure of."""
    return _run(reviewing, "request_labels", log_uri=str(served.log), sample_size="20")


@pytest.fixture
def in_process(reviewing, monkeypatch) -> Project:
    """The jobs run in this process (``titanic_model.cli.main``), with the environment and the
    store ``mlflow run`` gives them: a second of work each, where a process spends ten starting.
    """
    for name in ("MLFLOW_TRACKING_URI", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        monkeypatch.setenv(name, reviewing.env[name])
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    return reviewing


def _key(task: dict) -> tuple[str, int]:
    return task["data"]["request_id"], task["data"]["record"]


def _answer(survived: int) -> str:
    return SURVIVED if survived else DIED


def test_the_script_plants_the_token_generates_the_password_and_keeps_both_private(studio):
    exports = f"export LABEL_STUDIO_URL={studio.url} LABEL_STUDIO_API_KEY={TOKEN}"
    assert studio.up.stdout.splitlines()[-1] == exports
    credentials = studio.folder / "credentials"
    password = (credentials / "password").read_text()
    # Generated, printed once; the token and the user were given, so they are not printed.
    generated = [line for line in studio.up.stderr.splitlines() if "Generated" in line]
    assert generated == [
        f"# Generated the Label Studio admin's password (kept in {credentials}/password): "
        f"{password}"
    ]
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for name, value in (("username", ADMIN), ("password", password), ("api-key", TOKEN)):
        assert stat.S_IMODE((credentials / name).stat().st_mode) == 0o600
        assert (credentials / name).read_text() == value
    again = run_script("up", studio.env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == exports
    assert "Generated" not in again.stderr
    assert run_script("env", studio.env).stdout == exports + "\n"
    # The admin is the one the script set up, not the shell's USERNAME, and logs in with the
    # kept password; sign-up without the organisation's invite link is refused.
    assert studio.api("GET", "/api/current-user/whoami")["email"] == ADMIN
    session = requests.Session()
    session.get(f"{studio.url}/user/login/", timeout=30)
    login = session.post(
        f"{studio.url}/user/login/", timeout=30, allow_redirects=False,
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "email": ADMIN,
              "password": password},
    )  # fmt: skip
    assert login.status_code == 302
    assert session.get(f"{studio.url}/api/current-user/whoami", timeout=30).json()["email"] == ADMIN
    assert _sign_up(studio, "/user/signup/", "intruder@example.com").status_code == 403
    # Another key than the one it was set up with would be silently ignored: refused instead.
    other = run_script("up", {**studio.env, "LABEL_STUDIO_API_KEY": "another-token"})
    assert other.returncode == 1
    assert other.stderr.splitlines()[-1].startswith(
        "error: LABEL_STUDIO_API_KEY differs from the api-key Label Studio in"
    )


def _sign_up(studio: Studio, path: str, email: str) -> requests.Response:
    session = requests.Session()
    session.get(studio.url + path, timeout=30)
    return session.post(
        studio.url + path, timeout=30, allow_redirects=False,
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "email": email,
              "password": f"{email}-password"},
    )  # fmt: skip


def _join(studio: Studio, email: str) -> tuple[int, str]:
    """A reviewer joins through the invite link, as a person would; returns their id and key."""
    invite = studio.api("GET", "/api/invite")["invite_url"]
    session = requests.Session()
    session.get(studio.url + invite, timeout=30)
    joined = session.post(
        studio.url + invite, timeout=30, allow_redirects=False,
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "email": email,
              "password": f"{email}-password"},
    )  # fmt: skip
    assert joined.status_code == 302, joined.text[:500]
    token = session.get(f"{studio.url}/api/current-user/token", timeout=30).json()["token"]
    return studio.api("GET", "/api/current-user/whoami", token=token)["id"], token


def test_a_push_sends_the_least_certain_records_once_each_with_the_models_answer(
    studio, served, pushed, in_process
):
    project = studio.project()
    assert '<Choices name="survived" toName="passenger"' in project["label_config"]
    tasks = studio.tasks()
    nearest = sorted(served.records, key=lambda k: abs(served.records[k]["probability"] - 0.5))
    assert sorted(_key(task) for task in tasks) == sorted(nearest[:20])
    predictions = studio.api("GET", "/api/predictions/", params={"project": project["id"]})
    by_task = {prediction["task"]: prediction for prediction in predictions}
    for task in tasks:
        data, logged = task["data"], served.records[_key(task)]
        assert data["model_version"] == "titanic/1"
        assert data.get("PassengerId") == logged["PassengerId"]
        assert "Name" not in data  # the log kept titles only
        assert data["Title"] in data["passenger"]
        assert data["passenger"].splitlines()[0].startswith("Class: ")
        prediction = by_task[task["id"]]
        assert prediction["model_version"] == "titanic/1"
        assert prediction["score"] == pytest.approx(logged["probability"])
        assert prediction["result"][0]["value"]["choices"] == [_answer(logged["survived"])]
    assert any("PassengerId" not in task["data"] for task in tasks)
    assert pushed.data.metrics == {"rows_scored": 24, "tasks_created": 20, "tasks": 20}
    assert pushed.data.tags["label_studio_project_id"] == str(project["id"])

    status = main(["request_labels", "--log_uri", str(served.log), "--sample_size", "20"])

    assert status == 0
    again = in_process.latest_run()
    assert again.data.metrics == {"rows_scored": 24, "tasks_created": 0, "tasks": 20}
    assert len(studio.tasks()) == 20


def test_a_wrong_key_a_server_down_or_an_empty_log_is_one_error_line_and_changes_nothing(
    studio, served, pushed, in_process, tmp_path, capsys, monkeypatch
):
    empty = tmp_path / "empty-log"
    empty.mkdir()
    (empty / "predictions-empty.jsonl").write_text("")
    down = f"http://127.0.0.1:{free_port()}"
    output = tmp_path / "labels.csv"
    refused = f"error: Label Studio at {studio.url} refused LABEL_STUDIO_API_KEY (HTTP 401: Invalid token.)"  # noqa: E501
    unreachable = (f"error: cannot reach Label Studio at {down} ([Errno 111] Connection refused): "
                   "is it running? (deployment/label_studio.sh up)")  # fmt: skip
    cases = [
        ("request_labels", {"LABEL_STUDIO_URL": down},
         {"log_uri": str(served.log), "project": "never-created"}, unreachable),
        ("request_labels", {}, {"log_uri": str(empty), "project": "never-created"},
         f"error: no scored record in log_uri {empty} between the start and now "
         "(0 line(s) read, 0 unreadable)"),
        ("request_labels", {"LABEL_STUDIO_URL": ""}, {"log_uri": str(served.log)},
         "error: LABEL_STUDIO_URL is not set: `deployment/label_studio.sh env` prints it"),
        ("collect_labels", {"LABEL_STUDIO_API_KEY": "wrong"}, {"output_uri": str(output)},
         refused),
        ("collect_labels", {"LABEL_STUDIO_URL": down}, {"output_uri": str(output)}, unreachable),
        ("collect_labels", {}, {"output_uri": str(output), "project": "never-created"},
         f"error: Label Studio at {studio.url} has no project 'never-created': request_labels "
         "creates it"),
    ]  # fmt: skip
    before = studio.tasks()

    # The command every entry point runs, as a process, once; then the same in this process.
    command = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "entrypoints", "request_labels", "--log_uri",
         str(served.log), "--project", "never-created"],
        cwd=PROJECT_ROOT, env={**in_process.env, "LABEL_STUDIO_API_KEY": "wrong"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert command.returncode == 1
    assert [line for line in command.stderr.splitlines() if line.startswith("error:")] == [refused]
    assert "Traceback" not in command.stderr
    for job, env, params, error in cases:
        options = [part for name, value in params.items() for part in (f"--{name}", value)]
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            status = main([job, *options])
        stderr = capsys.readouterr().err
        assert status == 1, (job, env, stderr[-2000:])
        assert [line for line in stderr.splitlines() if line.startswith("error:")] == [error]
        assert "Traceback" not in stderr

    assert studio.project("never-created") is None
    assert studio.tasks() == before
    assert not output.exists()


def test_the_answers_of_the_version_that_answered_last_are_preselected(
    studio, in_process, tmp_path, capsys
):
    """Two versions in one log (as the serving layer writes it), pushed in two windows: Label
    Studio pre-selects the answers of the version pushed last."""
    passengers = pd.DataFrame([
        {"PassengerId": 900 + i, "Pclass": 1 + i % 3, "Name": f"Doe, Mr. John {i}", "Sex": "male",
         "Age": 20 + i, "SibSp": 0, "Parch": 0, "Ticket": str(1000 + i), "Fare": 10.0 + i}
        for i in range(6)
    ])  # fmt: skip
    answers = pd.DataFrame({"survived": [0, 1, 0, 1, 0, 1],
                            "probability": [0.2, 0.7, 0.3, 0.8, 0.1, 0.9]})  # fmt: skip
    log = tmp_path / "log"
    log.mkdir()
    lines = []
    for version, hour in (("1", 8), ("2", 9)):
        lines += scored_lines(
            ModelIdentity("titanic", version, f"run-{version}"), f"req-{version}",
            datetime(2026, 11, 25, hour, tzinfo=UTC), check_passengers(passengers), answers,
            full_names=False,
        )  # fmt: skip
    (log / "predictions-two-versions.jsonl").write_text("\n".join(lines) + "\n")
    common = ["--log_uri", str(log), "--project", "two-versions", "--strategy", "random"]

    first = main(["request_labels", *common, "--until", "2026-11-25T09:00:00Z"])
    assert studio.project("two-versions")["model_version"] == "titanic/1"
    second = main(["request_labels", *common, "--sample_size", "4"])

    assert (first, second) == (0, 0), capsys.readouterr().err[-2000:]
    assert studio.project("two-versions")["model_version"] == "titanic/2"
    versions = Counter(task["data"]["model_version"] for task in studio.tasks("two-versions"))
    # The seeded sample of 4 among the 12 records took some of version 2's.
    assert versions["titanic/1"] == 6
    assert 0 < versions["titanic/2"] <= 4


def _annotate(studio: Studio, token: str, task_id: int, answer: str | None) -> None:
    result = [] if answer is None else [
        {"from_name": "survived", "to_name": "passenger", "type": "choices",
         "value": {"choices": [answer]}}
    ]  # fmt: skip
    studio.api("POST", f"/api/tasks/{task_id}/annotations/", token=token,
               json={"result": result, "was_cancelled": answer is None})  # fmt: skip


def _shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _label_in_the_browser(studio: Studio, email: str, task: dict, answer: str, model: str):
    """Log in as ``email``, open ``task``'s labelling page, choose ``answer``, submit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        outside = []
        local = re.compile(rf"({re.escape(studio.url)}/|data:|blob:|about:)")
        page.on("request", lambda r: None if local.match(r.url) else outside.append(r.url))
        page.goto(f"{studio.url}/user/login/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", f"{email}-password")
        _shoot(page, "1-login")
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url)
        project = studio.project()
        page.goto(f"{studio.url}/projects/{project['id']}/data?task={task['id']}")
        choice = page.get_by_role("radio", name=answer)
        choice.wait_for(timeout=60_000)
        # The model's answer comes selected: the reviewer keeps it or corrects it.
        page.get_by_role("radio", name=model).wait_for()
        assert page.get_by_role("radio", name=model).is_checked()
        _shoot(page, "2-task-with-the-models-answer")
        choice.check()
        _shoot(page, "3-answer-chosen")
        page.get_by_role("button", name="Submit").click()
        page.get_by_text("Annotation saved successfully", exact=True).wait_for(timeout=30_000)
        _shoot(page, "4-submitted")
        browser.close()
    assert outside == []  # the page asks nothing of any other host


@dataclass
class Reviewed:
    """Each task's answers by reviewer (None: skipped), and the model's answer."""

    tasks: list[dict]
    answers: dict[int, dict[str, str | None]]
    model: dict[int, str]
    in_browser: tuple[int, int, str]


@pytest.fixture(scope="module")
def reviewed(studio, served, pushed) -> Reviewed:
    """Cleo, in the browser, contradicts the model on the second task. Ann answers the truth on
    all but the first task, which both she and Ben skip; Ben agrees with her on ten tasks and
    contradicts her on four (the second among them: Cleo breaks that tie). The last five tasks
    are Ann's alone."""
    tasks = sorted(studio.tasks(), key=lambda task: task["id"])
    model = {t["id"]: _answer(served.records[_key(t)]["survived"]) for t in tasks}
    truth = {t["id"]: _answer(served.records[_key(t)]["truth"]) for t in tasks}
    flip = {SURVIVED: DIED, DIED: SURVIVED}
    (_, ann), (_, ben) = _join(studio, "ann@example.com"), _join(studio, "ben@example.com")
    cleo, _ = _join(studio, "cleo@example.com")
    # Cleo first, on a task nobody answered yet: the editor opens on the model's answer.
    tied = tasks[1]
    cleo_answer = flip[model[tied["id"]]]
    _label_in_the_browser(studio, "cleo@example.com", tied, cleo_answer, model[tied["id"]])
    answers: dict[int, dict[str, str | None]] = {t["id"]: {} for t in tasks}
    answers[tied["id"]]["cleo"] = cleo_answer
    for position, task in enumerate(tasks):
        task_id = task["id"]
        answers[task_id]["ann"] = None if position == 0 else truth[task_id]
        if position < 15:
            disagree = 1 <= position <= 4
            answers[task_id]["ben"] = None if position == 0 else (
                flip[truth[task_id]] if disagree else truth[task_id])  # fmt: skip
        for reviewer, token in (("ann", ann), ("ben", ben)):
            if reviewer in answers[task_id]:
                _annotate(studio, token, task_id, answers[task_id][reviewer])
    return Reviewed(tasks, answers, model, (tied["id"], cleo, cleo_answer))


def test_a_reviewer_answers_on_the_labelling_page(studio, reviewed):
    task_id, cleo, answer = reviewed.in_browser
    (task,) = [t for t in studio.tasks() if t["id"] == task_id]
    assert len(task["annotations"]) == 3
    cleos = [a for a in task["annotations"] if a["completed_by"] == cleo]
    assert [a["result"][0]["value"]["choices"] for a in cleos] == [[answer]]
    assert (SCREENSHOTS / "4-submitted.png").stat().st_size > 10_000


def test_collected_labels_give_monitor_the_accuracy_computed_from_the_annotations(
    reviewing, served, reviewed, tmp_path
):
    output = tmp_path / "labels.csv"

    collected = _run(reviewing, "collect_labels", output_uri=str(output))

    labels = pd.read_csv(output, dtype={"request_id": str})
    assert list(labels.columns) == [
        "PassengerId", "Survived", "request_id", "record", "annotations", "agreement",
    ]  # fmt: skip
    # By hand: the majority of each task's answers; ties and all-skipped tasks are left out.
    expected, tied, skipped, pairs, kept, given = {}, 0, 0, [], 0, 0
    for task in reviewed.tasks:
        answered = [a for a in reviewed.answers[task["id"]].values() if a is not None]
        pairs += [first == second for first, second in combinations(answered, 2)]
        kept += sum(a == reviewed.model[task["id"]] for a in answered)
        given += len(answered)
        counts = Counter(answered).most_common()
        if not answered:
            skipped += 1
        elif len(counts) > 1 and counts[0][1] == counts[1][1]:
            tied += 1
        else:
            expected[_key(task)] = (counts[0][0] == SURVIVED, counts[0][1] / len(answered))
    got = {(r.request_id, r.record): (bool(r.Survived), r.agreement) for r in labels.itertuples()}
    assert {key: label for key, (label, _) in got.items()} == {
        key: label for key, (label, _) in expected.items()
    }
    for key, (_, agreement) in expected.items():
        assert got[key][1] == pytest.approx(agreement)
    assert (len(expected), tied, skipped) == (16, 3, 1)
    assert labels["PassengerId"].isna().any()  # joined by request id and record alone
    metrics = collected.data.metrics
    assert metrics == pytest.approx(
        {
            "tasks": 20, "tasks_annotated": 20, "labels_written": 16, "tasks_skipped": 1,
            "tasks_tied": 3, "tasks_too_few_answers": 0,
            "reviewer_agreement": sum(pairs) / len(pairs), "model_agreement": kept / given,
        }
    )  # fmt: skip

    client = MlflowClient(reviewing.tracking_uri)
    experiment = client.create_experiment("review-monitoring", str(tmp_path / "monitoring"))
    monitored = _run(reviewing, "monitor", log_uri=str(served.log), labels_uri=str(output),
                     experiment_name="review-monitoring")  # fmt: skip

    (run,) = client.search_runs([experiment])
    assert run.info.run_id == monitored.data.tags["monitoring_run_id"]
    right = [served.records[key]["survived"] == label for key, (label, _) in expected.items()]
    assert run.data.metrics["live_accuracy"] == pytest.approx(sum(right) / len(right), abs=1e-12)
    assert run.data.metrics["live_rows"] == 16
