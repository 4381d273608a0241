"""GeminiInstrumentor: composes price table, recorder, exporters and the SDK wrappers; nothing else.

Registered under the ``opentelemetry_instrumentor`` entry point, so ``opentelemetry-instrument python app.py``
instruments with no code; ``otel_gemini.instrument()`` is the one-line form of the same thing.
"""

from __future__ import annotations

import calendar
import os
import time
import weakref
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from otel_gemini import _guard, semconv
from otel_gemini.exporters import multiprocess, otlp, prometheus
from otel_gemini.exporters.otel_metrics import OTelMetricsBridge
from otel_gemini.instrumentation import (
    _operation,
    attempts,
    batches,
    caches,
    embeddings,
    files,
    interactions,
    legacy,
    live,
    media,
    models,
    tokens,
    tuning,
)
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.package import _instruments
from otel_gemini.pricing import cache
from otel_gemini.recording import Recorder
from otel_gemini.settings import account
from otel_gemini.settings.config import Settings, load_settings
from otel_gemini.version import __version__

STALE_AFTER_DAYS = 60
_SURFACES = (
    models.instrument, _operation.instrument_raw, tuning.instrument, embeddings.instrument, tokens.instrument,
    files.instrument, media.instrument, caches.instrument, batches.instrument, interactions.instrument,
    live.instrument, legacy.instrument, attempts.instrument,
)

# One bridge per MeterProvider for the life of the process: OTel instruments cannot be unregistered, so a
# re-instrument re-points the existing bridge at the new recorder instead of registering a second set.
_bridges: weakref.WeakKeyDictionary[Any, OTelMetricsBridge] = weakref.WeakKeyDictionary()
_collector: prometheus.GeminiCollector | None = None


def _page_recorder() -> Recorder:
    """The recorder the page at ``/`` reads: the latest instrument()'s, as /metrics does."""
    assert _collector is not None
    return _collector.recorder


def _load_table(settings: Settings) -> tuple[cache.Loaded, Exception | None]:
    """The table to price with; a broken override file falls back to the table without it (and is reported)."""
    try:
        return account.load_table(settings), None
    except Exception as failure:
        if not settings.prices_path:
            raise  # the bundled table is checked by the test suite; failing here means a broken install
        _guard.logger.error(
            "otel-gemini: the price file named by OTEL_GEMINI_PRICES could not be used (%s: %s); pricing without "
            "it instead.", type(failure).__name__, failure,
        )
        return account.load_table(replace(settings, prices_path=None)), failure


def _attach_bridge(recorder: Recorder, meter_provider: Any) -> OTelMetricsBridge | None:
    try:
        bridge = _bridges.get(meter_provider)
        if bridge is None:
            bridge = _bridges[meter_provider] = OTelMetricsBridge(recorder, meter_provider, __version__)
        else:
            bridge.attach(recorder)
        return bridge
    except Exception as failure:  # a broken MeterProvider costs OTel metrics, not the app (Prometheus still works)
        _guard.report("otel_metrics", failure)
        return None


def _served_by_otel_reader(registry: Any) -> bool:
    """Whether any live bridge's MeterProvider has an OTel PrometheusMetricReader serving into ``registry``."""
    return any(bridge.serves_into(registry) for bridge in list(_bridges.values()))


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED=true`` (the SDK configuration variable): every signal off, so no wrappers, no /metrics
    server, no providers installed; said once in the log, since a silent no-op looks like a broken install."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true":
        return False
    _guard.warn_once("sdk-disabled", "otel-gemini: OTEL_SDK_DISABLED=true: not instrumenting (no spans, metrics, "
                     "cost or /metrics server)")
    return True


class GeminiInstrumentor(BaseInstrumentor):
    """Instruments google-genai (2.x and 3.x) with spans, metrics and exact cost."""

    _wrapped: list[tuple[Any, str]] = []
    _watcher: Any = None
    telemetry: Telemetry | None = None
    _bridge: OTelMetricsBridge | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _collector
        self.prometheus_port: int | None = None
        if sdk_disabled():
            return
        settings = load_settings(kwargs)
        otlp.configure_from_env()
        tracer_provider = kwargs.get("tracer_provider") or trace.get_tracer_provider()
        meter_provider = kwargs.get("meter_provider") or metrics.get_meter_provider()
        loaded, table_failure = _load_table(settings)
        table = loaded.table
        recorder, pricer = account.books(settings, loaded)
        _guard.set_error_counter(lambda component: recorder.count(semconv.INTERNAL_ERRORS, (component,)))
        _guard.set_refusal_counter(lambda what, reason: recorder.count(semconv.REFUSED, (what, reason)))
        if table_failure is not None:
            _guard.report("price_table", table_failure)
        checked = calendar.timegm(table.checked_on.timetuple())
        if (time.time() - checked) / 86400 > STALE_AFTER_DAYS:
            _guard.warn_once(
                "stale-prices", "otel-gemini: the price table was last checked on %s, over %d days ago; costs may be "
                "out of date (run `otel-gemini prices`).", table.checked_on, STALE_AFTER_DAYS,
            )

        self._bridge = _attach_bridge(recorder, meter_provider)
        if _collector is None:
            _collector = prometheus.register(recorder)
        _collector.recorder = recorder
        _collector.served_elsewhere = _served_by_otel_reader
        merged_view = multiprocess.setup(recorder)  # pre-fork servers: None unless a multiprocess dir is set
        if settings.prometheus_port is not None:
            try:
                self.prometheus_port = prometheus.serve(
                    settings.prometheus_port, settings.prometheus_host, registry=merged_view or prometheus.REGISTRY,
                    page_recorder=None if merged_view else _page_recorder,  # pre-fork: not this recorder's calls
                )
            except OSError as failure:  # a taken port must not stop the app from starting
                _guard.report("prometheus_server", failure)

        tracer = trace.get_tracer("otel_gemini", __version__, tracer_provider=tracer_provider,
                                  schema_url=semconv.SCHEMA_URL)
        self.telemetry = Telemetry(
            tracer=tracer, recorder=recorder, settings=settings, pricer=pricer,
            baggage_keys=recorder.attribution_keys if settings.attributes_from_baggage else (),
            logger_provider=kwargs.get("logger_provider"),
        )
        self._watcher = account.watch_table(settings, recorder, pricer, loaded)
        self._wrapped = []
        for surface in _SURFACES:
            try:
                self._wrapped += surface(self.telemetry)
            except Exception as failure:  # one SDK surface that cannot be wrapped must not cost the others
                _guard.report("instrument", failure)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        for cls, name in self._wrapped:
            unwrap(cls, name)
        self._wrapped = []
        if self._bridge is not None:
            self._bridge.detach()
            self._bridge = None
        self.telemetry = None
