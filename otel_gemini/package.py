"""What BaseInstrumentor checks before instrumenting (and what `opentelemetry-instrument` skips without)."""

_instruments = ("google-genai >= 2.0.0",)
