"""The serving layer's metric names as Prometheus exposes them, read off the code itself."""

from __future__ import annotations

from pathlib import Path


def exposed_metrics(folder: Path) -> dict[str, str]:
    """``{name: type}`` of every metric of :class:`ServingMetrics`, as scraped.

    Counters carry their ``_total`` suffix; a histogram is named without its ``_bucket``,
    ``_sum`` and ``_count`` series.

    Args:
        folder: An existing folder for prometheus_client's multiprocess files.
    """
    from prometheus_client.metrics import MetricWrapperBase

    from titanic_model.serving.prometheus import ServingMetrics

    metrics = ServingMetrics(str(folder))
    families = [
        family
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    ]
    return {f.name + ("_total" if f.type == "counter" else ""): f.type for f in families}
