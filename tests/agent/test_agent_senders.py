"""Real senders against the agent: the peers' Python instrumentations calling the real google-genai client, and two
agent replicas summed by a real Prometheus.

Everything crosses real loopback sockets: google-genai -> otel_gemini.testing.FakeGemini (HTTP), the app's spans ->
the agent (OTLP/HTTP protobuf, the SDK's own exporter), Prometheus -> the agents' /metrics.

Prices (bundled table, gemini-2.5-flash, Developer API, standard tier): input $0.30/1M, output $2.50/1M.
One call of 1,000 input + 500 output tokens: 1,000 x 0.30/1M = $0.0003, 500 x 2.50/1M = $0.00125; total $0.00155.
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import otel_gemini
from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.testing import Reply, response, usage
from tests._prometheus import prometheus, query, wait
from tests.conftest import page_sum, require_tool

MODEL = "gemini-2.5-flash"
ONE_CALL = Decimal("0.00155")  # 1,000 x $0.30/1M + 500 x $2.50/1M
OFFICIAL = ("opentelemetry.instrumentation.google_genai", "GoogleGenAiSdkInstrumentor")
OPENLLMETRY = ("opentelemetry.instrumentation.google_generativeai", "GoogleGenerativeAiInstrumentor")


@pytest.fixture
def agent() -> Iterator[Agent]:
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)) as running:
        yield running


def metric(agent: Agent, name: str, **labels: str) -> Decimal:
    """Exact sum of one metric's samples on the agent's /metrics page (text parsed to Decimal)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.metrics_port}/metrics", timeout=5) as reply:
        assert reply.status == 200
        return page_sum(reply.read().decode(), name, **labels)


def outcome(agent: Agent, which: str) -> Decimal:
    return metric(agent, "otel_gemini_agent_spans_total", outcome=which)


def tracer_provider(agent: Agent) -> TracerProvider:
    """An app's SDK pipeline: every span exported synchronously over OTLP/HTTP to the agent when it ends."""
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.http_port}/v1/traces", timeout=5)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


class App:
    """An app with a peer instrumentation (and optionally otel-gemini too) sending its spans to the agent."""

    def __init__(self, agent: Agent, peer: tuple[str, str], *, with_ours: bool = False) -> None:
        module = pytest.importorskip(peer[0])
        self.peer = getattr(module, peer[1])()
        self.provider = tracer_provider(agent)
        self.meter_provider = MeterProvider()  # the peers' and our metrics stay in the app, out of this test's way
        self.ours = with_ours
        otel_gemini.uninstrument()  # nothing of ours left over from other tests: the agent sees only the peer's span
        # The official package declares google-genai < 3; on 3.x its wrappers still fit (test_coexistence.py),
        # so the dependency check is skipped rather than the test.
        self.peer.instrument(tracer_provider=self.provider, meter_provider=self.meter_provider, skip_dep_check=True)
        if with_ours:
            otel_gemini.instrument(tracer_provider=self.provider, meter_provider=self.meter_provider)

    def close(self) -> None:
        if self.ours:
            otel_gemini.uninstrument()
        self.peer.uninstrument()
        self.provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def app(agent: Agent) -> Iterator[Callable[..., App]]:
    made: list[App] = []

    def make(peer: tuple[str, str], **options: Any) -> App:
        made.append(App(agent, peer, **options))
        return made[-1]

    yield make
    for item in reversed(made):
        item.close()
    otel_gemini.uninstrument()


def one_call(fake: Any, client: Any) -> None:
    fake.push(Reply(body=response("ok", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))))
    assert client.models.generate_content(model=MODEL, contents="hello").text == "ok"


def wait_for_spans(agent: Agent, count: int, deadline_s: float = 5.0) -> None:
    """SimpleSpanProcessor exports before the call returns and the agent records before its 200; polled anyway."""
    stop = time.monotonic() + deadline_s
    while metric(agent, "otel_gemini_agent_spans_total") < count and time.monotonic() < stop:
        time.sleep(0.05)
    assert metric(agent, "otel_gemini_agent_spans_total") == count


# -- 1. the peers' Python instrumentations as senders ------------------------------------------------------------------

def test_official_google_genai_instrumentation(fake, client, agent, app) -> None:
    app(OFFICIAL)
    one_call(fake, client)
    wait_for_spans(agent, 1)
    assert outcome(agent, "priced") == 1
    assert metric(agent, "gemini_cost_usd_total") == ONE_CALL  # $0.00155, exactly
    assert metric(agent, "gemini_cost_usd_total", gemini_cost_type="input") == Decimal("0.0003")  # 1,000 x 0.30/1M
    assert metric(agent, "gemini_cost_usd_total", gemini_cost_type="output") == Decimal("0.00125")  # 500 x 2.50/1M
    assert metric(agent, "gemini_requests_total", gemini_pricing_status="priced",
                  gen_ai_request_model=MODEL) == 1
    assert metric(agent, "gemini_tokens_total", gen_ai_token_type="input") == 1000
    assert metric(agent, "gemini_tokens_total", gen_ai_token_type="output") == 500


def test_openllmetry_google_generativeai_instrumentation(fake, client, agent, app) -> None:
    # OpenLLMetry 0.62.x wraps google.genai's Models.generate_content* (not only the old google-generativeai SDK):
    # its span says gen_ai.provider.name "gcp.gen_ai" and carries no server.address, so the agent assumes the
    # Developer API (gap "platform_assumed") and prices the same $0.00155.
    app(OPENLLMETRY)
    one_call(fake, client)
    wait_for_spans(agent, 1)
    assert outcome(agent, "priced") == 1
    assert metric(agent, "gemini_cost_usd_total") == ONE_CALL
    assert metric(agent, "gemini_requests_total") == 1
    assert metric(agent, "otel_gemini_agent_span_gaps_total", gap="platform_assumed") == 1


def test_ours_and_official_in_one_app_not_double_counted_by_the_agent(fake, client, agent, app) -> None:
    # OTEL_GEMINI_SPANS=auto: otel-gemini opens no span of its own beside the official one and writes its cost
    # (gen_ai.usage.cost.source "local", gemini.cost.usd_exact "0.00155") onto the official span. The agent gets ONE
    # span for the ONE call; our exact cost on it says otel-gemini priced it in the app, so the agent counts it
    # already_priced and records $0 (the app's own metrics hold the $0.00155: scraping both never doubles it).
    app(OFFICIAL, with_ours=True)
    one_call(fake, client)
    wait_for_spans(agent, 1)
    assert metric(agent, "gemini_cost_usd_total") == 0
    assert outcome(agent, "already_priced") == 1 and outcome(agent, "priced") == 0
    assert metric(agent, "gemini_requests_total") == 0


# -- 2. two agent replicas scraped by a real Prometheus ------------------------------------------------------------

SEMCONV = {
    "gen_ai.operation.name": "generate_content",
    "gen_ai.provider.name": "gcp.gemini",
    "gen_ai.request.model": MODEL,
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
}


def _send(agent: Agent, count: int) -> None:
    provider = tracer_provider(agent)
    tracer = provider.get_tracer("test.app")
    for _ in range(count):
        with tracer.start_as_current_span(f"generate_content {MODEL}", kind=SpanKind.CLIENT, attributes=SEMCONV):
            pass
    provider.shutdown()


def test_two_agents_summed_by_prometheus(tmp_path: Path) -> None:
    require_tool("prometheus")
    started = time.monotonic()
    deadline = started + 18
    agents: list[Agent] = []
    try:
        agents = [Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)).start() for _ in range(2)]
        with prometheus(tmp_path, "agent", [f"127.0.0.1:{a.metrics_port}" for a in agents]) as base:
            _send(agents[0], 3)  # agent A: 3 x $0.00155 = $0.00465
            _send(agents[1], 2)  # agent B: 2 x $0.00155 = $0.0031
            assert metric(agents[0], "gemini_cost_usd_total") == 3 * ONE_CALL
            assert metric(agents[1], "gemini_cost_usd_total") == 2 * ONE_CALL
            wait("both agents scraped with all 5 requests",
                 lambda: query(base, 'count(up{job="agent"} == 1)') == {"": 2.0}
                 and query(base, "sum(gemini_requests_total)") == {"": 5.0}, deadline)
            cost = query(base, "sum(gemini_cost_usd_total)")[""]
            assert cost == pytest.approx(0.00775, abs=1e-12)  # 5 x $0.00155 = $0.00775 across both replicas
            assert query(base, "count(count by (instance) (gemini_requests_total))") == {"": 2.0}
            assert time.monotonic() - started < 20
    finally:
        for running in agents:
            running.stop(5.0)
