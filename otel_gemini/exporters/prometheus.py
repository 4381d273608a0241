"""Prometheus exposition of the recorder, read at scrape time (no per-call cost beyond the recorder's)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from otel_gemini import _guard, semconv
from otel_gemini.recording import Recorder

_PROJECT = semconv.prometheus_label(semconv.PROJECT)


def family(metric: semconv.MetricDef, labels: Sequence[str], series: Iterable[tuple[Any, ...]]) -> Metric:
    """One metric family named as docs/metrics.md promises, from any source of series.

    Shared by :class:`GeminiCollector` (one process's recorder) and the multiprocess collector (the merge of
    every worker's snapshot), so both expose identical names, types and labels. ``labels`` are the key's
    attribute names (attribution keys included) without ``gemini_project``; every series key ends with the
    project value. Series are ``(key, value)`` for counters and gauges, ``(key, bucket_counts, sum)`` for
    histograms (per-bucket counts, not cumulative).
    """
    names = [semconv.prometheus_label(label) for label in labels] + [_PROJECT]
    if metric.kind == "counter":
        # prometheus_client appends _total itself.
        counter = CounterMetricFamily(metric.prometheus_name.removesuffix("_total"), metric.description, labels=names)
        for key, value in series:
            counter.add_metric(list(key), float(value))
        return counter
    if metric.kind == "histogram":
        histogram = HistogramMetricFamily(metric.prometheus_name, metric.description, labels=names)
        for key, counts, total in series:
            cumulative, buckets = 0, []
            for bound, count in zip((*metric.buckets, float("inf")), counts):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else _fmt(bound), cumulative))
            histogram.add_metric(list(key), buckets, float(total))
        return histogram
    gauge = GaugeMetricFamily(metric.prometheus_name, metric.description, labels=names)
    for key, value in series:
        gauge.add_metric(list(key), float(value))
    return gauge


class GeminiCollector(Collector):
    """Turns this process's recorder into metric families (see :func:`family`)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def collect(self) -> Iterator[Metric]:
        recorder = self.recorder
        recorder.before_read()
        project = (recorder.project,)
        for metric in semconv.COUNTERS:
            values = recorder.counter_values(metric)
            yield family(metric, recorder.labels_of(metric), ((k + project, v) for k, v in values))
        for metric in semconv.HISTOGRAMS:
            values = recorder.histogram_values(metric)
            yield family(metric, recorder.labels_of(metric), ((k + project, c, s) for k, c, s, _n in values))
        for metric in semconv.GAUGES:
            gauges = recorder.gauge_values(metric)
            yield family(metric, recorder.labels_of(metric), ((k + project, v) for k, v in gauges))


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


def serve(
    port: int, host: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY,
    page_recorder: Callable[[], Recorder] | None = None,
) -> int:
    """Serve /metrics on ``port`` once per process (a second instrument() reuses it); returns the bound port.

    With ``page_recorder``, the same listener serves the page at ``/`` (otel_gemini/page/) from that recorder.
    """
    with _servers_lock:
        if port in _servers and port != 0:
            return port
        server, _thread = start_http_server(port, addr=host, registry=registry)
        if page_recorder is not None:
            mount_page(server, page_recorder)
        bound = server.server_address[1]
        _servers[bound] = server
        return bound


def mount_page(server: Any, recorder: Callable[[], Recorder]) -> None:
    """Answer the page's paths before prometheus_client's app on a running wsgiref server (never fails serve())."""
    try:
        from otel_gemini.page.serve import Page, wsgi

        server.set_app(wsgi(server.get_app(), Page(recorder).start()))
    except Exception as failure:
        _guard.report("page", failure)


multiprocess_active = False
"""Set by exporters/multiprocess.setup: forked children's counts reach /metrics through their snapshot files."""


def _forget_servers_in_child() -> None:
    """A forked child (a gunicorn worker) has no server thread, only a copy of the listening socket: close the
    copy, so the port stays the parent's alone and the child may serve elsewhere, and forget the servers so a
    later ``serve`` in the child really binds. The lock may have been held by another thread at fork: renew it.
    """
    global _servers_lock
    _servers_lock = threading.Lock()
    if _servers and not multiprocess_active:
        _guard.warn_once(
            "forked-unserved", "otel-gemini: process %d was forked from one serving /metrics on port %s; what it "
            "counts is served by nobody. Set PROMETHEUS_MULTIPROC_DIR for pre-fork servers (docs/deployment.md).",
            os.getpid(), ",".join(map(str, _servers)),
        )
    for server in _servers.values():
        try:
            server.socket.close()
        except OSError:
            pass
    _servers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_servers_in_child)


def shutdown_all() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.shutdown()
            server.server_close()
        _servers.clear()
