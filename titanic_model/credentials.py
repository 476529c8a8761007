"""The tracking server's answer to the credentials in the environment, as one line.

A server running MLflow's basic-auth app refuses a call without credentials or with wrong ones
(401) and a call its user may not make (403), in plain text or (behind the project's filter,
titanic_model/tracking_server) as one JSON line, which MLflow's client wraps in a long
exception. :func:`refusal_line` says it in words: who was refused, by which server, and what
to do. Neither answer tells which of the user and the password was wrong; nor does
the line.

``python -m titanic_model.credentials`` checks that the server at ``MLFLOW_TRACKING_URI``
takes ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``: ``make run`` does, before
``mlflow run``, whose own process would answer a refusal with a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def refusal_line(error: MlflowException, environ: Mapping[str, str] | None = None) -> str:
    """One ``error:`` line for an MLflow refusal.

    Args:
        error: What MLflow raised.
        environ: Where the credentials came from; default: the process's environment.

    Returns:
        The line, without its newline: MLflow's first line unless the server refused the
        credentials (401) or the permission (403).
    """
    environ = os.environ if environ is None else environ
    status = error.get_http_status_code()
    user = environ.get("MLFLOW_TRACKING_USERNAME")
    server = mlflow.get_tracking_uri()
    if status == 401:
        refused = f"the credentials of user {user!r}" if user else "a call without credentials"
        return (
            f"error: the tracking server at {server} refused {refused} (401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user of the server"
        )
    if status == 403:
        # MLflow's client words a plain-text 403 so; the server's filter answers in JSON.
        endpoint = re.search(
            r"endpoint (\S+) failed|may not call [A-Z]+ (/[^\s:]*)", str(error.message)
        )
        what = f"call {endpoint[1] or endpoint[2]}" if endpoint else "do this"
        return (
            f"error: the tracking server at {server} does not let user {user!r} {what} (403): "
            "its role lacks the permission (docs/deployment.md#who-may-do-what)"
        )
    reason = str(error.message).strip().splitlines() or [type(error).__name__]
    return f"error: {reason[0]}"


def main() -> int:
    """Check the credentials against ``MLFLOW_TRACKING_URI`` (a server; else nothing to check).

    Returns:
        0, or 1 after a one-line ``error:``.
    """
    if not mlflow.get_tracking_uri().startswith(("http://", "https://")):
        return 0
    try:
        # Any authenticated user may search: an empty answer still proves the credentials.
        MlflowClient().search_experiments(max_results=1)
    except MlflowException as error:
        print(refusal_line(error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
