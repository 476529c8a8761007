"""The tracking server's filter as ASGI, around small apps standing for MLflow's (no server)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from titanic_model.tracking_server.app import TrackingFilter
from titanic_model.tracking_server.rules import Caller, Needed

RUN = "0123456789abcdef0123456789abcdef"


class _Mlflow:
    """Answers every request with ``status`` and ``body``; keeps the bodies it was given."""

    def __init__(self, status: int = 200, body: bytes = b"{}", content_type: bytes = b"json"):
        self.status, self.body, self.content_type = status, body, content_type
        self.received: list[bytes] = []

    async def __call__(self, scope, receive, send):
        message = await receive()
        self.received.append(message.get("body", b""))
        headers = [(b"content-type", self.content_type), (b"content-length", b"99")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _call(app, method: str, path: str, body: bytes = b"", user: str | None = "monitoring",
          query: bytes = b"") -> tuple[int, dict, bytes]:  # fmt: skip
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]
    messages = [{"type": "http.request", "body": c, "more_body": i == 0}
                for i, c in enumerate(chunks)]  # fmt: skip
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if user:
        headers.append((b"authorization", user.encode()))
    scope = {"type": "http", "method": method, "path": path, "query_string": query,
             "headers": headers}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def _filter(mlflow: _Mlflow, granted: bool = True) -> TrackingFilter:
    def identify(values: list[bytes]) -> Caller:
        return Caller(values[0].decode()) if values else Caller(None)

    def confirm(user: str, needed: Needed) -> bool:
        return granted

    return TrackingFilter(mlflow, identify, confirm)


def test_a_request_it_lets_through_reaches_mlflow_whole_and_is_answered_as_mlflow_said():
    mlflow = _Mlflow(body=b'{"run": {}}')
    body = json.dumps({"run_id": RUN, "key": "k", "value": "v"}).encode()
    status, _, answer = _call(_filter(mlflow), "POST", "/api/2.0/mlflow/runs/set-tag", body)
    assert (status, answer) == (200, b'{"run": {}}')
    assert mlflow.received == [body]  # read to judge it, then handed over as sent


def test_a_refusal_is_answered_and_logged_without_reaching_mlflow(caplog):
    mlflow = _Mlflow()
    body = json.dumps({"run_id": RUN, "run_uuid": "other"}).encode()
    with caplog.at_level(logging.WARNING, logger="titanic_model.tracking_server.app"):
        status, headers, answer = _call(_filter(mlflow), "POST", "/api/2.0/mlflow/runs/update",
                                        body)  # fmt: skip
    assert status == 400
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(answer)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert mlflow.received == []
    (line,) = caplog.messages
    assert line.startswith(
        'refused status=400 user="monitoring" method="POST" route="/api/2.0/mlflow/runs/update"'
    )


def test_mlflows_plain_text_refusals_become_one_json_line_and_are_logged(caplog):
    mlflow = _Mlflow(status=403, body=b"Permission denied", content_type=b"text/plain")
    with caplog.at_level(logging.WARNING, logger="titanic_model.tracking_server.app"):
        status, headers, answer = _call(_filter(mlflow), "GET", "/api/2.0/mlflow/runs/get",
                                        query=f"run_id={RUN}".encode())  # fmt: skip
    assert status == 403
    assert json.loads(answer) == {
        "error_code": "PERMISSION_DENIED",
        "message": "user 'monitoring' may not call GET /api/2.0/mlflow/runs/get: "
        "its role lacks the permission",
    }
    assert headers[b"content-length"] == str(len(answer)).encode()
    assert caplog.messages[0].startswith('refused status=403 user="monitoring" method="GET"')


def test_anonymous_calls_get_a_401_that_asks_for_basic_auth():
    mlflow = _Mlflow()
    status, headers, answer = _call(_filter(mlflow), "GET", "/api/2.0/mlflow/runs/get", user=None)
    assert status == 401
    assert headers[b"www-authenticate"] == b'Basic realm="mlflow"'
    assert json.loads(answer)["error_code"] == "UNAUTHENTICATED"
    assert _call(_filter(mlflow), "GET", "/health", user=None)[0] == 200


def test_a_needed_permission_is_asked_of_mlflow_before_the_request_goes_on():
    body = json.dumps({"name": "titanic", "version": "1", "description": "card"}).encode()
    route = "/api/2.0/mlflow/model-versions/update"
    assert _call(_filter(_Mlflow(), granted=True), "PATCH", route, body)[0] == 200
    status, _, answer = _call(_filter(_Mlflow(), granted=False), "PATCH", route, body)
    assert status == 403
    assert "it needs update on registered_model titanic" in json.loads(answer)["message"]


def test_server_info_offers_no_transfer_outside_the_proxy():
    mlflow = _Mlflow(body=b'{"store_type": "SqlStore", "multipart_downloads_enabled": true}')
    status, headers, answer = _call(_filter(mlflow), "GET", "/api/3.0/mlflow/server-info")
    assert status == 200
    assert json.loads(answer)["multipart_downloads_enabled"] is False
    assert headers[b"content-length"] == str(len(answer)).encode()


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_websockets_are_closed_and_lifespan_reaches_mlflow(kind):
    reached, sent = [], []

    async def mlflow(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    asyncio.run(TrackingFilter(mlflow, None, None)({"type": kind}, None, send))
    assert (reached, sent) == (
        ([], [{"type": "websocket.close", "code": 1008}]) if kind == "websocket" else
        (["lifespan"], [])
    )  # fmt: skip
