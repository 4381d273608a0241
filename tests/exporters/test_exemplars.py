"""Exemplars (issue 16): from a cost spike on a dashboard to the trace that spent it.

The cost, token and duration series keep the last sampled call's trace and span ids; /metrics writes them when
the scraper asks for OpenMetrics (the app's server and the agent's), the OTel bridge hands them to the SDK
(OTLP exemplars), and a real Prometheus with exemplar storage on returns them from /api/v1/query_exemplars.
"""

from __future__ import annotations

import gzip
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import otel_gemini
from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.testing import Reply, response, usage
from tests._prometheus import api, prometheus, wait

MODEL = "gemini-2.5-flash"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
EXEMPLAR = re.compile(r'^(\w+)\{.*\} \S+ # \{(?:span_id="([0-9a-f]{16})",trace_id="([0-9a-f]{32})")\} (\S+) (\S+)$')


def _call(fake, client) -> None:
    fake.push(Reply(body=response("x", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))))
    client.models.generate_content(model=MODEL, contents="hi")


def scrape(port: int, accept: str | None = None, gzipped: bool = False) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    if gzipped:
        headers["Accept-Encoding"] = "gzip"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=5) as reply:
        body = reply.read()
        if reply.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return reply.headers["Content-Type"], body.decode()


def exemplars(page: str) -> dict[str, set[tuple[str, str, float]]]:
    """Series name → {(trace id, span id, exemplar value)} of the exemplar lines on an OpenMetrics page."""
    out: dict[str, set[tuple[str, str, float]]] = {}
    for line in page.splitlines():
        found = EXEMPLAR.match(line)
        if found:
            out.setdefault(found.group(1), set()).add((found.group(3), found.group(2), float(found.group(4))))
    return out


def test_app_metrics_carry_the_calls_trace(fake, client, instrument_with) -> None:
    telemetry = instrument_with(prometheus_port=0)
    _call(fake, client)
    span = telemetry.span().get_span_context()
    trace_id, span_id = format(span.trace_id, "032x"), format(span.span_id, "016x")
    port = telemetry.instrumentor.prometheus_port
    content_type, page = scrape(port, OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text")
    found = exemplars(page)
    # The exemplar value is the call's own increment: 1,000 × $0.30/1M = $0.0003 input, 500 × $2.50/1M output.
    assert found["gemini_cost_usd_total"] == {(trace_id, span_id, 0.0003), (trace_id, span_id, 0.00125)}
    assert found["gemini_tokens_total"] == {(trace_id, span_id, 1000.0), (trace_id, span_id, 500.0)}
    [(t, s, seconds)] = found["gen_ai_client_operation_duration_seconds_bucket"]
    assert (t, s) == (trace_id, span_id) and 0 < seconds < 30
    assert set(found) == {
        "gemini_cost_usd_total", "gemini_tokens_total", "gen_ai_client_operation_duration_seconds_bucket",
    }
    # The classic text format has no exemplars; values are unchanged.
    content_type, classic = scrape(port)
    assert content_type.startswith("text/plain") and " # {" not in classic
    assert 'gemini_cost_usd_total{' in classic


def test_unsampled_call_leaves_no_exemplar(fake, client) -> None:
    otel_gemini.uninstrument()
    otel_gemini.instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF), prometheus_port=0)
    try:
        _call(fake, client)
        from prometheus_client import REGISTRY
        from prometheus_client.openmetrics.exposition import generate_latest

        assert " # {" not in generate_latest(REGISTRY).decode()
    finally:
        otel_gemini.uninstrument()


def test_otel_bridge_exemplars_are_the_calls_not_the_collectors(fake, client, telemetry) -> None:
    _call(fake, client)
    span = telemetry.span().get_span_context()
    tracer = TracerProvider().get_tracer("collector-side")
    with tracer.start_as_current_span("a span current while the reader collects"):
        data = telemetry.metric_reader.get_metrics_data()
    traced: dict[str, set[int]] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    for exemplar in point.exemplars:
                        traced.setdefault(metric.name, set()).add(exemplar.trace_id)
    assert {"gemini.cost.usd", "gemini.tokens", "gen_ai.client.operation.duration"} <= set(traced)
    assert all(ids == {span.trace_id} for ids in traced.values()), traced


def test_agent_serves_openmetrics_exemplars_and_gzip() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)) as agent:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.http_port}/v1/traces", timeout=5)))
        attributes = {"gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
                      "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 1000,
                      "gen_ai.usage.output_tokens": 500}
        with provider.get_tracer("other.app").start_as_current_span(
                f"generate_content {MODEL}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            ids = (format(span.get_span_context().trace_id, "032x"), format(span.get_span_context().span_id, "016x"))
        provider.shutdown()
        content_type, page = scrape(agent.metrics_port, OPENMETRICS, gzipped=True)
        assert content_type.startswith("application/openmetrics-text")
        assert {(t, s) for t, s, _v in exemplars(page)["gemini_cost_usd_total"]} == {ids}
        assert page.rstrip().endswith("# EOF")
        content_type, classic = scrape(agent.metrics_port)
        assert content_type.startswith("text/plain") and " # {" not in classic


def test_real_prometheus_stores_the_exemplar(fake, client, instrument_with, tmp_path: Path) -> None:
    """Debian's prometheus with --enable-feature=exemplar-storage scrapes the app; query_exemplars finds the span."""
    telemetry = instrument_with(prometheus_port=0)
    _call(fake, client)
    trace_id = format(telemetry.span().get_span_context().trace_id, "032x")
    target = f"127.0.0.1:{telemetry.instrumentor.prometheus_port}"
    with prometheus(tmp_path, "app", [target], flags=["--enable-feature=exemplar-storage"]) as base:
        def stored() -> list[dict[str, str]]:
            now = time.time()
            query = urllib.parse.urlencode({"query": "gemini_cost_usd_total", "start": now - 600, "end": now + 60})
            return [e["labels"] for row in api(base, f"/api/v1/query_exemplars?{query}") for e in row["exemplars"]]

        labels = wait("an exemplar of gemini_cost_usd_total", stored, time.monotonic() + 30)
        assert {entry["trace_id"] for entry in labels} == {trace_id}


@pytest.fixture(autouse=True)
def _uninstrumented_after() -> object:
    yield None
    otel_gemini.uninstrument()
