"""Counts that cannot be a bill, sent to a real agent over real OTLP exporters (issue 15): refused, counted on
``otel_gemini_refused_total``, never priced on the counts that remain, and no counter moves backwards."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from otel_gemini.agent.server import Agent, AgentOptions
from tests.agent.test_agent import ONE_CALL, SEMCONV, http_exporter, outcome, send, total


@pytest.fixture
def agent() -> Iterator[Agent]:
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)) as running:
        yield running


@pytest.mark.parametrize(("attribute", "value", "reason"), [
    ("gen_ai.usage.input_tokens", 10**9, "too_large"),  # was $300 booked
    ("gen_ai.usage.input_tokens", 10**13, "too_large"),  # was dropped, the output still "priced"
    ("gen_ai.usage.reasoning.output_tokens", -400, "negative"),
    ("gen_ai.usage.output_tokens", 2.5, "not_integer"),
])
def test_impossible_counts_are_refused(agent: Agent, attribute: str, value: Any, reason: str) -> None:
    send(http_exporter(agent), SEMCONV)
    for _ in range(2):
        send(http_exporter(agent), {**SEMCONV, attribute: value})
    assert total(agent, "otel_gemini_refused_total", what="usage", reason=reason) == 2
    assert total(agent, "gemini_cost_usd_total") == ONE_CALL  # only the good span's dollars
    assert total(agent, "gemini_tokens_total", gen_ai_token_type="input") == 1000
    assert total(agent, "gemini_requests_total", gemini_pricing_status="unmetered") == 2
    assert outcome(agent, "priced") == 1
    assert all(v >= 0 for v in (total(agent, "gemini_cost_usd_total"), total(agent, "gemini_tokens_total")))
    assert total(agent, "gemini_cost_usd_total") == Decimal(ONE_CALL)


def test_a_span_whose_recording_fails_costs_itself_only(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spans of one Export request are recorded together (one recorder lock per request): one span whose
    recording raises is counted rejected/error, and the other spans of the same request still land."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_gemini.recording import Recorder

    original = Recorder._record_call

    def fragile(self: Recorder, call: Any, lock: Any, flush: bool) -> None:
        if call.request_model == "gemini-2.5-pro":
            raise ValueError("recording broken")
        original(self, call, lock, flush)

    monkeypatch.setattr(Recorder, "_record_call", fragile)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(http_exporter(agent), schedule_delay_millis=60_000))
    tracer = provider.get_tracer("test.app")
    for model in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash"):
        tracer.start_span(f"generate_content {model}", attributes={
            **SEMCONV, "gen_ai.request.model": model, "gen_ai.response.model": model}).end()
    provider.shutdown()  # one Export request with the three spans
    assert total(agent, "otel_gemini_agent_requests_total") == 1
    assert outcome(agent, "priced") == 2
    assert outcome(agent, "rejected") == 1
    assert total(agent, "otel_gemini_agent_rejected_spans_total", reason="error") == 1
    assert total(agent, "gemini_cost_usd_total") == 2 * ONE_CALL
    assert total(agent, "gemini_requests_total", gen_ai_request_model="gemini-2.5-pro") == 0
