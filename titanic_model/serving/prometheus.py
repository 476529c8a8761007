"""The serving layer's Prometheus metrics, exact across worker processes.

uvicorn's workers are separate processes, so each counts in prometheus_client's
multiprocess mode: values live in files under ``PROMETHEUS_MULTIPROC_DIR`` (which the
launcher empties at start) and ``/metrics`` sums every worker's files, so any worker answers
with the totals of all. prometheus_client reads that variable when it is first imported:
this module is only imported by a worker once the launcher has set it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "ServingMetrics"]

# Request durations: from a cached single record (~3 ms) to a large batch.
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class ServingMetrics:
    """The metrics one worker updates; created once per worker, after the model is loaded.

    Attributes:
        requests: ``titanic_requests_total{status}``, one per ``/invocations`` request.
        duration: ``titanic_request_duration_seconds``, from request to last byte sent.
        predictions: ``titanic_predictions_total{survived}``, one per scored record.
        probability: ``titanic_prediction_probability``, per scored record.
        rejected_records: ``titanic_rejected_records_total{field}``, per refused record, by
            the field of its first broken rule.
        model_info: ``titanic_model_info{name,version,run_id,role}``, always 1: one series
            for the served model (``role="served"``) and one for a loaded shadow
            (``role="shadow"``).
        log_dropped: ``titanic_prediction_log_dropped_total``, log lines never written.
        shadow_errors: ``titanic_shadow_errors_total{stage}``, accepted requests the shadow
            did not score: it could not be loaded (``load``) or it failed (``predict``).
    """

    def __init__(self, multiprocess_dir: str):
        # Not registered in the process's default registry: /metrics reads the files.
        self._registry = CollectorRegistry()
        MultiProcessCollector(self._registry, path=multiprocess_dir)
        self.requests = Counter(
            "titanic_requests",
            "Requests to /invocations, by HTTP status.",
            ["status"],
            registry=None,
        )
        self.duration = Histogram(
            "titanic_request_duration_seconds",
            "Time to answer a request to /invocations.",
            buckets=_DURATION_BUCKETS,
            registry=None,
        )
        self.predictions = Counter(
            "titanic_predictions",
            "Scored records, by predicted outcome.",
            ["survived"],
            registry=None,
        )
        self.probability = Histogram(
            "titanic_prediction_probability",
            "Predicted probability of survival per record.",
            buckets=_PROBABILITY_BUCKETS,
            registry=None,
        )
        self.rejected_records = Counter(
            "titanic_rejected_records",
            "Refused records, by the field of their broken rule.",
            ["field"],
            registry=None,
        )
        self.model_info = Gauge(
            "titanic_model_info",
            "The served and the shadow model versions (value 1).",
            ["name", "version", "run_id", "role"],
            multiprocess_mode="max",
            registry=None,
        )
        self.log_dropped = Counter(
            "titanic_prediction_log_dropped",
            "Prediction-log lines that could not be written.",
            registry=None,
        )
        self.shadow_errors = Counter(
            "titanic_shadow_errors",
            "Accepted requests the shadow model did not score, by stage.",
            ["stage"],
            registry=None,
        )
        self._requests_by_status: dict[int, Any] = {}
        for survived in ("0", "1"):  # both series exist from the start, at 0
            self.predictions.labels(survived)

    def count_request(self, status: int) -> None:
        """Count one ``/invocations`` request by its status (the children are cached)."""
        counter = self._requests_by_status.get(status)
        if counter is None:
            counter = self._requests_by_status[status] = self.requests.labels(str(status))
        counter.inc()

    def observe_predictions(self, predictions: pd.DataFrame) -> None:
        """Count one request's scored records and their probabilities.

        Called off the request path, by the prediction log's thread: reading a DataFrame's
        columns and observing a histogram per record cost more than the rest of the layer.

        Args:
            predictions: The model's answer (``survived``, ``probability``).
        """
        positives = int(predictions["survived"].sum())
        self.predictions.labels("1").inc(positives)
        self.predictions.labels("0").inc(len(predictions) - positives)
        for probability in predictions["probability"].tolist():
            self.probability.observe(probability)

    def render(self) -> bytes:
        """Every worker's metrics, summed, in Prometheus' text format."""
        return generate_latest(self._registry)
