"""The agent inside a Collector pipeline: spans forwarded downstream, cost metrics pushed by OTLP.

The downstream is otel_gemini.testing's OTLP receiver on loopback. One call of gemini-2.5-flash (Developer API,
standard tier), 1,000 input + 500 output tokens: 1,000 x $0.30/1M + 500 x $2.50/1M = $0.0003 + $0.00125 = $0.00155.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_gemini.agent.forward import Forwarder, signal_url
from otel_gemini.agent.server import Agent, AgentOptions
from tests._fakes.otlp_receiver import OTLPReceiver
from tests.agent.test_agent import ONE_CALL, SEMCONV, http_exporter, send, total

NAME = "generate_content gemini-2.5-flash"


@pytest.fixture
def downstream() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def _options(**kwargs: object) -> AgentOptions:
    return AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, **kwargs)  # type: ignore[arg-type]


def _dead_endpoint() -> str:
    """A loopback port nobody listens on (bound, then closed): connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _wait(probe: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_spans_forwarded_unchanged(downstream: OTLPReceiver) -> None:
    with Agent(_options(forward_otlp_endpoint=downstream.http_endpoint)) as agent:
        send(http_exporter(agent), SEMCONV)
        span = downstream.wait_for_span(NAME, timeout=5)
        assert span.attributes == SEMCONV
        assert span.scope == "test.app"
        assert span.transport == "http/protobuf"
        assert total(agent, "gemini_cost_usd_total") == ONE_CALL  # priced as well as forwarded
        _wait(lambda: total(agent, "otel_gemini_agent_forward_total", outcome="sent") == 1)
        assert total(agent, "otel_gemini_agent_forward_total", outcome="failed") == 0


def test_cost_metric_pushed(downstream: OTLPReceiver) -> None:
    with Agent(_options(push_metrics_otlp_endpoint=downstream.http_endpoint, push_interval_s=0.2)) as agent:
        send(http_exporter(agent), SEMCONV)

        def pushed() -> float:
            return sum(p.value for p in downstream.metric_points("gemini.cost.usd", latest=True))

        downstream.wait_for(lambda: abs(pushed() - 0.00155) < 1e-12, 5, "gemini.cost.usd = 0.00155")
    points = downstream.metric_points("gemini.cost.usd", latest=True)
    assert points and all(p.unit == "{USD}" and p.type == "counter" for p in points)
    assert all(p.attributes["gemini.project"] == "default" for p in points)
    assert Decimal(repr(sum(p.value for p in points))) == ONE_CALL
    assert {p.attributes["gemini.cost.type"] for p in points} == {"input", "output"}
    tokens = downstream.metric_points("gemini.tokens", latest=True)  # the other names of docs/metrics.md too
    assert sum(p.value for p in tokens if p.attributes.get("gen_ai.token.type") == "output") == 500


def test_final_push_on_stop(downstream: OTLPReceiver) -> None:
    # An interval far longer than the test: the only push is the one the graceful stop makes.
    agent = Agent(_options(push_metrics_otlp_endpoint=downstream.http_endpoint, push_interval_s=3600)).start()
    send(http_exporter(agent), SEMCONV)
    assert downstream.metric_points("gemini.cost.usd") == []
    assert agent.stop(5.0)
    assert abs(sum(p.value for p in downstream.metric_points("gemini.cost.usd", latest=True)) - 0.00155) < 1e-12


def test_dead_forward_endpoint_never_fails_the_sender() -> None:
    with Agent(_options(forward_otlp_endpoint=_dead_endpoint())) as agent:
        results: list[SpanExportResult] = []
        for _ in range(2):
            exporter = http_exporter(agent)
            real = exporter.export

            def export(spans: Any, real: Any = real) -> SpanExportResult:
                results.append(real(spans))
                return results[-1]

            exporter.export = export  # type: ignore[method-assign]
            send(exporter, SEMCONV)
        assert results == [SpanExportResult.SUCCESS] * 2
        assert total(agent, "otel_gemini_agent_requests_total", transport="http/protobuf") == 2  # both got 200
        assert total(agent, "gemini_cost_usd_total") == 2 * ONE_CALL
        _wait(lambda: total(agent, "otel_gemini_agent_forward_total", outcome="failed") == 2)
        assert total(agent, "otel_gemini_agent_forward_total", outcome="sent") == 0


def test_full_queue_drops_and_counts(downstream: OTLPReceiver) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="x")
    forwarder = Forwarder(downstream.http_endpoint, max_queue=1)  # not started yet: the queue stays full
    forwarder.submit(request)
    forwarder.submit(request)
    assert forwarder.counts() == {"sent": 0, "failed": 0, "dropped": 1}
    forwarder.start()
    downstream.wait_for_span("x", timeout=5)
    assert forwarder.close(5.0)
    assert forwarder.counts() == {"sent": 1, "failed": 0, "dropped": 1}
    forwarder.submit(request)  # after close: dropped, never queued
    assert forwarder.counts()["dropped"] == 2


def test_endpoint_urls() -> None:
    assert signal_url("http://collector:4318", "traces") == "http://collector:4318/v1/traces"
    assert signal_url("https://c:4318/", "metrics") == "https://c:4318/v1/metrics"
    assert signal_url("http://c:4318/v1/traces", "traces") == "http://c:4318/v1/traces"
    with pytest.raises(ValueError):
        signal_url("collector:4318", "traces")


def test_cli_env_and_bad_url() -> None:
    # A bad forward URL stops the agent at start with exit status 2 and a one-line reason.
    env_var = "OTEL_GEMINI_AGENT_FORWARD_OTLP_ENDPOINT"
    code = (f"import os, sys; os.environ[{env_var!r}] = 'not-a-url'; from otel_gemini.cli import main; "
            "sys.exit(main(['agent', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--metrics-port', '0']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "must be an http:// or https:// URL" in done.stderr
