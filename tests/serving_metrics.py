"""The serving layer's metrics: their names as the code defines them, their values as scraped."""

from __future__ import annotations

from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

#: ``{(sample name, sorted labels): value}``, as :func:`scrape` reads ``/metrics``.
Samples = dict[tuple[str, tuple], float]


def scrape(url: str) -> Samples:
    """The layer at ``url``'s ``/metrics``, every sample by its name and labels."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` that carry ``labels`` (among others)."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


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
