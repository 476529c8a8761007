"""The serving layer (``make serve``) as operators see it, against real processes.

Request ids, hostile bodies, the prediction log, metrics exact over two workers and scraped
by a real Prometheus (Debian's package), a log sink that goes down (a real moto S3 server,
stopped), the log written out at shutdown, and models that must not be served.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from tests.passengers import BRAUND
from tests.processes import (
    PROJECT_ROOT,
    VENV_BIN,
    free_port,
    start_process,
    stop_process,
    wait_for,
    wait_for_http,
)
from tests.projects import S3_CREDENTIALS, s3_client, serve_layer, tampered_copy
from tests.serving_metrics import scrape, total
from titanic_model.io.digests import file_manifest, manifest_digest

pytestmark = pytest.mark.integration

MAX_BODY_BYTES = 200_000
CUMINGS = {
    **BRAUND, "PassengerId": 2, "Pclass": 1, "Name": "Cumings, Mrs. John Bradley (Florence)",
    "Sex": "female", "Age": 38, "Ticket": "PC 17599", "Fare": 71.28, "Cabin": "C85",
    "Embarked": "C",
}  # fmt: skip
LOG_FILE = re.compile(r"predictions-\d{8}T\d{2}Z-(?P<worker>.+-\d+)-\d{4}\.jsonl")


@dataclass(frozen=True)
class Layer:
    url: str
    log_folder: Path


@pytest.fixture(scope="module")
def layer(registered, tmp_path_factory) -> Iterator[Layer]:
    """The champion served by the layer with two workers, its log in a folder."""
    folder = tmp_path_factory.mktemp("layer")
    env = {
        "TITANIC_PREDICTION_LOG": str(folder / "predictions"),
        "TITANIC_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    url, process = serve_layer(registered, "models:/titanic@champion", folder, workers=2, env=env)
    try:
        yield Layer(url, folder / "predictions")
    finally:
        stop_process(process)


def _invoke(url: str, payload: object, request_id: str | None = None, **kwargs):
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return requests.post(f"{url}/invocations", data=body, headers={**headers, **kwargs}, timeout=60)


def _log_lines(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _worker_lines(folder: Path) -> list[tuple[str, dict]]:
    """Every log line, with the worker process that wrote it (its file's name tells)."""
    lines = []
    for path in sorted(folder.glob("*.jsonl")):
        name = LOG_FILE.fullmatch(path.name)
        assert name, path
        lines += [(name["worker"], json.loads(line)) for line in path.read_text().splitlines()]
    return lines


def _settled(layer: Layer) -> dict[tuple[str, tuple], float]:
    """``/metrics``, once every request it counts has its log lines and predictions counted.

    A request is counted as its answer goes out, its predictions when the log's thread takes
    it: waiting for the log to hold a line of each answered request, and the predictions
    counter to equal the scored lines, waits for both, with no fixed sleep.
    """

    def caught_up() -> dict[tuple[str, tuple], float] | None:
        metrics = scrape(layer.url)
        lines = [line for _, line in _worker_lines(layer.log_folder)]
        scored = [line for line in lines if line["status"] == 200]
        answered = total(metrics, "titanic_requests_total", status="200")
        refused = total(metrics, "titanic_requests_total") - answered
        if (
            len({line["request_id"] for line in scored}) == answered
            and len(lines) - len(scored) == refused
            and len(scored) == total(metrics, "titanic_predictions_total")
        ):
            return metrics
        return None

    return wait_for(
        caught_up, timeout=30, message="the totals of both workers never matched their logs"
    )


def _one_line_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message", "request_id"}, body
    assert "\n" not in body["message"], body
    assert len(body["message"]) <= 300, body
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


# --- request ids --------------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_echoed(layer):
    response = _invoke(layer.url, {"dataframe_records": [BRAUND]}, "client-42.retry:1")
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "client-42.retry:1"


@pytest.mark.parametrize("given", [None, "two words", "x" * 200, "-leading-dash", "naïve"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(layer, given):
    headers = {} if given is None else {"X-Request-ID": given.encode()}
    first = requests.get(f"{layer.url}/ping", headers=headers, timeout=10)
    second = requests.get(f"{layer.url}/ping", headers=headers, timeout=10)
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2, ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids


# --- nothing a client sends gives a 5xx or a stack trace ---------------------------------


def _deep(levels: int) -> bytes:
    return b'{"dataframe_records": ' + b"[" * levels + b"]" * levels + b"}"


def _chunks(total: int) -> Iterator[bytes]:
    chunk = b" " * 65_536
    for _ in range(total // len(chunk) + 1):
        yield chunk


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (_deep(50_000), {}, 400, "the JSON body is nested too deeply to be read"),
        (b"\x80\x81garbage", {}, 400, "the request body is not valid UTF-8 text"),
        (b"{not json", {}, 400, "Ensure that input is a valid JSON"),
        (b"[1, 2]", {}, 400, "Received a list"),
        (b'"text"', {}, 400, "Received unexpected input type"),
        (b"x" * (MAX_BODY_BYTES + 1), {}, 413, f"larger than the limit of {MAX_BODY_BYTES}"),
        (b"{}", {"Content-Type": ""}, 415, "a Content-Type header is required"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "only supports the following content"),
        (b"{}", {"Content-Type": "application/json; charset=latin-1"}, 415, "only supports UTF-8"),
        (b"\x00\x01PAR1", {"Content-Type": "application/vnd.apache.parquet"}, 400, "Parquet"),
    ],
    ids=["deep", "binary", "broken", "list", "string", "too-large", "no-type", "plain",
         "latin-1", "parquet"],
)  # fmt: skip
def test_hostile_bodies_get_a_one_line_4xx(layer, body, headers, status, message):
    response = _invoke(layer.url, body, **headers)
    assert message in _one_line_error(response, status)["message"]


def test_a_chunked_body_over_the_limit_gets_a_413_without_being_read_whole(layer):
    response = requests.post(
        f"{layer.url}/invocations",
        data=_chunks(MAX_BODY_BYTES * 50),  # no Content-Length: sent chunked
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert "larger than the limit" in _one_line_error(response, 413)["message"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Name": 123}, "field 'Name': must be a non-empty string, not a number"),
        ({"Name": ["Braund", "Owen"]}, "field 'Name': must be a non-empty string, not a list"),
        ({"Sex": 0}, "field 'Sex': must be one of female, male, not a number"),
        ({"Embarked": {"port": "S"}}, "field 'Embarked': must be one of C, Q, S, not an object"),
        ({"Cabin": True}, "field 'Cabin': must be a non-empty string, not a boolean"),
        ({"Age": [22]}, "field 'Age': [22] is not a number"),
        ({"Fare": "cheap"}, "field 'Fare': 'cheap' is not a number"),
    ],
)
def test_wrong_json_types_are_a_400_naming_the_field_never_coerced(layer, changes, message):
    response = _invoke(layer.url, {"dataframe_records": [{**BRAUND, **changes}]})
    assert _one_line_error(response, 400)["message"] == f"row 0: {message}"


def test_over_http_a_request_is_answered_whole_or_refused(layer):
    # The model's batch mode, which answers bad rows with a reason, is not for HTTP clients.
    payload = {"dataframe_records": [BRAUND], "params": {"invalid_rows": "reason"}}
    message = _one_line_error(_invoke(layer.url, payload), 400)["message"]
    assert message == (
        "parameter invalid_rows='reason': this server answers all records or refuses them "
        "(refuse only)"
    )
    payload["params"] = {"invalid_rows": "refuse"}
    assert _invoke(layer.url, payload).status_code == 200


@pytest.mark.parametrize(("method", "status"), [("GET", 405), ("PUT", 405)])
def test_other_methods_get_a_one_line_error(layer, method, status):
    response = requests.request(method, f"{layer.url}/invocations", timeout=10)
    _one_line_error(response, status)


def test_an_unknown_path_gets_a_one_line_404(layer):
    _one_line_error(requests.get(f"{layer.url}/nowhere", timeout=10), 404)


def test_the_layer_is_still_up_and_never_answered_5xx(layer):
    assert requests.get(f"{layer.url}/ping", timeout=10).status_code == 200
    metrics = scrape(layer.url)
    server_errors = [
        labels for (name, labels), value in metrics.items()
        if name == "titanic_requests_total" and dict(labels)["status"].startswith("5") and value
    ]  # fmt: skip
    assert not server_errors


# --- the prediction log -------------------------------------------------------------------


def test_each_scored_record_and_each_refusal_is_one_log_line(layer, registered, test_csv):
    passengers = pd.read_csv(test_csv).head(3)
    records = json.loads(passengers.to_json(orient="records"))
    before = datetime.now(UTC) - timedelta(seconds=1)
    scored = _invoke(layer.url, {"dataframe_records": records}, "log-scored")
    secret = {**BRAUND, "Name": "Secretive, Mr. Hidden Person", "Age": -4}
    refused = _invoke(layer.url, {"dataframe_records": [BRAUND, secret]}, "log-refused")
    assert (scored.status_code, refused.status_code) == (200, 400)

    def ours() -> list[dict]:
        wanted = ("log-scored", "log-refused")
        return [line for line in _log_lines(layer.log_folder) if line["request_id"] in wanted]

    lines = wait_for(lambda: len(ours()) == 4 and ours(), message="3 scored lines, 1 refusal")
    run_id = registered.client.get_model_version("titanic", "1").run_id
    scored_lines = sorted(
        (line for line in lines if line["request_id"] == "log-scored"), key=lambda x: x["record"]
    )
    assert [line["record"] for line in scored_lines] == [0, 1, 2]
    for line, passenger, prediction in zip(
        scored_lines, records, scored.json()["predictions"], strict=True
    ):
        assert (line["schema_version"], line["role"]) == (2, "served")
        assert (line["model_name"], line["model_version"], line["run_id"]) == (
            "titanic", "1", run_id,
        )  # fmt: skip
        assert line["status"] == 200
        assert before <= datetime.fromisoformat(line["time"]) <= datetime.now(UTC)
        assert (line["survived"], line["probability"]) == (
            prediction["survived"], prediction["probability"],
        )  # fmt: skip
        logged = line["input"]
        assert "Name" not in logged  # personal data: only the title by default
        assert logged["Title"] in ("Mr", "Mrs", "Miss", "Master")
        assert logged["PassengerId"] == passenger["PassengerId"]
        assert logged["Pclass"] == passenger["Pclass"]
        assert isinstance(logged["Pclass"], int)
        assert logged["Sex"] == passenger["Sex"]
        assert logged["Age"] == passenger["Age"]
        assert logged["Cabin"] == passenger["Cabin"]
    [refusal] = [line for line in lines if line["request_id"] == "log-refused"]
    assert refusal["status"] == 400
    assert refusal["reason"] == refused.json()["message"]
    assert refusal["rejected_records"] == {"Age": 1}
    assert "input" not in refusal
    everything = "".join(path.read_text() for path in layer.log_folder.glob("*.jsonl"))
    assert "Secretive" not in everything
    assert "Braund" not in everything


def test_log_files_are_one_series_per_worker_process(layer):
    _, _, by_worker = _until_both_workers_answer(layer, "series", 100)
    paths = list(layer.log_folder.glob("*.jsonl"))
    assert all(LOG_FILE.fullmatch(p.name) for p in paths), paths
    assert len(by_worker) == 2


def _until_both_workers_answer(
    layer: Layer, prefix: str, batch_size: int
) -> tuple[int, int, dict[str, list[dict]]]:
    """Batches of requests on new connections until both workers have answered some.

    Each new connection goes to whichever worker accepts it first: on a busy machine one
    worker may take a whole batch.

    Returns:
        The scored and the refused records, and each worker's log lines of these requests
        (the worker is in its files' names).
    """
    scored = refused = 0
    by_worker: dict[str, list[dict]] = {}
    for batch in range(10):
        batch_scored, batch_refused = _concurrent_requests(
            layer.url, batch_size, f"{prefix}{batch}"
        )
        scored, refused = scored + batch_scored, refused + batch_refused
        logged = f"{prefix}{batch}-", batch_scored + batch_refused
        wait_for(
            lambda logged=logged: len(_lines_of(layer.log_folder, logged[0])) == logged[1],
            message=f"batch {batch} of {prefix} was not all logged",
        )
        by_worker = {}
        for worker, line in _lines_of(layer.log_folder, prefix):
            by_worker.setdefault(worker, []).append(line)
        if len(by_worker) == 2:
            return scored, refused, by_worker
    raise AssertionError(f"10 batches never reached both workers: {list(by_worker)}")


def _lines_of(folder: Path, prefix: str) -> list[tuple[str, dict]]:
    return [(w, line) for w, line in _worker_lines(folder) if line["request_id"].startswith(prefix)]


# --- metrics ------------------------------------------------------------------------------


def _concurrent_requests(url: str, count: int, prefix: str) -> tuple[int, int]:
    """``count`` requests from 8 clients on new connections, with the request ids
    ``<prefix>-<n>``; returns (scored, refused) records."""
    payloads = [
        {"dataframe_records": [BRAUND, CUMINGS]} if i % 4 else
        {"dataframe_records": [{**BRAUND, "Pclass": 9}]}
        for i in range(count)
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda i: _invoke(url, payloads[i], f"{prefix}-{i}").status_code, range(count))
        )
    assert statuses.count(400) == len(payloads[::4])
    assert statuses.count(200) == count - len(payloads[::4])
    return 2 * statuses.count(200), statuses.count(400)


def test_totals_are_exact_over_two_workers(layer):
    before = _settled(layer)  # the earlier tests' requests and predictions all counted
    scored, refused, by_worker = _until_both_workers_answer(layer, "exact", 400)
    after = _settled(layer)
    sent = scored // 2 + refused  # two passengers a scored request, one a refused one

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("titanic_requests_total") == sent
    assert delta("titanic_requests_total", status="400") == refused
    assert delta("titanic_request_duration_seconds_count") == sent
    assert delta("titanic_rejected_records_total", field="Pclass") == refused
    assert delta("titanic_predictions_total") == scored
    assert delta("titanic_predictions_total", survived="1") == scored / 2  # Mrs Cumings
    counted = total(after, "titanic_predictions_total")
    assert total(after, "titanic_prediction_probability_count") == counted
    info = [labels for (name, labels), _ in after.items() if name == "titanic_model_info"]
    assert [dict(labels)["version"] for labels in info] == ["1"]
    assert total(after, "titanic_prediction_log_dropped_total") == 0
    # Both workers answered in the window: each total above is the sum of two processes'.
    assert len(by_worker) == 2
    assert sum(map(len, by_worker.values())) == scored + refused


def _prometheus_query(url: str, query: str) -> float | None:
    answer = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_a_real_prometheus_scrapes_the_exact_totals(layer, tmp_path):
    assert shutil.which("prometheus"), "prometheus is not installed: make system-deps"
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROJECT_ROOT / "deployment" / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "titanic", "static_configs": [{"targets": [layer.url.split("//")[1]]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = start_process(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "prometheus.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/-/ready", process)
        _concurrent_requests(layer.url, 120, "scraped")
        settled = _settled(layer)
        expected = total(settled, "titanic_requests_total")
        scraped = wait_for(
            lambda: _prometheus_query(url, "sum(titanic_requests_total)") == expected,
            message=f"Prometheus never saw {expected} requests",
        )
        assert scraped
        counted = total(settled, "titanic_predictions_total")
        wait_for(
            lambda: _prometheus_query(url, "sum(titanic_predictions_total)") == counted,
            message=f"Prometheus never saw {counted} predictions",
        )
        assert _prometheus_query(url, 'count(titanic_model_info{version="1"})') == 1
    finally:
        stop_process(process)


# --- the log sink fails; shutdown ---------------------------------------------------------


def test_predictions_go_on_when_the_log_store_is_down_and_the_drops_are_counted(
    registered, tmp_path
):
    port = free_port()
    moto = start_process(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], tmp_path / "moto.log"
    )
    s3_url = f"http://127.0.0.1:{port}"
    layer_process = None
    try:
        wait_for_http(f"{s3_url}/moto-api/", moto)
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket="prediction-log")
        env = {**S3_CREDENTIALS, "TITANIC_PREDICTION_LOG": "s3://prediction-log/serving",
               "MLFLOW_S3_ENDPOINT_URL": s3_url}  # fmt: skip
        url, layer_process = serve_layer(registered, "models:/titanic@champion", tmp_path, env=env)
        for i in range(5):
            assert _invoke(url, {"dataframe_records": [BRAUND]}, f"up-{i}").status_code == 200

        def logged_ids() -> list[str]:
            listing = s3.list_objects_v2(Bucket="prediction-log", Prefix="serving/")
            bodies = [
                s3.get_object(Bucket="prediction-log", Key=o["Key"])["Body"].read().decode()
                for o in listing.get("Contents", [])
            ]
            return [json.loads(line)["request_id"] for b in bodies for line in b.splitlines()]

        assert sorted(
            wait_for(lambda: len(logged_ids()) == 5 and logged_ids(), "5 lines logged")
        ) == [f"up-{i}" for i in range(5)]
        stop_process(moto)  # the store goes down
        for i in range(5):
            assert _invoke(url, {"dataframe_records": [BRAUND]}, f"down-{i}").status_code == 200
        wait_for(
            lambda: total(scrape(url), "titanic_prediction_log_dropped_total") == 5,
            timeout=60,
            message="the 5 lines written while S3 was down were not counted as dropped",
        )
        assert _invoke(url, {"dataframe_records": [BRAUND]}).status_code == 200
    finally:
        if layer_process is not None:
            stop_process(layer_process)
        stop_process(moto)


def test_the_log_is_written_out_at_shutdown(registered, tmp_path):
    log = tmp_path / "predictions"
    url, process = serve_layer(
        registered, "models:/titanic@champion", tmp_path,
        env={"TITANIC_PREDICTION_LOG": str(log)},
    )  # fmt: skip
    try:
        assert _invoke(url, {"dataframe_records": [BRAUND]}, "last-words").status_code == 200
    finally:
        stop_process(process)  # at once: before the writer's next flush is due
    assert [line["request_id"] for line in _log_lines(log)] == ["last-words"]
    output = next(tmp_path.glob("layer-*.log")).read_text()
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


# --- one version for every worker; counts from zero after a restart ----------------------


PINNED = "titanic-pinned"


def test_every_worker_serves_the_version_named_at_start_and_counts_start_from_zero(
    registered, tmp_path, monkeypatch
):
    """The alias is resolved once, by the launcher: moved while the workers load the model,
    no worker follows it. The metrics folder, which a pod keeps across container restarts
    (an emptyDir), is emptied at start: a restart counts from zero."""
    # A version's source is its logged model, looked up in the store of this process's URI.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    client = registered.client
    original = client.get_model_version("titanic", "1")
    client.create_registered_model(PINNED)
    for _ in range(2):  # two versions with the same files (and digest)
        client.create_model_version(PINNED, original.source, original.run_id, original.tags)
    client.set_registered_model_alias(PINNED, "champion", "1")
    metrics_folder = tmp_path / "metrics"
    port = free_port()
    env = {**registered.env, "PYTHONPATH": str(PROJECT_ROOT),
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_folder),
           "TITANIC_PREDICTION_LOG": str(tmp_path / "first")}  # fmt: skip
    first = start_process(
        [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri",
         f"models:/{PINNED}@champion", "--port", str(port), "--workers", "2"],
        tmp_path / "first.log", env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # The launcher spawns the workers once it has resolved the alias; each then takes
        # seconds to import MLflow before it could resolve it again.
        wait_for(lambda: _children(first.pid), timeout=60, message="no worker was spawned")
        client.set_registered_model_alias(PINNED, "champion", "2")
        wait_for_http(f"{url}/ping", first)
        _, _, by_worker = _until_both_workers_answer(Layer(url, tmp_path / "first"), "first", 24)
        assert _versions(by_worker) == [{"1"}, {"1"}]
        counted = _settled(Layer(url, tmp_path / "first"))
    finally:
        stop_process(first)
    assert total(counted, "titanic_requests_total") > 0
    assert list(metrics_folder.glob("*.db"))  # what the first server counted is still there

    # Restarted on that folder (one worker is enough: the launcher empties it either way).
    url, second = serve_layer(
        registered, f"models:/{PINNED}@champion", tmp_path,
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_folder)},
    )  # fmt: skip
    try:
        fresh = scrape(url)
    finally:
        stop_process(second)
    assert total(fresh, "titanic_requests_total") == 0
    assert total(fresh, "titanic_predictions_total") == 0
    info = [dict(labels)["version"] for (name, labels), _ in fresh.items()
            if name == "titanic_model_info"]  # fmt: skip
    assert info == ["2"]  # the alias's version now, and not the first server's as well


def _versions(by_worker: dict[str, list[dict]]) -> list[set[str]]:
    """The versions each worker's log lines name."""
    return [{line["model_version"] for line in lines} for lines in by_worker.values()]


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


# --- models that must not be served -------------------------------------------------------


def _start_and_wait(registered, tmp_path: Path, model_uri: str, workers: int, **env: str):
    port = free_port()
    log = tmp_path / f"layer-{workers}.log"
    process = start_process(
        [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri", model_uri,
         "--port", str(port), "--workers", str(workers)],
        log,
        {**registered.env, "PYTHONPATH": str(PROJECT_ROOT), **env},
    )  # fmt: skip
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop_process(process)
        raise
    return process.returncode, log.read_text(), port


def test_a_model_that_does_not_exist_is_one_error_line(registered, tmp_path):
    status, output, _ = _start_and_wait(registered, tmp_path, "models:/titanic@nobody", 2)
    assert status == 1
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, output
    assert "nobody" in error_lines[0], output
    assert "Traceback" not in output


def test_a_pinned_model_with_an_untrusted_pipeline_is_refused_by_every_worker(registered, tmp_path):
    # A deployer who pinned a tampered copy's own digest gets past the digest check; skops's
    # trusted types still refuse the pipeline, before anything of it runs.
    tampered = tampered_copy(registered, tmp_path)
    pinned = manifest_digest(file_manifest(tampered))
    for workers in (1, 2):
        status, output, port = _start_and_wait(
            registered, tmp_path, str(tampered), workers, MODEL_DIGEST=pinned
        )
        assert status == 1, output
        refusal = "refusing to load pipeline.skops: it references untrusted type(s) posix.system"
        assert f"error: {refusal}\n" in output, output
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/ping", timeout=5)
