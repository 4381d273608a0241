"""Hostile input and failing parts (issue 15): a failing tracing pipeline costs the span, never the count; counts
from outside that cannot be a bill are refused and counted; an error body's key or prompt never reaches a span.

Faults come in through public means only: a real TracerProvider whose processor raises, real HTTP bodies from
FakeGemini, the real google-genai client.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest
from google.genai import errors
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from prometheus_client import REGISTRY, generate_latest

import otel_gemini
from otel_gemini import semconv
from otel_gemini.recording import Recorder
from otel_gemini.testing import Reply, error, response, stream, usage
from tests._fakes import quota_bodies
from tests.conftest import API_KEY

MODEL = "gemini-2.5-flash"
# gemini-2.5-flash, standard: $0.30 / 1M input, $2.50 / 1M output (thinking included).
COST_1000_IN_200_OUT = Decimal("0.0008")  # 1000 × 0.30e-6 + 200 × 2.50e-6
PROMPT = "Summarise the quarterly revenue figures for the Lisbon subsidiary in three bullet points"


def _reply() -> Reply:
    return Reply(body=response("hello", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200)))


class _Raising(SpanProcessor):
    def __init__(self, where: str) -> None:
        self.where = where

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.where == "start":
            raise RuntimeError("processor on_start broken")

    def on_end(self, span: Any) -> None:
        if self.where == "end":
            raise RuntimeError("processor on_end broken")


@pytest.mark.parametrize("where", ["start", "end"])
def test_a_failing_span_processor_costs_the_span_never_the_count(fake, client, telemetry, where) -> None:
    telemetry.tracer_provider.add_span_processor(_Raising(where))
    fake.push(_reply())
    assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
    fake.push(Reply(chunks=stream(["a", "b"], model_version=MODEL, final_usage=usage(prompt=1000, candidates=200))))
    assert [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")] == ["a", "b"]
    assert telemetry.prom("gemini_requests_total", gemini_pricing_status="priced") == 2
    assert telemetry.exact("gemini_cost_usd_total") == 2 * COST_1000_IN_200_OUT
    assert telemetry.prom("otel_gemini_internal_errors_total", component="span") == 2


class _BrokenTracerProvider(TracerProvider):
    """A real provider whose tracers' ``start_span`` raises (a misconfigured vendor SDK, a sampler bug)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        tracer = super().get_tracer(*args, **kwargs)

        def start_span(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("tracer broken")

        tracer.start_span = start_span  # type: ignore[method-assign]
        return tracer


def test_a_tracer_whose_start_span_raises_costs_the_span_never_the_count(fake, client) -> None:
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=_BrokenTracerProvider(), meter_provider=MeterProvider())
    try:
        fake.push(_reply(), _reply())
        assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
        assert asyncio.run(client.aio.models.generate_content(model=MODEL, contents="hi")).text == "hello"
        recorder = instrumentor.telemetry.recorder
        assert sum(recorder.counters[semconv.REQUESTS].values()) == 2
        assert sum(recorder.counters[semconv.COST].values()) == 2 * COST_1000_IN_200_OUT
        assert recorder.counters[semconv.INTERNAL_ERRORS] == {("span",): 2}
    finally:
        otel_gemini.uninstrument()


def _bad(**counts: Any) -> Reply:
    body = response("hello", model_version=MODEL, usage_metadata={"promptTokenCount": 1000, **counts})
    return Reply(body=body)


@pytest.mark.parametrize(("counts", "reason"), [
    ({"candidatesTokenCount": 200, "thoughtsTokenCount": -5000}, "negative"),
    ({"candidatesTokenCount": -200}, "negative"),
    ({"candidatesTokenCount": 10**9}, "too_large"),
    ({"candidatesTokenCount": 200, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": -1}]}, "negative"),
])
# (A fractional or non-numeric count never reaches the library: the SDK's own model refuses the response. The agent
# and the CLI read raw JSON: tests/agent/test_agent_hostile_usage.py, tests/cli/test_cli.py.)
def test_impossible_counts_are_refused_counted_and_logged_once(fake, client, telemetry, caplog, counts, reason) -> None:
    caplog.set_level(logging.WARNING, "otel_gemini")
    for _ in range(3):
        fake.push(_bad(**counts))
        assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
    assert telemetry.prom("gemini_requests_total", gemini_pricing_status="unmetered") == 3
    assert telemetry.prom("otel_gemini_refused_total", what="usage", reason=reason) == 3
    assert telemetry.exact("gemini_cost_usd_total") == 0
    assert telemetry.prom("gemini_tokens_total") == 0
    assert len([r for r in caplog.records if "refused a usage" in r.getMessage()]) == 1
    # The good call after still prices exactly: nothing was subtracted, nothing is owed.
    fake.push(_reply())
    client.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total") == COST_1000_IN_200_OUT


def test_no_counter_ever_goes_down() -> None:
    recorder = Recorder()
    key = ("generate_content", "gcp.gen_ai", MODEL, "", "output", "text", "standard")
    recorder.count(semconv.COST, key, Decimal("0.5"))
    recorder.count(semconv.COST, key, Decimal("-0.9"))
    assert recorder.counters[semconv.COST] == {key: Decimal("0.5")}
    assert recorder.counters[semconv.REFUSED] == {("amount", "negative"): 1}


# -- the key and the prompt in error bodies ---------------------------------------------------------------------

def _exported(telemetry: Any) -> str:
    """Everything exported about the calls: every span's attributes and events, and the /metrics page."""
    out = []
    for span in telemetry.spans():
        out.append(repr(dict(span.attributes or {})))
        for event in span.events:
            out.append(event.name + repr(dict(event.attributes or {})))
    out.append(generate_latest(REGISTRY).decode())
    return "\n".join(out)


def _key_400() -> Reply:
    return Reply(status=400, body=error(400, "INVALID_ARGUMENT", f"API key not valid: {API_KEY}", [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com", "key": API_KEY},
    }]))


def _key_429() -> Reply:
    violation = quota_bodies.violation(f"PerDay-{API_KEY}", f"metric/{API_KEY}", model=f"m-{API_KEY}")
    body = quota_bodies.quota_failure([violation])
    body["error"]["message"] += f" (key {API_KEY})"
    body["error"]["details"].append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": f"R_{API_KEY}"})
    return Reply(status=429, body=body)


def _prompt_400() -> Reply:
    message = f"Invalid value at 'contents[0].parts[0].text' (\"{PROMPT}\"): unsupported"
    return Reply(status=400, body=error(400, "INVALID_ARGUMENT", message))


@pytest.mark.parametrize("capture", ["NO_CONTENT", "SPAN_ONLY"])
@pytest.mark.parametrize("reply", [_key_400, _key_429], ids=["400-metadata", "429-quota"])
def test_a_key_in_an_error_body_never_reaches_a_span_or_a_label(fake, client, instrument_with, capture, reply) -> None:
    telemetry = instrument_with(capture_content=capture)
    fake.push(reply())
    with pytest.raises(errors.APIError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert API_KEY in str(raised.value)  # the caller's exception is the SDK's own, unchanged
    exported = _exported(telemetry)
    assert API_KEY not in exported
    assert semconv.REDACTED_API_KEY in exported
    event = next(e for e in telemetry.span().events if e.name == "exception")
    assert event.attributes["exception.type"] == f"{type(raised.value).__module__}.{type(raised.value).__qualname__}"
    assert str(raised.value.code) in event.attributes["exception.message"]  # the status stays to debug with


def test_the_prompt_quoted_by_an_error_is_removed_unless_content_is_captured(fake, client, instrument_with) -> None:
    telemetry = instrument_with()
    fake.push(_prompt_400())
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents=PROMPT)
    message = next(e for e in telemetry.span().events if e.name == "exception").attributes["exception.message"]
    assert PROMPT[:16] not in message and "quarterly revenue" not in _exported(telemetry)
    assert "INVALID_ARGUMENT" in message and "400" in message and semconv.REDACTED_CONTENT in message

    telemetry = instrument_with(capture_content="SPAN_ONLY")
    fake.push(_prompt_400())
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents=PROMPT)
    message = next(e for e in telemetry.span().events if e.name == "exception").attributes["exception.message"]
    assert PROMPT in message  # captured content is the user's choice: the error keeps it
