"""The tracking stack of ``deployment/stack.sh``, started for a test module and always stopped."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import PROJECT_ROOT, free_ports

STACK = PROJECT_ROOT / "deployment" / "stack.sh"
USER_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
ROLES_AND_ADMIN = ("training", "serving", "monitoring", "admin")
#: The artifact store's keys, which the stack's server alone may hold (moto takes any).
STORE_KEYS = {
    "AWS_ACCESS_KEY_ID": "artifact-store-key",
    "AWS_SECRET_ACCESS_KEY": "artifact-store-secret-3f9c2b",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def exports(text: str) -> dict[str, str]:
    """The variables of the ``export`` lines in ``text``."""
    return dict(
        pair.split("=", 1)
        for line in text.splitlines()
        if line.startswith("export ")
        for pair in shlex.split(line.removeprefix("export "))
    )


@contextmanager
def running_stack(prefix: str, **extra: str) -> Iterator[dict]:
    """``deployment/stack.sh up`` on free ports in a new folder; ``down`` whatever happened.

    Args:
        prefix: Of the stack's temporary folder.
        extra: More settings of ``stack.sh`` (``MLFLOW_WORKERS``…).

    Yields:
        The settings, ``printed`` (what ``up`` printed), ``env`` (each role's and the admin's
        exports), ``users`` (their credentials alone), the server's and S3's URLs, and ``run``
        (another ``stack.sh`` command, which must succeed).
    """
    # PostgreSQL runs as its own user, who cannot enter pytest's private temporary folders.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    pg_port, s3_port, mlflow_port = free_ports(3)
    settings = {
        "STACK_DIR": str(folder), "PG_PORT": str(pg_port), "S3_PORT": str(s3_port),
        "MLFLOW_PORT": str(mlflow_port), "BUCKET": "mlflow", **STORE_KEYS, **extra,
    }  # fmt: skip
    # No password from the caller's environment: the stack generates every one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "TITANIC_"))}
    env.update(settings)

    def run(*command: str, check: bool = True) -> str:
        result = subprocess.run(
            [str(STACK), *command], env=env, capture_output=True, text=True, timeout=300
        )
        assert not check or result.returncode == 0, (command, result.stdout, result.stderr[-3000:])
        return result.stdout

    try:
        printed = run("up")
        role_env = {role: exports(run("env", role)) for role in ROLES_AND_ADMIN}
        yield {
            **settings,
            "printed": printed,
            "env": role_env,
            "users": {role: {k: v[k] for k in USER_VARIABLES} for role, v in role_env.items()},
            "tracking_uri": f"http://127.0.0.1:{settings['MLFLOW_PORT']}",
            "s3_endpoint": f"http://127.0.0.1:{settings['S3_PORT']}",
            "log": folder / "mlflow.log",
            "run": run,
        }
    finally:
        run("down", check=False)  # also after a partial start: PostgreSQL and moto stop
        shutil.rmtree(folder, ignore_errors=True)
