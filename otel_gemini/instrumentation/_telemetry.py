"""What every wrapper needs, built once by the instrumentor: tracer, recorder, price table, settings."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import Tracer

from otel_gemini.config import Settings
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.pricing.table import PriceTable
from otel_gemini.recording import Recorder


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer
    recorder: Recorder
    table: PriceTable
    settings: Settings
    pricer: Pricer
    baggage_keys: tuple[str, ...] = ()
    """Attribution keys also read from OTel baggage (OTEL_GEMINI_ATTRIBUTES_FROM_BAGGAGE)."""
