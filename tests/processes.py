"""Real local processes for the tests: the benchmark's helpers, a tracking server, Chromium."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchmarks.processes import (
    PROJECT_ROOT,
    SHARED_DATA,
    VENV_BIN,
    free_port,
    free_ports,
    start_process,
    stop_process,
    wait_for_http,
)

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "PROJECT_ROOT",
    "SHARED_DATA",
    "VENV_BIN",
    "free_port",
    "free_ports",
    "start_mlflow_server",
    "start_process",
    "stop_process",
    "wait_for",
    "wait_for_http",
]

_Result = TypeVar("_Result")


def wait_for(condition: Callable[[], _Result], message: str, timeout: float = 30.0) -> _Result:
    """Poll ``condition`` until it returns something true, and return that; no fixed sleep.

    For what a real process does after it answers: the serving layer counts a request as its
    answer goes out, and its log's thread writes the line later still.

    Raises:
        AssertionError: Naming ``message``, when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {message}")


# Debian's Chromium, driven by Playwright for the page and the MLflow UI.
CHROMIUM = Path("/usr/bin/chromium")
# As the machine's own checks start it: no sandbox as root, no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def start_mlflow_server(folder: Path) -> tuple[str, subprocess.Popen]:
    """Start a real ``mlflow server`` (sqlite backend, proxied local artifacts) in ``folder``.

    Returns:
        Its URL and its process (stop it with :func:`stop_process`).
    """
    port = free_port()
    env = os.environ.copy()
    # The job-runner workers cost ~2.5 GB and serve features this project does not use.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    process = start_process(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        folder / "server.log",
        env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process)
    except Exception:
        stop_process(process)
        raise
    return url, process
