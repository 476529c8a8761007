"""The serving layer's middleware around small hand-written ASGI apps standing for MLflow's."""

from __future__ import annotations

import asyncio
import json
import re

import numpy as np
import pandas as pd
import pytest

from titanic_model.serving import layer as layer_module
from titanic_model.serving.layer import ServingLayer
from titanic_model.serving.log_writer import ModelIdentity, PredictionLog
from titanic_model.serving.prometheus import ServingMetrics

NEW_ID = re.compile(r"[0-9a-f]{32}")


class _Recorder:
    """What the layer handed to the prediction log."""

    def __init__(self):
        self.scored: list[tuple] = []
        self.rejected: list[tuple] = []
        self.closed = False

    def __call__(self) -> PredictionLog:
        recorder = self

        class Log(PredictionLog):
            def __init__(self):
                super().__init__(
                    ModelIdentity("titanic", "1", "run"),
                    None,
                    full_names=False,
                    on_dropped=lambda n: None,
                    observe=lambda predictions: None,
                )

            def scored(self, request_id, arrived, records, predictions):
                recorder.scored.append((request_id, records, predictions))

            def rejected(self, request_id, arrived, status, reason, rejected_records):
                recorder.rejected.append((request_id, status, reason, rejected_records))

            def close(self, timeout=10.0):
                super().close(timeout)
                recorder.closed = True

        return Log()


def _json_app(status: int, body: object, *, read_body: bool = True):
    """An app answering ``body`` as JSON after reading the request, as MLflow's does."""

    async def app(scope, receive, send):
        if read_body:
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


def _raising_app(error: Exception):
    async def app(scope, receive, send):
        await receive()
        raise error

    return app


def _predicting_app(model, data=None):
    """An app that calls the model like MLflow's scoring app: in a worker thread."""

    async def app(scope, receive, send):
        await receive()
        predictions = await asyncio.to_thread(model.predict, data or {"x": [1]}, None)
        body = json.dumps({"predictions": predictions.to_dict(orient="records")}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def _build(app, tmp_path, max_body_bytes: int = 1000):
    recorder = _Recorder()
    metrics = ServingMetrics(str(tmp_path))
    wrapped = ServingLayer(
        app, metrics=metrics, prediction_log=recorder(), max_body_bytes=max_body_bytes
    )
    return wrapped, metrics, recorder


def _request(app, method="POST", path="/invocations", headers=(), chunks=(b"{}",)):
    """Run one HTTP request through ``app``; return (status, headers, body)."""
    chunks = list(chunks)
    sent: list[dict] = []

    async def receive():
        if not chunks:
            return {"type": "http.disconnect"}
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


JSON = (("Content-Type", "application/json"),)


def _count(counter, **labels) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


def test_a_success_passes_through_with_its_request_id(tmp_path):
    app, metrics, _ = _build(_json_app(200, {"predictions": []}), tmp_path)
    status, headers, body = _request(app, headers=(*JSON, ("X-Request-ID", "abc-1")))
    assert (status, json.loads(body)) == (200, {"predictions": []})
    assert headers[b"x-request-id"] == b"abc-1"
    assert _count(metrics.requests, status="200") == 1


@pytest.mark.parametrize("given", ["has space", "é", "", "x" * 129])
def test_an_odd_request_id_is_replaced(tmp_path, given):
    app, _, _ = _build(_json_app(200, {}), tmp_path)
    _, headers, _ = _request(app, headers=(*JSON, ("X-Request-ID", given)))
    assert NEW_ID.fullmatch(headers[b"x-request-id"].decode())


def test_an_error_becomes_one_line_without_stack_trace(tmp_path):
    mlflow_error = {
        "error_code": "BAD_REQUEST",
        "message": "Failed to parse input.\nInput: \n<the whole body>",
        "stack_trace": "Traceback (most recent call last):\n  File /srv/x.py ...",
    }
    app, metrics, recorder = _build(_json_app(400, mlflow_error), tmp_path)
    status, headers, body = _request(app, headers=JSON)

    assert status == 400
    answer = json.loads(body)
    assert answer == {
        "error_code": "BAD_REQUEST",
        "message": "Failed to parse input.",
        "request_id": headers[b"x-request-id"].decode(),
    }
    assert recorder.rejected == [(answer["request_id"], 400, "Failed to parse input.", {})]
    assert _count(metrics.requests, status="400") == 1


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (RecursionError(), 400, "the JSON body is nested too deeply to be read"),
        (KeyError("bug"), 500, "internal error; quote request id "),
    ],
)
def test_an_exception_in_the_app_gets_a_one_line_answer(tmp_path, error, status, message):
    app, metrics, _ = _build(_raising_app(error), tmp_path)
    answered, _, body = _request(app, headers=JSON)
    assert answered == status
    assert json.loads(body)["message"].startswith(message)
    assert _count(metrics.requests, status=str(status)) == 1


def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs(tmp_path):
    app, _, recorder = _build(_raising_app(AssertionError("must not run")), tmp_path, 10)
    status, _, body = _request(app, headers=(*JSON, ("Content-Length", "11")))
    assert status == 413
    assert json.loads(body)["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert recorder.rejected[0][1:3] == (413, json.loads(body)["message"])


def test_a_chunked_body_over_the_limit_is_refused_once_it_passes_it(tmp_path):
    app, _, _ = _build(_json_app(200, {"predictions": []}), tmp_path, 10)
    status, _, body = _request(app, headers=JSON, chunks=[b"123456", b"789012", b"345"])
    assert status == 413
    assert "larger than the limit of 10 bytes" in json.loads(body)["message"]


def test_a_post_without_content_type_is_a_415(tmp_path):
    app, _, _ = _build(_raising_app(AssertionError("must not run")), tmp_path)
    status, _, body = _request(app)
    assert status == 415
    assert "Content-Type" in json.loads(body)["message"]


def test_metrics_are_served_by_the_layer_itself(tmp_path):
    app, _, _ = _build(_raising_app(AssertionError("must not run")), tmp_path)
    status, headers, _ = _request(app, method="GET", path="/metrics")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/plain")


class _Loaded:
    """Stands for MLflow's loaded pyfunc around one of our python models."""

    metadata = None

    def __init__(self, python_model):
        self.python_model = python_model

    def unwrap_python_model(self):
        return self.python_model

    def predict(self, data, params=None):
        return self.python_model.predict(None, data, params)


def test_a_scored_request_is_handed_to_the_log_with_what_the_model_validated(tmp_path):
    predictions = pd.DataFrame({"survived": [1, 0, 1], "probability": [0.9, 0.2, 0.7]})
    validated = {"Pclass": np.array([1.0, 2.0, 3.0])}

    class Model:
        def predict_validated(self, data):
            return validated, predictions

    observed = layer_module.ObservedModel(_Loaded(Model()))
    app, metrics, recorder = _build(_predicting_app(observed), tmp_path)
    status, _, _ = _request(app, headers=(*JSON, ("X-Request-ID", "r-1")))

    assert status == 200
    [(request_id, records, logged)] = recorder.scored
    assert (request_id, records) == ("r-1", validated)
    assert logged is predictions
    assert _count(metrics.requests, status="200") == 1
    # Counted by the log's thread, off the request path (ServingMetrics.observe_predictions).
    assert _count(metrics.predictions) == 0


def test_a_version_without_predict_validated_is_validated_again_for_the_log(tmp_path):
    # Versions logged before the model handed its validated records over.
    predictions = pd.DataFrame({"survived": [0], "probability": [0.1]})

    class LegacyModel:
        def predict(self, context, data, params=None):
            return predictions

    observed = layer_module.ObservedModel(_Loaded(LegacyModel()))
    record = {"Pclass": 3, "Name": "A, Mr. B", "Sex": "male", "SibSp": 0, "Parch": 0,
              "Ticket": "1", "Age": "22"}  # fmt: skip
    app, _, recorder = _build(_predicting_app(observed, [record]), tmp_path)

    assert _request(app, headers=JSON)[0] == 200
    [(_, records, logged)] = recorder.scored
    assert records["Age"].tolist() == [22.0]  # the canonical values, as the log needs them
    assert logged is predictions


def test_the_predictions_are_counted_by_outcome_and_probability(tmp_path):
    metrics = ServingMetrics(str(tmp_path))
    metrics.observe_predictions(
        pd.DataFrame({"survived": [1, 0, 1], "probability": [0.9, 0.2, 0.7]})
    )
    assert _count(metrics.predictions, survived="1") == 2
    assert _count(metrics.predictions, survived="0") == 1
    histogram = {s.name: s.value for m in metrics.probability.collect() for s in m.samples}
    assert histogram["titanic_prediction_probability_count"] == 3
    assert histogram["titanic_prediction_probability_sum"] == pytest.approx(1.8)


def test_a_refusal_of_the_model_is_counted_by_field(tmp_path):
    from titanic_model.model.pyfunc import InvalidPassengersError

    class Model:
        def predict_validated(self, data):
            # The model counts its bad records by field as it validates them, once.
            raise InvalidPassengersError(
                "row 0: field 'Sex': 'x' is not one of female, male", {"Sex": 1, "Pclass": 1}
            )

    async def app(scope, receive, send):
        await receive()
        records = {"Pclass": [1, 9], "Name": ["A, Mr. B", "C, Mr. D"], "Sex": ["x", "male"],
                   "SibSp": [0, 0], "Parch": [0, 0], "Ticket": ["1", "2"]}  # fmt: skip
        try:
            await asyncio.to_thread(observed.predict, records, None)
        except InvalidPassengersError as error:
            body = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": error.message})
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body.encode()})

    observed = layer_module.ObservedModel(_Loaded(Model()))
    wrapped, metrics, recorder = _build(app, tmp_path)
    status, _, body = _request(wrapped, headers=JSON)

    assert status == 400
    reason = "row 0: field 'Sex': 'x' is not one of female, male"
    assert json.loads(body)["message"] == reason
    assert recorder.rejected[0][1:] == (400, reason, {"Sex": 1, "Pclass": 1})
    assert _count(metrics.rejected_records, field="Sex") == 1
    assert _count(metrics.rejected_records, field="Pclass") == 1


def test_the_log_is_closed_at_shutdown(tmp_path):
    async def lifespan_app(scope, receive, send):
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})

    app, _, recorder = _build(lifespan_app, tmp_path)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        pass

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert recorder.closed
