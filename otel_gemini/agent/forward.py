"""The agent inside an existing Collector pipeline: spans passed on, cost metrics pushed by OTLP.

:class:`Forwarder` hands every accepted ``ExportTraceServiceRequest`` on, unchanged, to ``<endpoint>/v1/traces``
over OTLP/HTTP protobuf. It runs off a bounded queue on a thread of its own: the sender's export is answered as
soon as its spans are recorded, whatever the downstream does; a full queue drops the request. Each request ends
counted once in ``otel_gemini_agent_forward_total{outcome="sent"|"failed"|"dropped"}`` (no retries: a Collector
that must not lose spans should receive them first and fan out to the agent).

:class:`MetricPusher` reports the agent's :class:`Recorder` through an OTel SDK ``MeterProvider`` with a
``PeriodicExportingMetricReader`` and the OTLP/HTTP metric exporter, via the library's own
:class:`~otel_gemini.exporters.otel_metrics.OTelMetricsBridge`, so the pushed names and units are those of
docs/metrics.md (``gemini.cost.usd`` ...). Its shutdown exports one last time.
"""

from __future__ import annotations

import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from otel_gemini import _guard
from otel_gemini.recording import Recorder

SENT, FAILED, DROPPED = "sent", "failed", "dropped"
FORWARD_OUTCOMES = (SENT, FAILED, DROPPED)
DEFAULT_QUEUE_SIZE = 1024
"""Export requests waiting to be forwarded; beyond this the newest are dropped (and counted)."""


def signal_url(endpoint: str, signal: str) -> str:
    """``http://collector:4318`` → ``http://collector:4318/v1/traces`` (a URL already ending so is kept)."""
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"OTLP endpoint {endpoint!r} must be an http:// or https:// URL")
    suffix = f"/v1/{signal}"
    base = endpoint.rstrip("/")
    return base if base.endswith(suffix) else base + suffix


class Forwarder:
    """A bounded queue of Export requests and one thread POSTing them downstream."""

    def __init__(self, endpoint: str, max_queue: int = DEFAULT_QUEUE_SIZE, timeout_s: float = 5.0) -> None:
        self.url = signal_url(endpoint, "traces")
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, max_queue))
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FORWARD_OUTCOMES, 0)
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Forwarder:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agent-forward", daemon=True)
            self._thread.start()
        return self

    def submit(self, request: Any) -> None:
        """Queue one decoded ExportTraceServiceRequest; never blocks, never raises."""
        if self._closing.is_set():
            self._count(DROPPED)
            return
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._count(DROPPED)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def _run(self) -> None:
        while True:
            try:
                request = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            try:
                self._count(SENT if self._post(request.SerializeToString()) else FAILED)
            except Exception as failure:  # never let one request stop the thread
                _guard.report("agent_forward", failure)
                self._count(FAILED)

    def _post(self, body: bytes) -> bool:
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                reply.read()
                return 200 <= reply.status < 300
        except (urllib.error.URLError, OSError, ValueError):  # HTTPError (non-2xx) is a URLError
            return False

    def close(self, timeout: float = 5.0) -> bool:
        """Send what is queued (within ``timeout``), then stop; what is left then is counted as dropped."""
        self._closing.set()
        finished = True
        if self._thread is not None:
            self._thread.join(timeout)
            finished = not self._thread.is_alive()
        if finished:  # the thread ends on an empty queue: leftovers only when it never started
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                self._count(DROPPED)
        return finished


class Tee:
    """What the receivers call ``pipeline``: prices each request as before, then queues it for forwarding."""

    def __init__(self, pipeline: Any, forwarder: Forwarder) -> None:
        self._pipeline = pipeline
        self.forwarder = forwarder

    def export(self, request: Any) -> dict[str, int]:
        try:
            return self._pipeline.export(request)
        finally:
            self.forwarder.submit(request)

    def __getattr__(self, name: str) -> Any:  # stats, recorder, ...: the pipeline's own
        return getattr(self._pipeline, name)


class ForwardCollector(Collector):
    """``otel_gemini_agent_forward_total{outcome}``: Export requests sent on, failed, or dropped (queue full)."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("otel_gemini_agent_forward",
                                     "OTLP Export requests passed on downstream, by outcome.", labels=["outcome"])
        for outcome, count in self.forwarder.counts().items():
            family.add_metric([outcome], count)
        yield family


class MetricPusher:
    """The recorder's metrics, pushed every ``interval_s`` to ``<endpoint>/v1/metrics`` (OTLP/HTTP protobuf)."""

    def __init__(self, recorder: Recorder, endpoint: str, interval_s: float = 15.0, timeout_s: float = 10.0) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        except ImportError:
            raise ValueError("pushing metrics needs the OTLP exporter: pip install 'otel-gemini[otlp]'") from None
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        from otel_gemini.exporters.otel_metrics import OTelMetricsBridge
        from otel_gemini.version import __version__

        if not interval_s > 0:
            raise ValueError(f"push interval must be positive, not {interval_s}")
        self.url = signal_url(endpoint, "metrics")
        self.timeout_s = timeout_s
        exporter = OTLPMetricExporter(endpoint=self.url, timeout=timeout_s)
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_s * 1000,
                                                    export_timeout_millis=timeout_s * 1000)
        resource = Resource.create({"service.name": "otel-gemini-agent", "service.version": __version__})
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        self.bridge = OTelMetricsBridge(recorder, self.meter_provider, __version__)
        self._closed = False

    def shutdown(self, timeout: float | None = None) -> None:
        """One last export (everything recorded so far), then stop; the bridge stops queueing histograms."""
        if self._closed:
            return
        self._closed = True
        timeout = self.timeout_s if timeout is None else timeout
        try:
            self.meter_provider.shutdown(timeout_millis=max(0.0, timeout) * 1000)
        except Exception as failure:
            _guard.report("agent_push", failure)
        finally:
            self.bridge.detach()


__all__ = ["Forwarder", "ForwardCollector", "MetricPusher", "Tee", "signal_url", "FORWARD_OUTCOMES"]
