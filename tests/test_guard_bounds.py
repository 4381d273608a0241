"""Bounds on what outsiders choose (issue 15): distinct unknown model ids cost neither a log line each nor memory
without limit, known models never use the unknown-model label budget, and the combinations of user-controlled
labels are capped — with every dollar kept on the ``_other`` series.

Driven through public entry points: the real google-genai client against FakeGemini, and a real agent fed real
OTLP/HTTP bodies.
"""

from __future__ import annotations

import logging
import tracemalloc
from decimal import Decimal
from typing import Any

import pytest

from otel_gemini import _guard
from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.settings.config import Settings
from tests.agent.test_agent import samples, total
from tests.agent.test_agent_hardening import SPAN_COST, body, post

KNOWN = ("gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-2.0-flash-lite",
         "gemini-3-flash-preview")


def _warnings(caplog: Any) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "otel_gemini" and record.levelno == logging.WARNING]


def _agent(**settings: Any) -> Agent:
    return Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0,
                              settings=Settings(**settings))).start()


def _export_models(agent: Agent, models: list[str], **kwargs: Any) -> None:
    for model in models:
        assert post(agent, body(1, model=model, **kwargs))[0] == 200


def test_library_2000_unknown_models_name_five_then_one_summary(fake: Any, client: Any, telemetry: Any, caplog: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.WARNING, logger="otel_gemini")
    for index in range(2000):
        client.models.generate_content(model=f"gemini-proxy-{index}", contents="hi")
    lines = _warnings(caplog)
    assert len(lines) == _guard.NAMED_PER_FAMILY
    assert [f"gemini-proxy-{index}" in line for index, line in enumerate(lines)] == [True] * 5
    assert telemetry.prom("gemini_requests_total", gemini_pricing_status="unpriced") == 2000  # each call counted
    assert _guard.warning_memory()["unpriced"] == _guard.REMEMBERED_PER_FAMILY
    monkeypatch.setattr(_guard, "SUMMARY_INTERVAL_S", 0.0)  # the next summary is due at once
    client.models.generate_content(model="gemini-proxy-one-more", contents="hi")
    summary = _warnings(caplog)[-1]
    assert "1996 more distinct 'unpriced' values" in summary and "one-more" not in summary
    client.models.generate_content(model="gemini-proxy-1999", contents="hi")  # still remembered: no line
    assert len(_warnings(caplog)) == 6


def test_code_names_are_always_named_outside_values_bounded(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="otel_gemini")
    for index in range(8):
        _guard.warn_once(f"missing:Models.method_{index}", "otel-gemini: google-genai has no %s", index)
        _guard.warn_once(f"unpriced:model-{index}", "otel-gemini: no price for model %r", index)
    lines = _warnings(caplog)
    assert sum("google-genai has no" in line for line in lines) == 8
    assert sum("no price for model" in line for line in lines) == _guard.NAMED_PER_FAMILY


def test_agent_20000_unknown_models_logs_and_memory_stay_flat(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="otel_gemini")
    agent = _agent()
    try:
        def flood(first: int) -> None:
            for start in range(first, first + 10_000, 500):
                batch = b"".join(body(1, model=f"tenant-model-{index}") for index in range(start, start + 500))
                assert post(agent, batch)[0] == 200  # concatenated messages merge: 500 spans in one export

        flood(0)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        flood(10_000)
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        assert len(_warnings(caplog)) <= _guard.NAMED_PER_FAMILY + 1
        assert max(_guard.warning_memory().values()) <= _guard.REMEMBERED_PER_FAMILY
        assert grown < 512 * 1024, grown  # 10,000 more distinct ids: no per-id memory (it was ~1.3 MiB)
        assert total(agent, "otel_gemini_agent_spans_total", outcome="unpriced") == 20_000
        models = {labels["gen_ai_request_model"] for labels, _ in samples(agent, "gemini_requests_total")}
        assert len(models) == 51 and "_other" in models
    finally:
        agent.stop(5.0)


def test_known_models_never_use_the_unknown_model_budget() -> None:
    agent = _agent()
    try:
        _export_models(agent, list(KNOWN) + [f"custom-{index}" for index in range(51)])
        models = {labels["gen_ai_request_model"] for labels, _ in samples(agent, "gemini_requests_total")}
        assert set(KNOWN) <= models
        assert len(models - set(KNOWN) - {"_other"}) == 50 and "custom-50" not in models and "_other" in models
        assert total(agent, "otel_gemini_label_overflow_total", label="gen_ai_request_model") == 1
        assert total(agent, "gemini_requests_total") == 56
    finally:
        agent.stop(5.0)


def test_label_combinations_are_capped_and_every_dollar_kept() -> None:
    agent = _agent(label_combination_limit=20)
    try:
        for tenant in range(10):
            for feature in range(10):
                payload = body(1, trace_state="ot=th:8", attributes={
                    "gemini.attribution.tenant": f"t{tenant}", "gemini.attribution.feature": f"f{feature}"})
                assert post(agent, payload)[0] == 200
        series = samples(agent, "gemini_cost_usd_total")
        combinations = {(labels["tenant"], labels["feature"]) for labels, _ in series}
        assert len(combinations) == 21 and ("_other", "_other") in combinations
        assert all("sampled" in labels["gemini_estimate"] for labels, _ in series)  # the agent's own label kept
        assert sum((value for _, value in series), Decimal(0)) == 100 * 2 * SPAN_COST  # th:8 weighs each ×2
        assert total(agent, "otel_gemini_label_overflow_total", label="_combination") == 80
        assert total(agent, "gemini_requests_total", tenant="_other") == 80
    finally:
        agent.stop(5.0)


def test_unknown_model_in_a_combination_overflows_too() -> None:
    agent = _agent(label_combination_limit=3)
    try:
        _export_models(agent, [f"custom-{index}" for index in range(5)] + ["gemini-2.5-flash"] * 2)
        models = [labels["gen_ai_request_model"] for labels, _ in samples(agent, "gemini_requests_total")]
        assert sorted(models) == ["_other", "custom-0", "custom-1", "custom-2", "gemini-2.5-flash"]
        assert total(agent, "gemini_requests_total", gen_ai_request_model="_other") == 2
        assert total(agent, "gemini_requests_total", gen_ai_request_model="gemini-2.5-flash") == 2  # known: free
    finally:
        agent.stop(5.0)
