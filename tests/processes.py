"""Real local processes for the tests and the benchmark: free ports, start, wait, stop.

Every server listens on 127.0.0.1 on a free port, in its own session, so that it is stopped
with all its workers by its process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
VENV_BIN = Path(sys.executable).parent
# Debian's Chromium, driven by Playwright for the page and the MLflow UI.
CHROMIUM = Path("/usr/bin/chromium")
# As the machine's own checks start it: no sandbox as root, no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop_process(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and all its children."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_process(
    command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start a server in its own session so it can be stopped with all its workers."""
    log = log_path.open("wb")
    return subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env or os.environ.copy(),
        start_new_session=True,
    )


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
