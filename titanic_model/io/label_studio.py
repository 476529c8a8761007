"""Label Studio's REST API: projects, task import with predictions, export (I/O shell).

Only the calls the review jobs make, as Label Studio 1.23 answers them (its token
authentication: ``Authorization: Token <key>``). Every failure, from a server that is down to
a refused key or an answer that is not Label Studio's, is a :class:`LabelStudioError` with a
one-line message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import requests

# Generous: an export of a large project is built while the call waits.
TIMEOUT_SECONDS = 120
# Projects per page when looking one up by title.
_PAGE_SIZE = 100


class LabelStudioError(OSError):
    """Raised when Label Studio cannot be reached or refuses a call; the message is one line."""


def _reason(error: requests.RequestException) -> str:
    """The last ``[Errno N] text`` in a connection error (urllib3 buries it), or its kind."""
    found = re.findall(r"\[Errno -?\d+\] [^'\"\)]+", str(error))
    return found[-1].strip() if found else type(error).__name__


def _detail(response: requests.Response) -> str:
    """What Label Studio said went wrong, on one line."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "no reason given"
    if not isinstance(body, dict):
        return str(body)
    detail = str(body.get("detail") or response.reason)
    errors = body.get("validation_errors")
    if errors:
        detail += f" {errors}"
    return " ".join(detail.split())


class LabelStudio:
    """A client of one Label Studio server, as one user (whose API key it holds).

    Args:
        url: The server's address, ``http://127.0.0.1:8090``.
        api_key: The user's API token (a legacy token: ``Token <key>``).
        timeout: Seconds a call may take.
    """

    def __init__(self, url: str, api_key: str, timeout: float = TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {api_key}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: object = None,
    ) -> Any:
        """One call; its JSON answer.

        Raises:
            LabelStudioError: When the server is unreachable, refuses the key or the call, or
                answers with something other than JSON.
        """
        try:
            response = self._session.request(
                method, self.url + path, params=params, json=json, timeout=self.timeout
            )
        except requests.Timeout:
            raise LabelStudioError(
                f"Label Studio at {self.url} did not answer {method} {path} within "
                f"{self.timeout:g} s"
            ) from None
        except requests.RequestException as error:
            raise LabelStudioError(
                f"cannot reach Label Studio at {self.url} ({_reason(error)}): is it running? "
                "(deployment/label_studio.sh up)"
            ) from None
        if response.status_code in (401, 403):
            raise LabelStudioError(
                f"Label Studio at {self.url} refused LABEL_STUDIO_API_KEY "
                f"(HTTP {response.status_code}: {_detail(response)})"
            )
        if not response.ok:
            raise LabelStudioError(
                f"Label Studio at {self.url} answered {method} {path} with HTTP "
                f"{response.status_code}: {_detail(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise LabelStudioError(
                f"{self.url} answered {method} {path} with something other than JSON: is "
                "LABEL_STUDIO_URL a Label Studio?"
            ) from None

    def whoami(self) -> dict:
        """The user whose key this is: the first call, proving the server and the key."""
        user = self._call("GET", "/api/current-user/whoami")
        if not isinstance(user, dict) or "id" not in user:
            raise LabelStudioError(f"{self.url} is not a Label Studio (no user in its answer)")
        return user

    def find_project(self, title: str) -> dict | None:
        """The project of this title (exactly), or None.

        Label Studio filters titles by substring: the exact one is picked from its pages.
        """
        page = 1
        while True:
            found = self._call(
                "GET",
                "/api/projects/",
                params={"title": title, "page": page, "page_size": _PAGE_SIZE},
            )
            for project in found["results"]:
                if project["title"] == title:
                    return project
            if not found.get("next"):
                return None
            page += 1

    def create_project(self, fields: Mapping[str, object]) -> dict:
        """Create a project with these settings (``title``, ``label_config``…)."""
        return self._call("POST", "/api/projects/", json=dict(fields))

    def update_project(self, project_id: int, fields: Mapping[str, object]) -> dict:
        """Change some of a project's settings."""
        return self._call("PATCH", f"/api/projects/{project_id}/", json=dict(fields))

    def tasks(self, project_id: int) -> list[dict]:
        """Every task of a project with its data and annotations (Label Studio's JSON export).

        A task's ``predictions`` there are ids only: :meth:`predictions` has their results.
        """
        return self._call(
            "GET",
            f"/api/projects/{project_id}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
        )

    def predictions(self, project_id: int) -> list[dict]:
        """Every prediction in a project: ``task``, ``model_version``, ``score``, ``result``."""
        return self._call("GET", "/api/predictions/", params={"project": project_id})

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, object]]) -> int:
        """Add tasks (``data`` and ``predictions``) to a project in one call.

        Returns:
            How many tasks Label Studio created.
        """
        answer = self._call("POST", f"/api/projects/{project_id}/import", json=list(tasks))
        return int(answer["task_count"])
