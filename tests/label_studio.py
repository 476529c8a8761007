"""Label Studio for the tests: ``deployment/label_studio.sh``, its install started early.

On a machine where Label Studio's venv is not cached yet, installing it takes minutes: the
suite starts ``deployment/label_studio.sh install`` in the background as soon as it knows a
test will need it, and ``up`` waits for that install (the script's lock) instead of starting
its own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from tests.processes import PROJECT_ROOT, start_process

SCRIPT = PROJECT_ROOT / "deployment" / "label_studio.sh"
#: The test module that needs it.
MODULE = "test_label_studio.py"
INSTALL_LOG = PROJECT_ROOT / "test-output" / "label-studio-install.log"


def install_in_background() -> subprocess.Popen:
    """Start ``label_studio.sh install`` (a no-op when installed) in its own session."""
    INSTALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    return start_process([str(SCRIPT), "install"], INSTALL_LOG)


def run_script(
    command: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    """``deployment/label_studio.sh <command>`` with ``env`` over this process's environment.

    Every ``LABEL_STUDIO_*`` variable of this process is dropped first: only ``env`` sets them.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    return subprocess.run(
        [str(SCRIPT), command], env={**base, **env}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
