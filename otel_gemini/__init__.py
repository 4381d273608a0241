"""otel-gemini: what each Gemini call costs, and its tokens, latency and errors, in OpenTelemetry and Prometheus.

Usage::

    import otel_gemini
    otel_gemini.instrument(prometheus_port=9464)   # before or after creating genai.Client()

    from google import genai
    client = genai.Client()
    client.models.generate_content(model="gemini-3.8-flash", contents="hi")
    # spans carry gen_ai.usage.cost.amount; http://localhost:9464/metrics has gemini_cost_usd_total

    with otel_gemini.attributes(feature="search", tenant="acme"):   # cost per feature and tenant
        client.models.generate_content(model="gemini-3.8-flash", contents="hi")

Or with no code: ``opentelemetry-instrument python app.py`` (the ``google-genai-cost`` instrumentor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_gemini.attribution import attributes
from otel_gemini.version import __version__

if TYPE_CHECKING:
    from otel_gemini.instrumentor import GeminiInstrumentor

__all__ = ["GeminiInstrumentor", "__version__", "attributes", "instrument", "uninstrument"]


def __getattr__(name: str) -> Any:
    # Lazy: ``otel-gemini prices``/``price`` import this package too, and pricing must run without OpenTelemetry.
    if name == "GeminiInstrumentor":
        from otel_gemini.instrumentor import GeminiInstrumentor

        return GeminiInstrumentor
    raise AttributeError(f"module 'otel_gemini' has no attribute {name!r}")


def instrument(
    tracer_provider: Any = None, meter_provider: Any = None, prometheus_port: int | None = None, **options: Any
) -> GeminiInstrumentor:
    """Instrument google-genai; calling it again is a no-op (use uninstrument() first to change settings)."""
    from otel_gemini.instrumentor import GeminiInstrumentor

    instrumentor = GeminiInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, prometheus_port=prometheus_port, **options
        )
    return instrumentor


def uninstrument() -> None:
    from otel_gemini.instrumentor import GeminiInstrumentor

    instrumentor = GeminiInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
