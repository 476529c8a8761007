"""One pure ASGI middleware around MLflow's scoring app, and what it hands MLflow as the model.

:class:`ServingLayer` sees every request before MLflow's app and every response after it,
without buffering a request body (it only counts its bytes as MLflow reads them) or a
successful answer (passed on as MLflow sends it). Only error answers, small by nature, are
held back and rewritten. It adds:

- a request id: a sane ``X-Request-ID`` is kept, otherwise one is made (32 hex digits,
  unique per process and across them); echoed on every answer and in the prediction log;
- ``GET /metrics``, in Prometheus' text format;
- no 5xx and no stack trace for anything a client sends: a body over the size limit gets a
  413, one without a ``Content-Type`` a 415, JSON nested too deep for Python's parser a 400,
  and every error body is one JSON line ``{"error_code", "message", "request_id"}``;
- for ``/invocations``, the metrics and the prediction log.

:class:`ObservedModel` is the loaded pyfunc as MLflow's app calls it: it notes what the model
answered (or refused) for the request being served, which the middleware then counts and logs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from titanic_model.errors import one_line
from titanic_model.model.pyfunc import InvalidPassengersError, as_passenger_frame
from titanic_model.model.schema import check_passengers
from titanic_model.names import INVALID_ROWS_PARAM, REFUSE_INVALID_ROWS
from titanic_model.serving.log_writer import PredictionLog
from titanic_model.serving.prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE
from titanic_model.serving.prometheus import ServingMetrics

REQUEST_ID_HEADER = b"x-request-id"
# Kept as sent when it looks like an id (a UUID, a trace id…); anything else is replaced.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
    504: "TEMPORARILY_UNAVAILABLE",
}

_logger = logging.getLogger(__name__)


@dataclass
class _Request:
    """What one ``/invocations`` request was answered, noted by :class:`ObservedModel`."""

    request_id: str
    records: dict[str, np.ndarray] | None = None
    predictions: pd.DataFrame | None = None
    refusal: str | None = None
    rejected_records: dict[str, int] = field(default_factory=dict)


# MLflow's app runs predict in a worker thread, which inherits the request's context.
_current_request: ContextVar[_Request | None] = ContextVar("titanic_request", default=None)


class ObservedModel:
    """The loaded pyfunc, noting each answer for the request being served.

    The model validates each request once (``predict_validated``) and hands back the records
    as it read them, which the log formats; a refusal carries its bad records by field. A
    version logged before the model had ``predict_validated`` is answered by ``predict``, and
    its records are validated here a second time, for the log.

    Args:
        model: The model MLflow loaded.
    """

    def __init__(self, model: PyFuncModel):
        self._model = model
        self._predict_validated = getattr(model.unwrap_python_model(), "predict_validated", None)
        self.metadata = model.metadata

    def predict(self, data: object, params: dict | None = None) -> pd.DataFrame:
        """The model's predictions; what it answered or refused is noted for the middleware.

        Args:
            data: What MLflow parsed from the request.
            params: MLflow's inference parameters: only ``invalid_rows=refuse``, the default.

        Returns:
            The model's predictions.
        """
        request = _current_request.get()
        try:
            invalid_rows = (params or {}).get(INVALID_ROWS_PARAM, REFUSE_INVALID_ROWS)
            if invalid_rows != REFUSE_INVALID_ROWS:
                # Over HTTP a request is answered whole or refused: the log and the metrics
                # count answers, and a client must not mistake a row left out for an answer.
                raise InvalidPassengersError(
                    f"parameter {INVALID_ROWS_PARAM}={invalid_rows!r}: this server answers "
                    f"all records or refuses them ({REFUSE_INVALID_ROWS} only)"
                )
            if self._predict_validated is None:
                predictions = cast(pd.DataFrame, self._model.predict(data, params=params))
                columns = check_passengers(as_passenger_frame(data))
            else:
                columns, predictions = self._predict_validated(data)
        except MlflowException as error:
            if request is not None:
                request.refusal = one_line(error.message)
                request.rejected_records = getattr(error, "rejected_by_field", {})
            raise
        if request is not None:
            request.records, request.predictions = columns, predictions
        return predictions


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class _BodyTooLargeError(Exception):
    pass


def _error_of(status: int, held: bytes, content_type: bytes | None) -> tuple[str, str]:
    """MLflow's error code and one-line message from one of its error answers."""
    code, message = _ERROR_CODES.get(status, "BAD_REQUEST"), held.decode("utf-8", "replace")
    if content_type and content_type.startswith(b"application/json"):
        try:
            parsed = json.loads(held)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            code = str(parsed.get("error_code") or code)
            message = str(parsed.get("message") or parsed.get("detail") or message)
    if "UnicodeDecodeError" in message:  # MLflow's message would echo the bytes back
        message = "the request body is not valid UTF-8 text"
    return code, one_line(message)


class ServingLayer:
    """The ASGI middleware; see the module's docstring.

    Args:
        app: MLflow's scoring app, built around an :class:`ObservedModel`.
        metrics: This worker's metrics.
        prediction_log: This worker's prediction log (its thread also observes the
            probabilities).
        max_body_bytes: Largest accepted request body.
    """

    def __init__(
        self,
        app,
        *,
        metrics: ServingMetrics,
        prediction_log: PredictionLog,
        max_body_bytes: int,
    ):
        self.app = app
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.max_body_bytes = max_body_bytes
        # New ids: this process's random half, then a counter (uuid4 reads the OS's random
        # source on every call, which costs more than the rest of the id's path).
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = itertools.count()

    async def __call__(self, scope, receive, send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        if given is not None and _SANE_REQUEST_ID.fullmatch(given):
            request_id = given.decode()
        else:
            request_id = f"{self._id_prefix}{next(self._id_counter):016x}"
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            body = await asyncio.to_thread(self.metrics.render)
            await _respond(send, 200, body, METRICS_CONTENT_TYPE.encode(), request_id)
        elif scope["path"] == "/invocations":
            await self._invocations(scope, receive, send, request_id)
        else:
            await self._call_app(scope, receive, send, request_id, _Request(request_id))

    def _on_shutdown(self, receive):
        """``receive`` for the lifespan scope: writes the prediction log out at shutdown."""

        async def receive_and_flush():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.prediction_log.close)
            return message

        return receive_and_flush

    async def _invocations(self, scope, receive, send, request_id: str) -> None:
        started, arrived = time.perf_counter(), datetime.now(UTC)
        request = _Request(request_id)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            status = await self._refuse(send, 413, self._too_large(), request_id, request)
        elif scope["method"] == "POST" and not _header(scope, b"content-type"):
            reason = "a Content-Type header is required: application/json or text/csv"
            status = await self._refuse(send, 415, reason, request_id, request)
        else:
            token = _current_request.set(request)
            try:
                status = await self._call_app(scope, receive, send, request_id, request)
            finally:
                _current_request.reset(token)
        self.metrics.count_request(status)
        self.metrics.duration.observe(time.perf_counter() - started)
        if status == 200 and request.predictions is not None and request.records is not None:
            # The log's thread counts the predictions too, off the request path.
            self.prediction_log.scored(request_id, arrived, request.records, request.predictions)
        elif status >= 400:
            for name, count in request.rejected_records.items():
                self.metrics.rejected_records.labels(name).inc(count)
            self.prediction_log.rejected(
                request_id, arrived, status, request.refusal or "", request.rejected_records
            )

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _refuse(
        self,
        send,
        status: int,
        reason: str,
        request_id: str,
        request: _Request,
        code: str | None = None,
    ) -> int:
        """Answer an error as one JSON line; the model's own refusal, if any, is what is logged."""
        if request.refusal is None:
            request.refusal = reason
        body = {
            "error_code": code or _ERROR_CODES[status],
            "message": reason,
            "request_id": request_id,
        }
        await _respond(send, status, json.dumps(body).encode(), b"application/json", request_id)
        return status

    async def _call_app(self, scope, receive, send, request_id: str, request: _Request) -> int:
        """Run MLflow's app; pass its successes on as they come, rewrite its errors.

        Returns:
            The HTTP status answered.
        """
        received = 0
        too_large = False

        async def counted_receive():
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                too_large = True
                raise _BodyTooLargeError
            return message

        answered: dict = {}
        held: list[bytes] = []

        async def filtered_send(message):
            if message["type"] == "http.response.start":
                answered.update(status=message["status"], headers=message.get("headers", []))
                if message["status"] < 400:
                    headers = message.get("headers", [])
                    headers = [*headers, (REQUEST_ID_HEADER, request_id.encode())]
                    await send({**message, "headers": headers})
                    answered["sent"] = True
                return
            if answered.get("sent"):
                await send(message)
            else:
                held.append(message.get("body", b""))

        try:
            await self.app(scope, counted_receive, filtered_send)
        except Exception as error:
            if answered.get("sent"):
                raise
            if too_large:
                return await self._refuse(send, 413, self._too_large(), request_id, request)
            if isinstance(error, RecursionError):
                reason = "the JSON body is nested too deeply to be read"
                return await self._refuse(send, 400, reason, request_id, request)
            _logger.exception("request %s failed", request_id)
            reason = f"internal error; quote request id {request_id}"
            return await self._refuse(send, 500, reason, request_id, request)
        if answered.get("sent"):
            return answered["status"]
        status = answered.get("status", 500)
        content_type = dict(answered.get("headers", [])).get(b"content-type")
        code, reason = _error_of(status, b"".join(held), content_type)
        return await self._refuse(send, status, reason, request_id, request, code)


async def _respond(send, status: int, body: bytes, content_type: bytes, request_id: str) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER, request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
