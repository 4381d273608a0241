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
