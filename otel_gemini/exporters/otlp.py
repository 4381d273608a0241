"""OTLP push configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables, for apps that set up no SDK themselves.

When the app (or ``opentelemetry-instrument``) already installed SDK providers, those are used and this module
does nothing: otel-gemini never installs a second pipeline beside the app's. The SDK and the exporters come with
the ``otlp`` extra and are imported only when an endpoint asks for them: the library itself needs the API alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace


def _endpoint_configured(signal: str, environ: Mapping[str, str]) -> bool:
    """An OTLP endpoint is set and the standard ``OTEL_{TRACES,METRICS}_EXPORTER`` does not say otherwise."""
    exporters = {e.strip().lower() for e in environ.get(f"OTEL_{signal}_EXPORTER", "otlp").split(",")}
    if "otlp" not in exporters:
        return False  # e.g. "none", or another exporter the app sets up itself
    return bool(environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _protocol(signal: str, environ: Mapping[str, str]) -> str:
    protocol = (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in ("grpc", "http/protobuf"):
        from otel_gemini import _guard

        # The Python OTLP exporters speak grpc and http/protobuf only (no http/json exporter exists).
        _guard.warn_once(f"otlp-protocol:{protocol}", "otel-gemini: OTLP protocol %r is not supported by the "
                         "Python exporters; using http/protobuf", protocol)
    return protocol


def _is_sdk(provider: Any, module: str) -> bool:
    return type(provider).__module__.startswith(module)


def configure_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Install global SDK providers exporting by OTLP when an OTLP endpoint is set and no SDK provider exists."""
    wanted = [signal for signal in ("TRACES", "METRICS") if _endpoint_configured(signal, environ)]
    if not wanted:
        return
    try:
        import opentelemetry.exporter.otlp.proto.common  # noqa: F401  (both OTLP exporters' shared part)
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        from otel_gemini import _guard

        _guard.warn_once("otlp-missing", "otel-gemini: an OTLP endpoint is set but the OpenTelemetry SDK or OTLP "
                         "exporter is not installed, so nothing is pushed: pip install 'otel-gemini[otlp]'")
        return
    resource = Resource.create()  # honours OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES
    if "TRACES" in wanted and not _is_sdk(trace.get_tracer_provider(), "opentelemetry.sdk"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if _protocol("TRACES", environ) == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
    if "METRICS" in wanted and not _is_sdk(metrics.get_meter_provider(), "opentelemetry.sdk"):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        if _protocol("METRICS", environ) == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # type: ignore[assignment]
        metrics.set_meter_provider(
            MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
        )
