"""``deployment/web.sh health``, the image's HEALTHCHECK: /ping on whatever WEB_ADDRESS says.

A plain HTTP server stands for nginx here; ``tests/integration/test_image.py`` runs the check
in the image itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.processes import PROJECT_ROOT, free_port, start_process, stop_process, wait_for_http

WEB_SH = PROJECT_ROOT / "deployment" / "web.sh"


@pytest.fixture(scope="module")
def port(tmp_path_factory) -> Iterator[int]:
    """A server on 127.0.0.1 that answers /ping, on a port that is not 8080."""
    folder = tmp_path_factory.mktemp("ping")
    (folder / "ping").write_text("")
    port = free_port()
    process = start_process(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(folder),
         str(port)],
        folder.parent / "ping-server.log",
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process)
        yield port
    finally:
        stop_process(process)


def _health(web_address: str) -> subprocess.CompletedProcess:
    python = os.path.dirname(sys.executable)
    return subprocess.run(
        [str(WEB_SH), "health"],
        env={"PATH": f"{python}:/usr/bin:/bin", "WEB_ADDRESS": web_address},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "0.0.0.0:{port}", "*:{port}", "{port}"])
def test_the_check_asks_the_address_nginx_listens_on(port, form):
    result = _health(form.format(port=port))
    assert result.returncode == 0, result.stderr


def test_the_check_fails_where_nothing_answers(port):
    assert _health(f"127.0.0.1:{free_port()}").returncode != 0
