"""Prometheus exposition of the recorder, read at scrape time (no per-call cost beyond the recorder's)."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar as PromExemplar

from otel_gemini import _guard, semconv
from otel_gemini.recording import EXEMPLIFIED, Exemplar, Recorder

_PROJECT = semconv.prometheus_label(semconv.PROJECT)


def family(
    metric: semconv.MetricDef, labels: Sequence[str], series: Iterable[tuple[Any, ...]],
    exemplars: Mapping[Any, Exemplar] | None = None,
) -> Metric:
    """One metric family named as docs/metrics.md promises, from any source of series.

    Shared by :class:`GeminiCollector` (one process's recorder) and the multiprocess collector (the merge of
    every worker's snapshot), so both expose identical names, types and labels. ``labels`` are the key's
    attribute names (attribution keys included) without ``gemini_project``; every series key ends with the
    project value. Series are ``(key, value)`` for counters and gauges, ``(key, bucket_counts, sum)`` for
    histograms (per-bucket counts, not cumulative). ``exemplars`` (this process's recorder only) are keyed like
    the series, a histogram's by (series key, bucket index); prometheus_client writes them in OpenMetrics only.
    """
    exemplars = exemplars or {}
    names = [semconv.prometheus_label(label) for label in labels] + [_PROJECT]
    if metric.kind == "counter":
        # prometheus_client appends _total itself.
        counter = CounterMetricFamily(metric.prometheus_name.removesuffix("_total"), metric.description, labels=names)
        for key, value in series:
            counter.add_metric(list(key), float(value), exemplar=_exemplar(exemplars.get(key)))
        return counter
    if metric.kind == "histogram":
        histogram = HistogramMetricFamily(metric.prometheus_name, metric.description, labels=names)
        for key, counts, total in series:
            cumulative, buckets = 0, []
            for index, (bound, count) in enumerate(zip((*metric.buckets, float("inf")), counts, strict=False)):
                cumulative += count
                le = "+Inf" if bound == float("inf") else _fmt(bound)
                found = _exemplar(exemplars.get((key, index))) if exemplars else None
                buckets.append((le, cumulative, found) if found is not None else (le, cumulative))
            histogram.add_metric(list(key), buckets, float(total))
        return histogram
    gauge = GaugeMetricFamily(metric.prometheus_name, metric.description, labels=names)
    for key, value in series:
        gauge.add_metric(list(key), float(value))
    return gauge


def _exemplar(stored: Exemplar | None) -> PromExemplar | None:
    """The recorder's ids as OpenMetrics exemplar labels (W3C hex spelling, as tracing backends search them)."""
    if stored is None:
        return None
    trace_id, span_id, value, when = stored
    return PromExemplar({"trace_id": format(trace_id, "032x"), "span_id": format(span_id, "016x")}, float(value), when)


class GeminiCollector(Collector):
    """Turns this process's recorder into metric families (see :func:`family`)."""

    def __init__(self, recorder: Recorder, registry: CollectorRegistry | None = None) -> None:
        self.recorder = recorder
        self.registry = registry
        self.served_elsewhere: Callable[[CollectorRegistry], bool] | None = None
        """Set by the instrumentor: True when an OTel PrometheusMetricReader already exposes our metrics in the
        registry this collector sits in (see :meth:`collect`)."""

    def collect(self) -> Iterator[Metric]:
        check, registry = self.served_elsewhere, self.registry
        if check is not None and registry is not None and check(registry):
            # One copy of each series per page: the OTel Prometheus exporter already serves ours here (same names,
            # same values); a second copy would double every sum() (docs/coexistence.md).
            _guard.warn_once(
                "duplicate-prometheus", "otel-gemini: an OpenTelemetry PrometheusMetricReader on the MeterProvider "
                "otel-gemini reports to already serves otel-gemini's metrics in this Prometheus registry; "
                "otel-gemini's own collector stays silent there so each series appears once (its exemplars are "
                "then absent; docs/coexistence.md).",
            )
            return
        recorder = self.recorder
        recorder.before_read()
        project = (recorder.project,)
        for metric in semconv.COUNTERS:
            values = recorder.counter_values(metric)
            traced = (
                {k + project: e for k, e in recorder.exemplar_values(metric).items()} if metric in EXEMPLIFIED else None
            )
            yield family(metric, recorder.labels_of(metric), ((k + project, v) for k, v in values), traced)
        for metric in semconv.HISTOGRAMS:
            histograms = recorder.histogram_values(metric)
            traced = (
                {(k + project, i): e for (k, i), e in recorder.exemplar_values(metric).items()}
                if metric in EXEMPLIFIED else None
            )
            series = ((k + project, c, s) for k, c, s, _n in histograms)
            yield family(metric, recorder.labels_of(metric), series, traced)
        for metric in semconv.GAUGES:
            gauges = recorder.gauge_values(metric)
            yield family(metric, recorder.labels_of(metric), ((k + project, v) for k, v in gauges))


def metrics_page(registry: CollectorRegistry, accept: str | None, accept_encoding: str | None) -> tuple[
    dict[str, str], bytes,
]:
    """One /metrics reply as prometheus_client's own handler makes it: OpenMetrics (with exemplars) when the
    scraper asks for it, the classic text format otherwise, gzip when accepted. For servers that are not
    prometheus_client's (the agent's); returns the headers and the body."""
    encoder, content_type = choose_encoder(accept or "")
    body = encoder(registry)
    headers = {"Content-Type": content_type}
    if "gzip" in (accept_encoding or ""):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return headers, body


def _fmt(bound: float) -> str:
    return repr(float(bound))


_servers: dict[int, Any] = {}
_servers_lock = threading.Lock()


def register(recorder: Recorder, registry: CollectorRegistry = REGISTRY) -> GeminiCollector:
    collector = GeminiCollector(recorder, registry)
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
