"""Test helpers shipped with otel-gemini, so downstream users can drive their own instrumented code offline."""

from otel_gemini.testing.fake_gemini import (
    FakeGemini,
    Recorded,
    Reply,
    error,
    quota_exceeded,
    response,
    stream,
    usage,
    vertex_client_kwargs,
)

__all__ = [
    "FakeGemini",
    "Recorded",
    "Reply",
    "error",
    "quota_exceeded",
    "response",
    "stream",
    "usage",
    "vertex_client_kwargs",
]
