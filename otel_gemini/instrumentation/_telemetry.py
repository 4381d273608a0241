"""What every wrapper needs, built once by the instrumentor: tracer, recorder, settings and the pricer.

No price table here: the pricer holds the table in force (hot reloads swap it there), so a copy taken at start-up
would go stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from otel_gemini.pricing.pricer import Pricer
from otel_gemini.recording import Recorder
from otel_gemini.settings.config import Settings


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer
    recorder: Recorder
    settings: Settings
    pricer: Pricer
    baggage_keys: tuple[str, ...] = ()
    """Attribution keys also read from OTel baggage (OTEL_GEMINI_ATTRIBUTES_FROM_BAGGAGE)."""
    logger_provider: Any = None
    """The ``logger_provider=`` given to instrument() for content events; None: the global one."""
