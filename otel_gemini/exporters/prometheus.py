"""Prometheus exposition of the recorder, read at scrape time (no per-call cost beyond the recorder's)."""

from __future__ import annotations

import threading
from typing import Any, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from otel_gemini import semconv
from otel_gemini.recording import Recorder


_PROJECT = semconv.prometheus_label(semconv.PROJECT)


def _label_names(metric: semconv.MetricDef) -> list[str]:
    """The metric's labels, then ``gemini_project``: every series says which Google Cloud project it is."""
    return [semconv.prometheus_label(label) for label in metric.labels] + [_PROJECT]


class GeminiCollector(Collector):
    """Turns the recorder into metric families named as docs/metrics.md promises."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def collect(self) -> Iterator[Metric]:
        self.recorder.before_read()
        project = [self.recorder.project]
        for metric in semconv.COUNTERS:
            # prometheus_client appends _total itself.
            family = CounterMetricFamily(
                metric.prometheus_name.removesuffix("_total"), metric.description, labels=_label_names(metric)
            )
            for key, value in self.recorder.counter_values(metric):
                family.add_metric(list(key) + project, value)
            yield family
        for metric in semconv.HISTOGRAMS:
            family = HistogramMetricFamily(metric.prometheus_name, metric.description, labels=_label_names(metric))
            for key, counts, total, _count in self.recorder.histogram_values(metric):
                cumulative, buckets = 0, []
                for bound, count in zip((*metric.buckets, float("inf")), counts):
                    cumulative += count
                    buckets.append(("+Inf" if bound == float("inf") else _fmt(bound), cumulative))
                family.add_metric(list(key) + project, buckets, total)
            yield family
        for metric in semconv.GAUGES:
            family = GaugeMetricFamily(metric.prometheus_name, metric.description, labels=_label_names(metric))
            for key, value in self.recorder.gauge_values(metric):
                family.add_metric(list(key) + project, value)
            yield family


def _fmt(bound: float) -> str:
    return repr(float(bound))


_servers: dict[int, Any] = {}
_servers_lock = threading.Lock()


def register(recorder: Recorder, registry: CollectorRegistry = REGISTRY) -> GeminiCollector:
    collector = GeminiCollector(recorder)
    registry.register(collector)
    return collector


def unregister(collector: GeminiCollector, registry: CollectorRegistry = REGISTRY) -> None:
    try:
        registry.unregister(collector)
    except KeyError:
        pass


def serve(port: int, host: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> int:
    """Serve /metrics on ``port`` once per process (a second instrument() reuses it); returns the bound port."""
    with _servers_lock:
        if port in _servers and port != 0:
            return port
        server, _thread = start_http_server(port, addr=host, registry=registry)
        bound = server.server_address[1]
        _servers[bound] = server
        return bound


def shutdown_all() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.shutdown()
            server.server_close()
        _servers.clear()
