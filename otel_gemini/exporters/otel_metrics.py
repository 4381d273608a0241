"""OpenTelemetry metrics from the recorder, so OTLP (or any reader on the user's MeterProvider) gets the contract.

Counters are observable instruments: the SDK asks for the cumulative totals at collection time, so the call path
pays nothing for them. Histograms have no observable form in the OTel API; their observations are queued by the
recorder and replayed into synchronous SDK histograms at the start of each collection (the SDK runs observable
callbacks before it reads any storage, so the replay lands in the same export), or by a background thread once
4096 are waiting. The SDK's per-record cost (about 17 µs on the CI machine, mostly attribute hashing) is
therefore paid off the user's call path; it is still CPU, which benchmarks/overhead.py reports as the mean.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otel_gemini import _guard, semconv
from otel_gemini.recording import EXEMPLIFIED, Exemplar, Recorder

# Replayed and observed points must not borrow exemplars from whatever span is current at collection. Not a bare
# Context(): the SDK reads an empty (falsy) context as "none given" and takes the current one.
_EMPTY_CONTEXT = set_span_in_context(INVALID_SPAN, Context())
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _attributes(recorder: Recorder, metric: semconv.MetricDef, key: tuple[str, ...], project: str) -> dict[str, str]:
    # An empty value means "absent" (error.type on success), as in Prometheus.
    attributes = {name: value for name, value in zip(recorder.labels_of(metric), key, strict=False) if value != ""}
    attributes[semconv.PROJECT] = project
    return attributes


def _traced_context(trace: tuple[int, int, float]) -> Context:
    """A context whose current span is the recorded call's: the SDK's trace-based exemplar filter keeps it."""
    span = NonRecordingSpan(SpanContext(trace[0], trace[1], is_remote=False, trace_flags=_SAMPLED))
    return set_span_in_context(span, _EMPTY_CONTEXT)


def _series_context(exemplar: Exemplar | None) -> Context:
    return _traced_context((exemplar[0], exemplar[1], exemplar[3])) if exemplar is not None else _EMPTY_CONTEXT


class OTelMetricsBridge:
    """Registers the contract's instruments on a MeterProvider and feeds them from a Recorder."""

    def __init__(self, recorder: Recorder, meter_provider: MeterProvider, version: str) -> None:
        self.recorder: Recorder | None = None
        self._sdk = _is_sdk(meter_provider)
        self._meter_provider = meter_provider
        meter = meter_provider.get_meter("otel_gemini", version, schema_url=semconv.SCHEMA_URL)
        self._drain_lock = threading.Lock()
        self._drain_wanted = threading.Event()
        self._worker: threading.Thread | None = None
        for metric in semconv.COUNTERS:
            meter.create_observable_counter(
                metric.otel_name, callbacks=[self._counter_callback(metric)], unit=metric.unit,
                description=metric.description,
            )
        for metric in semconv.GAUGES:
            meter.create_observable_gauge(
                metric.otel_name, callbacks=[self._gauge_callback(metric)], unit=metric.unit,
                description=metric.description,
            )
        self._histograms: dict[semconv.MetricDef, Any] = {
            metric: meter.create_histogram(
                metric.otel_name, unit=metric.unit, description=metric.description,
                explicit_bucket_boundaries_advisory=list(metric.buckets),
            )
            for metric in semconv.HISTOGRAMS
        }
        self.attach(recorder)

    def attach(self, recorder: Recorder) -> None:
        self.recorder = recorder
        if self._sdk:
            recorder.pending_histograms = []
            recorder.on_pending_full = self._request_drain

    def _request_drain(self) -> None:
        """Called on the user's call path: wake the worker, never drain inline."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._drain_forever, name="otel-gemini-histograms", daemon=True)
            self._worker.start()
        self._drain_wanted.set()

    def _drain_forever(self) -> None:
        while True:
            self._drain_wanted.wait()
            self._drain_wanted.clear()
            try:
                self.drain()
            except Exception as failure:
                _guard.report("otel_metrics", failure)

    def _counter_callback(self, metric: semconv.MetricDef) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            recorder = self.recorder
            if metric is semconv.COUNTERS[0]:
                if recorder is not None:
                    recorder.before_read()
                self.drain()  # the first callback of every collection replays the queued histogram points
            if recorder is None:
                return []
            if metric not in EXEMPLIFIED:
                return [
                    Observation(value, _attributes(recorder, metric, key, recorder.project), _EMPTY_CONTEXT)
                    for key, value in recorder.counter_values(metric)
                ]
            traced = recorder.exemplar_values(metric)
            return [
                Observation(
                    value, _attributes(recorder, metric, key, recorder.project), _series_context(traced.get(key)),
                )
                for key, value in recorder.counter_values(metric)
            ]

        return callback

    def _gauge_callback(self, metric: semconv.MetricDef) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            recorder = self.recorder
            if recorder is None:
                return []
            return [
                Observation(value, _attributes(recorder, metric, key, recorder.project), _EMPTY_CONTEXT)
                for key, value in recorder.gauge_values(metric)
            ]

        return callback

    def drain(self) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        project = recorder.project
        histograms = self._histograms
        # One attribute dict per series for this drain: the points of a round share a few series, and the SDK
        # copies (cleans) the mapping it is given, so sharing it between records is safe.
        made: dict[tuple[semconv.MetricDef, tuple[str, ...]], dict[str, str]] = {}
        # One context per traced call: a call's 3-4 points carry the same (trace id, span id, time) tuple, and a
        # Context is immutable, so they can share it (each costs a SpanContext, a span and a context copy).
        contexts: dict[tuple[int, int, float], Context] = {}
        with self._drain_lock:
            for metric, key, value, traced in recorder.take_pending():
                attributes = made.get((metric, key))
                if attributes is None:
                    attributes = made[metric, key] = _attributes(recorder, metric, key, project)
                context = _EMPTY_CONTEXT
                if traced is not None:
                    shared = contexts.get(traced)
                    context = shared if shared is not None else contexts.setdefault(traced, _traced_context(traced))
                histograms[metric].record(value, attributes, context=context)

    def serves_into(self, registry: object) -> bool:
        """True when an OTel ``PrometheusMetricReader`` on this bridge's MeterProvider exposes our instruments in
        ``registry`` (it registers there, prometheus_client's default registry unless told otherwise): that page
        then already has one copy of every series, with the names docs/metrics.md gives."""
        if self.recorder is None or not self._sdk:
            return False
        readers = getattr(self._meter_provider, "_metric_readers", ())  # fixed when the SDK provider is built
        registered = getattr(registry, "_collector_to_names", {})
        return any(
            type(reader).__module__.startswith("opentelemetry.exporter.prometheus")
            and getattr(reader, "_registry", None) is registry and getattr(reader, "_collector", None) in registered
            for reader in readers
        )

    def detach(self) -> None:
        """Stop queueing: the instruments stay registered (the OTel API cannot remove them) but report nothing new."""
        self.drain()
        if self.recorder is not None:
            self.recorder.pending_histograms = None
            self.recorder.on_pending_full = None
        self.recorder = None


def _is_sdk(meter_provider: MeterProvider) -> bool:
    try:
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    except ImportError:  # the API alone: not an SDK provider
        return False
    return isinstance(meter_provider, SdkMeterProvider)
