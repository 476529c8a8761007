"""The survival page in headless Chromium, through real nginx and the real serving layer.

Screenshots of every state land in ``test-output/web/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator

import pandas as pd
import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from tests.processes import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    free_ports,
    start_process,
    stop_process,
    wait_for,
    wait_for_http,
)
from tests.projects import serve_layer
from tests.serving_metrics import scrape, total

pytestmark = pytest.mark.integration

SCREENSHOTS = PROJECT_ROOT / "test-output" / "web"


@pytest.fixture(scope="module")
def stack(registered, tmp_path_factory) -> Iterator[dict]:
    """nginx serving deployment/web/ and proxying a model server; yields URLs and processes.

    Whatever fails on the way up, what was started is stopped.
    """
    if not shutil.which("nginx") or not CHROMIUM.exists():
        pytest.fail("nginx and chromium are needed: apt-get install nginx chromium")
    folder = tmp_path_factory.mktemp("web")
    started: list[subprocess.Popen] = []
    try:
        model_url, model = serve_layer(registered, "models:/titanic@champion", folder)
        started.append(model)
        # Chosen while the model server listens on its own: none of the three can be the same.
        web_port, metrics_port = free_ports(2)
        web_address = f"127.0.0.1:{web_port}"
        subprocess.run(
            [str(PROJECT_ROOT / "deployment" / "web.sh"), "render", str(folder / "nginx")],
            env={**os.environ, "MODEL_ADDRESS": model_url.removeprefix("http://"),
                 "WEB_ADDRESS": web_address, "METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"},
            check=True, capture_output=True,
        )  # fmt: skip
        nginx = start_process(
            ["nginx", "-p", str(folder / "nginx"), "-c", str(folder / "nginx" / "nginx.conf"),
             "-g", "daemon off;"],
            folder / "nginx.log",
        )  # fmt: skip
        started.append(nginx)
        wait_for_http(f"http://{web_address}/ping", nginx)
        yield {"url": f"http://{web_address}/", "model": model}
    finally:
        for process in reversed(started):
            stop_process(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack["url"])
    yield page
    page.close()
    assert errors == [], errors


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _ask(page: Page, **fields: str) -> None:
    for field, value in fields.items():
        if page.get_attribute(f"#{field}", "type") is None:  # a <select>
            page.select_option(f"#{field}", value)
        else:
            page.fill(f"#{field}", value)
    page.click("#predict")


def _expected_percent(in_process, record: dict) -> str:
    probability = in_process.predict(pd.DataFrame([record]))["probability"][0]
    return f"{round(probability * 100)}%"


DEFAULT = {
    "Pclass": 3, "Sex": "male", "Age": 30.0, "SibSp": 0, "Parch": 0, "Fare": 8.05,
    "Embarked": "S", "Name": "Doe, Mr. John", "Ticket": "WEB-FORM",
}  # fmt: skip


def test_the_first_click_answers_for_the_default_passenger(page, in_process):
    page.click("#predict")
    page.wait_for_selector("#what-if:not([hidden])")

    assert page.text_content("#probability") == _expected_percent(in_process, DEFAULT)
    assert page.text_content("#reading").endswith(".")
    width = page.eval_on_selector("#bar-fill", "bar => bar.style.width")
    assert width == page.text_content("#probability")
    # One line per class, one point per even age from 0 to 80.
    lines = page.eval_on_selector_all(
        "#chart polyline", "lines => lines.map(l => l.getAttribute('points').split(' ').length)"
    )
    assert lines == [41, 41, 41]
    _shoot(page, "desktop-default")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    _shoot(page, "phone-default")


@pytest.mark.parametrize(
    ("fields", "record", "name"),
    [
        (
            {"Pclass": "1", "Sex": "female", "Age": "29", "Fare": "211.34", "Embarked": "S",
             "Name": "Allen, Miss. Elisabeth Walton"},
            {**DEFAULT, "Pclass": 1, "Sex": "female", "Age": 29.0, "Fare": 211.34,
             "Name": "Allen, Miss. Elisabeth Walton"},
            "first-class-woman",
        ),
        (
            {"Pclass": "3", "Sex": "male", "Age": "4", "Parch": "2", "Fare": "21.07",
             "Embarked": "Q", "Name": ""},
            {**DEFAULT, "Age": 4.0, "Parch": 2, "Fare": 21.07, "Embarked": "Q",
             "Name": "Doe, Master. John"},
            "third-class-boy",
        ),
    ],
)  # fmt: skip
def test_other_passengers_match_the_model(page, in_process, fields, record, name):
    _ask(page, **fields)
    page.wait_for_selector("#what-if:not([hidden])")
    assert page.text_content("#probability") == _expected_percent(in_process, record)
    _shoot(page, f"desktop-{name}")


def test_a_model_error_is_shown_next_to_its_field(page):
    _ask(page, Fare="20000")
    page.wait_for_selector("#Fare-error:not(:empty)")

    assert page.text_content("#Fare-error") == (
        "Fare: 20000 is not allowed: use a number from 0 to 10000"
    )
    assert page.get_attribute("#Fare", "aria-invalid") == "true"
    assert page.is_hidden("#result")
    _shoot(page, "desktop-fare-error")

    _ask(page, Fare="8.05", Age="-3")
    page.wait_for_selector("#Age-error:not(:empty)")
    assert page.text_content("#Fare-error") == ""
    assert page.text_content("#Age-error") == "Age: -3 is not allowed: use a number from 0 to 120"


def test_every_control_has_a_label(page):
    unlabelled = page.eval_on_selector_all(
        "input, select",
        "controls => controls.filter(c => !document.querySelector(`label[for='${c.id}']`))"
        ".map(c => c.id)",
    )
    assert unlabelled == []


def test_nothing_is_requested_from_another_origin(browser, stack):
    """Every request the page really makes, loading and answering, goes to its own origin."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(stack["url"])
        page.click("#predict")
        page.wait_for_selector("#what-if:not([hidden])")
    finally:
        page.close()

    assert f"{stack['url']}invocations" in requested  # the answer came through the page's origin
    assert {url for url in requested if not url.startswith((stack["url"], "data:"))} == set()
    assert len(requested) >= 4  # the page, its style and script, and the model


def test_a_stopped_model_server_shows_a_notice(page, stack):
    stop_process(stack["model"])
    page.click("#predict")
    page.wait_for_selector("#service-notice:not([hidden])")

    notice = page.text_content("#service-notice")
    assert "prediction service" in notice
    assert "try again" in notice
    assert page.is_hidden("#result")
    _shoot(page, "desktop-service-down")


def test_the_image_entry_script_serves_page_and_model(registered, tmp_path):
    """``deployment/web.sh start`` is the image's CMD and ``make web``: run it for real."""
    web_address, model_address, metrics_address = (f"127.0.0.1:{port}" for port in free_ports(3))
    process = start_process(
        [str(PROJECT_ROOT / "deployment" / "web.sh"), "start"],
        tmp_path / "web.log",
        {**registered.env, "MODEL_URI": "models:/titanic@champion",
         "MODEL_ADDRESS": model_address, "WEB_ADDRESS": web_address,
         "METRICS_ADDRESS": metrics_address, "WORKERS": "2",
         "RUN_DIR": str(tmp_path / "run"), "TITANIC_PREDICTION_LOG": str(tmp_path / "log")},
    )  # fmt: skip
    try:
        wait_for_http(f"http://{web_address}/ping", process)
        page = requests.get(f"http://{web_address}/", timeout=10)
        assert page.status_code == 200
        assert "Would this passenger have survived" in page.text
        answer = requests.post(
            f"http://{web_address}/invocations",
            json={"dataframe_records": [DEFAULT]},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert 0 <= answer.json()["predictions"][0]["probability"] <= 1
        # The serving layer behind nginx: its request id passed on, its metrics reachable on
        # the metrics address alone (in a cluster, a port no Ingress leads to). A request is
        # counted as its answer goes out, so the count may follow the answer by a moment.
        request_id = answer.headers["X-Request-ID"]
        metrics = requests.get(f"http://{metrics_address}/metrics", timeout=10)
        assert metrics.status_code == 200
        counted = wait_for(
            lambda: (
                total(found := scrape(f"http://{metrics_address}"), "titanic_requests_total") == 1
                and found
            ),
            "the answered request counted",
        )
        assert total(counted, "titanic_requests_total", status="200") == 1
        assert requests.get(f"http://{web_address}/metrics", timeout=10).status_code == 404
        assert requests.get(f"http://{metrics_address}/ping", timeout=10).status_code == 404
        given = requests.post(
            f"http://{web_address}/invocations", json={"dataframe_records": [DEFAULT]},
            headers={"X-Request-ID": "from-the-client"}, timeout=30,
        )  # fmt: skip
        assert given.headers["X-Request-ID"] == "from-the-client" != request_id
        # Stopped as `docker stop` stops the image's PID 1: web.sh alone gets SIGTERM, stops
        # nginx and the serving layer with its workers, and exits 0.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        listening = [a for a in (web_address, model_address, metrics_address) if _listens(a)]
        assert listening == []
    finally:
        stop_process(process)
        with contextlib.suppress(ProcessLookupError):  # what web.sh left behind, if anything
            os.killpg(process.pid, signal.SIGKILL)


def _listens(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True
