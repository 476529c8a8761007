"""``mlflow run . -e monitor`` on what the real serving layer logged to a real S3 (moto).

Kaggle's test passengers replayed through the layer are the population the model learnt
from: nothing drifts. The same passengers with a shifted class mix and ages: those fields
drift. Labelled passengers replayed, then their outcomes given: the live accuracy is exactly
the accuracy of the answers the layer gave.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from playwright.sync_api import sync_playwright

from tests.processes import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    VENV_BIN,
    free_port,
    start_process,
    stop_process,
    wait_for_http,
)
from tests.projects import S3_CREDENTIALS, mlflow_params, s3_client, serve_layer

pytestmark = pytest.mark.integration

BUCKET = "prediction-log"
#: Where the one layer of the module logs every replay.
PREFIX = "replays"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "monitoring"


@pytest.fixture(scope="module")
def s3(moto_server) -> object:
    client = s3_client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def monitored(registered, moto_server, tmp_path_factory) -> Iterator[object]:
    """The registered project, with the S3 settings and a monitoring experiment of its own."""
    folder = tmp_path_factory.mktemp("monitoring")
    registered.client.create_experiment("titanic-monitoring", str(folder / "artifacts"))
    env = {**S3_CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": moto_server}
    registered.env.update(env)
    yield registered
    for key in env:
        registered.env.pop(key)


def _instant_after_now() -> str:
    """The next whole millisecond, as the log writes instants, once the clock has passed it.

    Every line stamped before the call is earlier (the log truncates to the millisecond), every
    line stamped after it is at least as late: a window's bound between two replays.
    """
    now = datetime.now(UTC)
    bound = now.replace(microsecond=now.microsecond // 1000 * 1000) + timedelta(milliseconds=1)
    while datetime.now(UTC) < bound:  # at most a millisecond
        pass
    return bound.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Replays:
    """Answers the one layer gave, and each replay's window in its log (``since``, ``until``)."""

    answers: dict[str, list[dict]]
    windows: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def replays(monitored, s3, test_csv, train_csv, tmp_path_factory) -> Replays:
    """Three populations through one serving layer logging to S3, told apart by time.

    Kaggle's test passengers; the same with a shifted class mix and ages; 300 labelled
    passengers (without their outcomes). 7 records per request.
    """
    passengers = pd.read_csv(test_csv)
    rng = np.random.default_rng(0)
    shifted = passengers.copy()
    shifted.loc[rng.random(len(shifted)) < 0.6, "Pclass"] = 1
    shifted["Age"] = shifted["Age"] + 20
    labelled = pd.read_csv(train_csv).sample(300, random_state=5).drop(columns=["Survived"])
    populations = {"same": passengers, "shifted": shifted, "labelled": labelled}

    url, process = serve_layer(
        monitored, "models:/titanic@champion", tmp_path_factory.mktemp("replays"),
        env={"TITANIC_PREDICTION_LOG": f"s3://{BUCKET}/{PREFIX}"},
    )  # fmt: skip
    answers, windows = {}, {}
    try:
        since = _instant_after_now()
        for name, population in populations.items():
            records = json.loads(population.to_json(orient="records"))
            answers[name] = []
            for start in range(0, len(records), 7):
                response = requests.post(
                    f"{url}/invocations",
                    json={"dataframe_records": records[start : start + 7]},
                    timeout=60,
                )
                assert response.status_code == 200, response.text
                answers[name] += response.json()["predictions"]
            until = _instant_after_now()
            windows[name] = {"since": since, "until": until}
            since = until
    finally:
        stop_process(process)  # the log is written out at shutdown
    return Replays(answers, windows)


def _monitor(project, **params: str):
    result = project.run(*mlflow_params(**params), entry_point="monitor", timeout=300)
    client = MlflowClient(project.tracking_uri)
    experiment = client.get_experiment_by_name("titanic-monitoring")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    return result, runs


def test_the_kaggle_test_passengers_do_not_drift_and_a_shifted_replay_does(monitored, replays):
    log = f"s3://{BUCKET}/{PREFIX}"
    same, runs = _monitor(monitored, log_uri=log, **replays.windows["same"])
    assert same.returncode == 0, same.stderr[-3000:]
    assert runs[0].data.tags["drift_fields"] == ""
    assert runs[0].data.metrics["rows_scored"] == 418

    drifted, runs = _monitor(
        monitored, log_uri=log, fail_on_drift="true", **replays.windows["shifted"]
    )
    assert drifted.returncode == 1
    assert runs[0].data.tags["drift_fields"] == "Pclass,Age"
    assert runs[0].data.metrics["rows_scored"] == 418
    error = [line for line in drifted.stderr.splitlines() if line.startswith("error:")]
    assert error == [f"error: drift in Pclass, Age (monitoring run {runs[0].info.run_id})"]
    version = monitored.client.get_model_version("titanic", "1")
    assert version.tags["monitoring_drift_fields"] == "Pclass,Age"


def test_labels_learnt_later_give_exactly_the_served_accuracy(
    monitored, replays, train_csv, tmp_path
):
    passengers = pd.read_csv(train_csv).sample(300, random_state=5)
    labels = tmp_path / "labels.csv"
    passengers[["PassengerId", "Survived"]].to_csv(labels, index=False)

    result, runs = _monitor(
        monitored,
        log_uri=f"s3://{BUCKET}/{PREFIX}",
        labels_uri=str(labels),
        **replays.windows["labelled"],
    )

    assert result.returncode == 0, result.stderr[-3000:]
    served = np.array([answer["survived"] for answer in replays.answers["labelled"]])
    expected = float(np.mean(served == passengers["Survived"].to_numpy()))
    assert runs[0].data.metrics["live_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert runs[0].data.metrics["live_rows"] == 300


def test_a_log_location_with_nothing_there_is_one_error_line(monitored, s3):
    result, _ = _monitor(monitored, log_uri=f"s3://{BUCKET}/nothing-here")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot read log_uri s3://{BUCKET}/nothing-here: no .jsonl file there"
    ]
    assert "Traceback" not in result.stderr


def test_successive_monitoring_runs_chart_in_the_mlflow_ui(monitored, tmp_path):
    """The runs of the tests above, in MLflow's own UI in headless Chromium: one bar per run
    in each metric's chart. Screenshots land in ``test-output/monitoring/``."""
    client = MlflowClient(monitored.tracking_uri)
    experiment = client.get_experiment_by_name("titanic-monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) >= 3, "the tests above log the runs this one charts"
    port = free_port()
    ui = start_process(
        [str(VENV_BIN / "mlflow"), "ui", "--backend-store-uri", monitored.tracking_uri,
         "--host", "127.0.0.1", "--port", str(port)],
        tmp_path / "ui.log", monitored.env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", ui)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(
                f"{url}/#/experiments/{experiment.experiment_id}/runs?compareRunsMode=CHART",
                wait_until="load",
            )
            search = page.get_by_placeholder("Search metric charts")
            search.wait_for(timeout=60_000)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for metric in ("drift_psi", "live_accuracy", "rejection_rate"):
                search.fill(metric)
                page.get_by_text(
                    f"{metric}_Pclass" if metric == "drift_psi" else metric
                ).first.wait_for()
                page.wait_for_timeout(1500)  # the bars animate in
                page.screenshot(path=str(SCREENSHOTS / f"charts-{metric}.png"))
            text = page.inner_text("body")
            browser.close()
    finally:
        stop_process(ui)
    assert text.count("monitor") >= len(runs)
