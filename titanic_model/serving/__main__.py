"""``python -m titanic_model.serving``: start the serving layer (what ``make serve`` runs).

``--model_uri`` (default ``models:/titanic@champion``), ``--host`` (127.0.0.1), ``--port``
(5001), ``--workers`` (1); the rest from the environment (:mod:`titanic_model.serving.settings`).

With one worker the model is loaded in this process, before the port opens, and MLflow is
imported once. With more, this process resolves the model's version (and the shadow's) once
(so every worker serves the same one), then uvicorn spawns the workers, which each load it.
Metrics from all workers are summed through ``PROMETHEUS_MULTIPROC_DIR``: the folder given
there (a pod's emptyDir), emptied first, or a new temporary one.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from titanic_model.errors import ConfigError, one_line
from titanic_model.parameters import parse_options
from titanic_model.serving.settings import ServingConfig, ServingParams

# Where a spawned worker that cannot load the model leaves its reason for this process.
_STARTUP_FAILURE = "startup-failure.txt"


def _usage() -> str:
    lines = ["usage: python -m titanic_model.serving [--<parameter> <value> ...]"]
    for name, (default, description) in ServingParams.describe().items():
        lines.append(f"  --{name:<10} {description} (default: {default!r})")
    return "\n".join(lines)


def _metrics_folder() -> tuple[Path, bool]:
    """The multiprocess folder, emptied (values left by an earlier server would add up)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        return Path(tempfile.mkdtemp(prefix="titanic-metrics-")), True
    folder = Path(given)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.db"), folder / _STARTUP_FAILURE]:
        stale.unlink(missing_ok=True)
    return folder, False


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted.

    Returns:
        The exit status: 0 after a clean stop, 1 after a one-line ``error:``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["-h"], ["--help"]):
        print(_usage())
        return 0
    try:
        config = ServingConfig.from_command_line(parse_options(ServingParams, argv))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    folder, temporary = _metrics_folder()
    # prometheus_client reads it when first imported, here or in a spawned worker.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        return _serve(config, folder)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def _serve(config: ServingConfig, folder: Path) -> int:
    import uvicorn
    from mlflow.exceptions import MlflowException

    from titanic_model.credentials import refusal_line
    from titanic_model.serving.app import CONFIG_VARIABLE, build_app, resolve_model

    options: dict[str, Any] = {
        "host": config.params.host,
        "port": config.params.port,
        "loop": "uvloop",
        "http": "httptools",
        # The prediction log and the metrics record every request; an access log line per
        # request would cost more than the rest of the layer.
        "access_log": False,
    }
    try:
        if config.params.workers == 1:
            app = build_app(config, str(folder))
        else:
            _, pinned = resolve_model(config.params.model_uri)
            shadow = _pinned_shadow(config.shadow_model_uri)
            os.environ[CONFIG_VARIABLE] = config.serving(pinned, shadow).model_dump_json()
    except MlflowException as error:
        print(refusal_line(error), file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    if config.params.workers == 1:
        uvicorn.run(app, **options)
        return 0
    uvicorn.run(
        "titanic_model.serving.__main__:spawned_worker_app",
        factory=True,
        workers=config.params.workers,
        **options,
    )
    failure = folder / _STARTUP_FAILURE
    if failure.exists():
        print(f"error: {failure.read_text().strip()}", file=sys.stderr)
        return 1
    return 0


def _pinned_shadow(uri: str | None) -> str | None:
    """The shadow's version, pinned for every worker; None when there is none to pin.

    A shadow that cannot be resolved stops nothing: each worker then fails to load it, and
    serves without it (:func:`titanic_model.serving.app.load_shadow`).
    """
    from mlflow.exceptions import MlflowException

    from titanic_model.serving.app import resolve_model

    if uri is None:
        return None
    try:
        return resolve_model(uri)[1]
    except MlflowException:
        return None


def spawned_worker_app():
    """The app of a worker uvicorn spawned; one that cannot load the model stops them all.

    Without this, uvicorn would restart the failing worker forever.
    """
    from titanic_model.serving.app import MULTIPROCESS_VARIABLE, create_app

    try:
        return create_app()
    except Exception as error:
        reason = one_line(getattr(error, "message", None) or error)
        folder = Path(os.environ[MULTIPROCESS_VARIABLE])
        (folder / _STARTUP_FAILURE).write_text(reason + "\n")
        os.kill(os.getppid(), signal.SIGTERM)
        raise SystemExit(1) from None


if __name__ == "__main__":
    sys.exit(main())
