"""The tracking server's app: MLflow's basic-auth app behind the project's request filter.

``mlflow server --app-name titanic-basic-auth`` finds :func:`create_app` through the
``mlflow.app`` entry point (pyproject.toml) and runs it in each uvicorn worker. The filter
is one ASGI middleware in front of everything MLflow serves (its Flask routes and its native
FastAPI ones, the artifact proxy among them):

- it reads the request (the body only where it judges it: never an upload's bytes), asks
  MLflow's user store who is calling, and lets :func:`~titanic_model.tracking_server.rules.judge`
  decide;
- a refusal, its own or MLflow's (a 401 or 403 in plain text), is answered as one JSON line
  ``{"error_code", "message"}`` and logged on one line with the user, method and route.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from titanic_model.tracking_server.rules import (
    MAX_BODY_BYTES,
    MODEL_VERSION_SOURCE_REGEX,
    Caller,
    Kind,
    Needed,
    Refusal,
    Request,
    find_route,
    forbidden,
    judge,
    reads_body,
    server_info,
    unauthenticated,
)

#: MLflow's own check of a new version's source, given the filter's rule.
SOURCE_REGEX_VARIABLE = "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_logger = logging.getLogger(__name__)


def _field(value: str | None) -> str:
    """A log field on one line, whatever the client sent."""
    return json.dumps(value if value is not None else "-")


def log_refusal(caller: Caller, method: str, path: str, status: int, message: str) -> None:
    """One line: who was refused what, and why."""
    _logger.warning(
        "refused status=%d user=%s method=%s route=%s reason=%s",
        status,
        _field(caller.name),
        _field(method),
        _field(path),
        _field(message),
    )


async def _answer(send: Send, refusal: Refusal) -> None:
    body = refusal.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Basic realm="mlflow"'))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TrackingFilter:
    """The request filter in front of MLflow's app.

    Args:
        app: MLflow's basic-auth app (FastAPI, with Flask mounted inside).
        identify: Who sends these ``Authorization`` header values (run in a thread: it may
            hash a password).
        confirm: Whether MLflow grants a user a :class:`Needed` permission (in a thread).
    """

    def __init__(
        self,
        app: ASGIApp,
        identify: Callable[[list[bytes]], Caller],
        confirm: Callable[[str, Needed], bool],
    ):
        self.app = app
        self.identify = identify
        self.confirm = confirm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Judge an HTTP request, then answer it or pass it on to MLflow."""
        if scope["type"] == "websocket":  # nothing here speaks WebSocket
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan: MLflow's own start-up and shutdown
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = tuple((name.lower(), value) for name, value in scope["headers"])
        route, _ = find_route(method, path)
        if route is not None and route.kind is Kind.INFO:
            send = _server_info_rewritten(send)
        body = None
        if reads_body(route, method):
            body = await _read_body(receive)
            receive = _replay(body, receive)
        request = Request(method, path, scope.get("query_string", b""), headers, body)
        caller = Caller(None)
        if route is None or route.kind is not Kind.PUBLIC:  # no password hashed for a script
            credentials = [value for name, value in headers if name == b"authorization"]
            caller = await anyio.to_thread.run_sync(self.identify, credentials)
        verdict = judge(request, caller)
        if isinstance(verdict, Needed):
            # Only an authenticated caller is ever asked for a permission.
            granted = await anyio.to_thread.run_sync(self.confirm, caller.name or "", verdict)
            verdict = (
                None
                if granted
                else forbidden(
                    caller,
                    method,
                    path,
                    f"it needs {verdict.action} on {verdict.resource_type} {verdict.resource_id}",
                )
            )
        if verdict is not None:
            log_refusal(caller, method, path, verdict.status, verdict.message)
            await _answer(send, verdict)
            return
        await self.app(scope, receive, _refusals_as_json(send, caller, method, path))


async def _read_body(receive: Receive) -> bytes:
    """The whole body, or its first bytes past :data:`MAX_BODY_BYTES` (then refused)."""
    chunks, size, more = [], 0, True
    while more and size <= MAX_BODY_BYTES:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands MLflow the body already read, then waits as the original."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _rewritten(
    send: Send, holds: Callable[[int], bool], rewrite: Callable[[Message, bytes], Awaitable[None]]
) -> Send:
    """``send`` passing answers on, but holding those whose status ``holds`` for ``rewrite``."""
    held: dict[str, Any] = {}

    async def rewriting(message: Message) -> None:
        if message["type"] == "http.response.start" and holds(message["status"]):
            held["start"], held["body"] = message, b""
            return
        if "start" not in held:
            await send(message)
            return
        held["body"] += message.get("body", b"")
        if not message.get("more_body", False):
            await rewrite(held.pop("start"), held.pop("body"))

    return rewriting


def _refusals_as_json(send: Send, caller: Caller, method: str, path: str) -> Send:
    """``send`` with MLflow's plain-text 401 and 403 rewritten as one JSON line, and logged."""

    async def rewrite(start: Message, body: bytes) -> None:
        status, text = start["status"], body.decode("utf-8", "replace")
        try:
            reason = str(json.loads(text)["message"])
        except (ValueError, KeyError, TypeError):  # MLflow's plain text: said in JSON instead
            refusal = (
                forbidden(caller, method, path, "its role lacks the permission")
                if status == 403
                else unauthenticated()
            )
            log_refusal(caller, method, path, status, refusal.message)
            await _answer(send, refusal)
            return
        log_refusal(caller, method, path, status, reason)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return _rewritten(send, lambda status: status in (401, 403), rewrite)


def _server_info_rewritten(send: Send) -> Send:
    """``send`` with MLflow's ``server-info`` answer as :func:`~rules.server_info` gives it."""

    async def rewrite(start: Message, body: bytes) -> None:
        body = server_info(body)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return _rewritten(send, lambda status: status == 200, rewrite)


def _identify(values: list[bytes]) -> Caller:
    """The caller these ``Authorization`` values authenticate, per MLflow's user store."""
    from mlflow.server.auth import _authenticate_cached
    from werkzeug.datastructures import Authorization

    if len(values) != 1:
        return Caller(None)
    credentials = Authorization.from_header(values[0].decode("latin-1"))
    if credentials is None or credentials.type != "basic" or not credentials.username:
        return Caller(None)
    user = _authenticate_cached(credentials.username, credentials.password or "")
    return Caller(None) if user is None else Caller(user.username, bool(user.is_admin))


def _confirm(username: str, needed: Needed) -> bool:
    """Whether MLflow's permission store grants ``username`` what ``needed`` names."""
    from mlflow.server.auth import authorize
    from mlflow.server.auth.requirements import Requirement

    resource = (needed.resource_type, needed.resource_id)
    return authorize(username, resource, [Requirement(*resource, needed.action)])


def create_app() -> TrackingFilter:
    """MLflow's basic-auth app behind the filter: the ``mlflow.app`` entry point's factory.

    Returns:
        The ASGI app uvicorn serves.

    Raises:
        RuntimeError: When MLflow built a WSGI app (``--gunicorn-opts``, ``--waitress-opts``):
            the filter needs uvicorn, ``mlflow server``'s default.
    """
    from flask import Flask
    from mlflow.server import auth

    # MLflow checks new versions' sources too, for the admin as well, with the filter's rule.
    os.environ[SOURCE_REGEX_VARIABLE] = MODEL_VERSION_SOURCE_REGEX
    inner = auth.create_app()
    if isinstance(inner, Flask):
        raise RuntimeError("the titanic-basic-auth app needs uvicorn, mlflow server's default")
    if not _logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        _logger.addHandler(handler)
        _logger.propagate = False
    return TrackingFilter(inner, _identify, _confirm)
