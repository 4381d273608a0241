"""The agent end to end: real OTLP exporters (HTTP and gRPC) push GenAI spans over loopback sockets, /metrics is
scraped as text, and the dollars equal the dollars computed by hand.

Prices (bundled table, gemini-2.5-flash, Developer API, standard tier): input $0.30/1M, output $2.50/1M.
One call of 1,000 input + 500 output tokens: 1,000 x 0.30/1M = $0.0003, 500 x 2.50/1M = $0.00125; total $0.00155.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, TraceState

from otel_gemini import semconv
from otel_gemini.agent import pipeline as agent_pipeline
from otel_gemini.agent.receiver import decode
from otel_gemini.agent.server import Agent, AgentOptions

ONE_CALL = Decimal("0.00155")  # 1,000 x $0.30/1M + 500 x $2.50/1M
SEMCONV = {
    "gen_ai.operation.name": "generate_content",
    "gen_ai.provider.name": "gcp.gemini",
    "gen_ai.request.model": "gemini-2.5-flash",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
}


@pytest.fixture
def agent() -> Iterator[Agent]:
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)) as running:
        yield running


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _post(agent: Agent, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{agent.http_port}/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    return _get_request(request)


def _get_request(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def samples(agent: Agent, name: str) -> list[tuple[dict[str, str], Decimal]]:
    """The samples of one metric as exposed on /metrics, values parsed from the text as exact Decimals."""
    status, text = _get(f"http://127.0.0.1:{agent.metrics_port}/metrics")
    assert status == 200
    out = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        labels: dict[str, str] = {}
        if "{" in head:
            for pair in head[head.index("{") + 1:-1].split('",'):
                if pair:
                    key, raw = pair.split("=", 1)
                    labels[key] = raw.strip('"')
        out.append((labels, Decimal(value)))
    return out


def total(agent: Agent, name: str, **match: str) -> Decimal:
    return sum((v for labels, v in samples(agent, name) if all(labels.get(k) == w for k, w in match.items())),
               Decimal(0))


def outcome(agent: Agent, which: str) -> Decimal:
    return total(agent, "otel_gemini_agent_spans_total", outcome=which)


class _Weighted(Sampler):
    """Keeps every span but stamps the tracestate a 50% probability sampler would (ot=th:8, p = 1/2)."""

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None,
                      links: Any = None, trace_state: Any = None) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, TraceState([("ot", "th:8")]))

    def get_description(self) -> str:
        return "th:8"


def send(exporter: Any, attributes: dict[str, Any], *, scope: str = "test.app", sampler: Sampler | None = None,
         name: str = "generate_content gemini-2.5-flash") -> None:
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer(scope).start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        pass
    provider.shutdown()


def http_exporter(agent: Agent, **kwargs: Any) -> HTTPExporter:
    return HTTPExporter(endpoint=f"http://127.0.0.1:{agent.http_port}/v1/traces", timeout=5, **kwargs)


# -- costs -------------------------------------------------------------------------------------------------------

def test_http_protobuf_span_priced_exactly(agent: Agent) -> None:
    send(http_exporter(agent), SEMCONV)
    assert total(agent, "gemini_cost_usd_total") == ONE_CALL
    assert total(agent, "gemini_cost_usd_total", gemini_cost_type="input") == Decimal("0.0003")  # 1,000 x 0.30/1M
    assert total(agent, "gemini_tokens_total", gen_ai_token_type="output") == 500
    assert total(agent, "gemini_requests_total", gemini_pricing_status="priced",
                 gen_ai_provider_name="gcp.gemini", gen_ai_request_model="gemini-2.5-flash") == 1
    assert outcome(agent, "priced") == 1
    assert total(agent, "otel_gemini_agent_requests_total", transport="http/protobuf") == 1


def test_grpc_span_priced_exactly(agent: Agent) -> None:
    send(GRPCExporter(endpoint=f"127.0.0.1:{agent.grpc_port}", insecure=True, timeout=5), SEMCONV)
    assert total(agent, "gemini_cost_usd_total") == ONE_CALL
    assert total(agent, "otel_gemini_agent_requests_total", transport="grpc") == 1


def test_http_gzip(agent: Agent) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    send(http_exporter(agent, compression=Compression.Gzip), SEMCONV)
    assert total(agent, "gemini_cost_usd_total") == ONE_CALL


def _json_body(trace_state: str = "") -> bytes:
    values = {
        "gen_ai.operation.name": {"stringValue": "generate_content"},
        "gen_ai.provider.name": {"stringValue": "gcp.gemini"},
        "gen_ai.request.model": {"stringValue": "gemini-2.5-flash"},
        "gen_ai.usage.input_tokens": {"intValue": "1000"},
        "gen_ai.usage.output_tokens": {"intValue": "500"},
        "gen_ai.response.finish_reasons": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
    }
    now = time.time_ns()
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat",
            "kind": 3, "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now), "traceState": trace_state,
            "attributes": [{"key": k, "value": v} for k, v in values.items()]}
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "node-app"}}]},
        "scopeSpans": [{"scope": {"name": "app"}, "spans": [span]}]}]}).encode()


def test_http_json_via_urllib(agent: Agent) -> None:
    assert _post(agent, _json_body(), "application/json") == 200
    assert total(agent, "gemini_cost_usd_total") == ONE_CALL
    assert total(agent, "otel_gemini_agent_requests_total", transport="http/json") == 1
    # gzip-encoded JSON too: a second call, twice the money.
    assert _post(agent, gzip.compress(_json_body()), "application/json", {"Content-Encoding": "gzip"}) == 200
    assert total(agent, "gemini_cost_usd_total") == 2 * ONE_CALL


def test_sampled_span_weighted(agent: Agent) -> None:
    # ot=th:8 -> p = 1 - 0x8/0x10 = 1/2 -> weight 2: 2 x $0.00155 = $0.0031 stands for the unsampled twin.
    send(http_exporter(agent), SEMCONV, sampler=_Weighted())
    assert total(agent, "gemini_cost_usd_total") == Decimal("0.0031")
    assert total(agent, "otel_gemini_agent_sampled_spans_total") == 1


def test_estimates_are_marked_on_the_series(agent: Agent) -> None:
    """A sampled span and a dialect's gaps say so on the cost series (gemini_estimate); a complete span does not."""
    send(http_exporter(agent), SEMCONV, sampler=_Weighted())  # no reasoning count, no modality split, p = 1/2
    complete = {**SEMCONV, "gen_ai.usage.reasoning.output_tokens": 0, "gen_ai.usage.text.input_tokens": 1000,
                "gen_ai.usage.text.output_tokens": 500}
    send(http_exporter(agent), complete)
    estimate = "no_modality_split+no_thinking_split+sampled"
    assert total(agent, "gemini_cost_usd_total", gemini_estimate=estimate) == Decimal("0.0031")
    assert total(agent, "gemini_requests_total", gemini_estimate=estimate) == 1
    exact = [v for labels, v in samples(agent, "gemini_cost_usd_total") if not labels.get("gemini_estimate")]
    assert sum(exact, Decimal(0)) == ONE_CALL


def test_feature_and_tenant_from_span_attributes(agent: Agent) -> None:
    """The names otel_gemini.attributes() writes on spans; an app in any language can set them."""
    send(http_exporter(agent), {**SEMCONV, "gemini.attribution.feature": "search",
                                "gemini.attribution.tenant": "acme", "gemini.attribution.user": "u-1"})
    assert total(agent, "gemini_cost_usd_total", feature="search", tenant="acme") == ONE_CALL
    assert all("user" not in labels for labels, _ in samples(agent, "gemini_cost_usd_total"))  # not allow-listed


def test_own_spans_not_repriced(agent: Agent) -> None:
    own = {**SEMCONV, "gen_ai.usage.cost.source": "local", "gen_ai.usage.cost.amount": 0.00155,
           "gen_ai.usage.cost.currency": "USD"}
    send(http_exporter(agent), own, scope="otel_gemini")
    assert outcome(agent, "already_priced") == 1
    assert total(agent, "gemini_cost_usd_total") == 0
    assert total(agent, "gemini_requests_total") == 0


def test_other_spans_ignored(agent: Agent) -> None:
    send(http_exporter(agent), {"http.request.method": "GET"}, name="GET /")
    send(http_exporter(agent), {**SEMCONV, "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"})
    assert outcome(agent, "ignored") == 2
    assert total(agent, "gemini_requests_total") == 0


def test_unknown_model_unpriced_never_zero(agent: Agent) -> None:
    send(http_exporter(agent), {**SEMCONV, "gen_ai.request.model": "gemini-9-imaginary"})
    assert outcome(agent, "unpriced") == 1
    assert total(agent, "gemini_requests_total", gemini_pricing_status="unpriced") == 1
    assert samples(agent, "gemini_cost_usd_total") == []


# -- refusals ----------------------------------------------------------------------------------------------------

def test_garbage_is_400_and_counted(agent: Agent) -> None:
    assert _post(agent, b"\xff\x00 definitely not protobuf \x13\x37" * 3, "application/x-protobuf") == 400
    assert _post(agent, b"{not json", "application/json") == 400
    assert _post(agent, b"not gzip", "application/x-protobuf", {"Content-Encoding": "gzip"}) == 400
    assert total(agent, "otel_gemini_agent_requests_rejected_total", reason="undecodable") == 3
    status, _ = _get(f"http://127.0.0.1:{agent.metrics_port}/healthz")
    assert status == 200  # still alive


def test_oversized_is_413() -> None:
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, max_request_bytes=1024)) as small:
        assert _post(small, b"\x00" * 2048, "application/x-protobuf") == 413
        # A gzip bomb: 20 bytes on the wire, far over the limit once inflated.
        assert _post(small, gzip.compress(b"\x00" * 100_000), "application/x-protobuf",
                     {"Content-Encoding": "gzip"}) == 413
        assert total(small, "otel_gemini_agent_requests_rejected_total", reason="too_large") == 2


def test_bearer_token_required() -> None:
    options = AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, bearer_token="s3cret")
    with Agent(options) as guarded:
        assert _post(guarded, _json_body(), "application/json") == 401
        assert _post(guarded, _json_body(), "application/json", {"Authorization": "Bearer wrong"}) == 401
        send(http_exporter(guarded, headers={"Authorization": "Bearer s3cret"}), SEMCONV)
        send(GRPCExporter(endpoint=f"127.0.0.1:{guarded.grpc_port}", insecure=True, timeout=5), SEMCONV)
        assert total(guarded, "otel_gemini_agent_requests_rejected_total", reason="unauthorized") == 3
        assert total(guarded, "gemini_cost_usd_total") == ONE_CALL  # only the one with the token


def test_health_and_readiness_and_draining() -> None:
    running = Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0)).start()
    try:
        base = f"http://127.0.0.1:{running.metrics_port}"
        assert _get(base + "/healthz")[0] == 200
        assert _get(base + "/readyz")[0] == 200
        running.ready = False
        running.gate.draining = True  # what stop() does first: refuse new exports, say not ready
        assert _get(base + "/readyz")[0] == 503
        assert _post(running, _json_body(), "application/json") == 503
        assert total(running, "otel_gemini_agent_requests_rejected_total", reason="shutting_down") == 1
    finally:
        assert running.stop(5.0)


# -- the pipeline alone (a stub reader in place of the dialects) ----------------------------------------------------

class _Stub:
    """A GenAISpan as the contract describes it, for the branches real senders rarely reach."""

    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(dict(
            operation="generate_content", provider="gcp.gemini", platform="gemini", request_model="gemini-2.5-flash",
            response_model="", usage_metadata={"promptTokenCount": 1000, "candidatesTokenCount": 500},
            dialect="stub", gaps=("no_thinking_split",), error_type="", duration_s=0.5, service_tier=None,
            provider_cost=None, already_priced=False, sample_weight=1.0, grounded=False, search_queries=0,
            server_address="", location=None,
        ), **overrides)


def test_provider_cost_adopted_and_bad_span_rejected() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = decode(_json_body(), is_json=True)
    assert isinstance(request, ExportTraceServiceRequest)
    readers = iter([_Stub(provider_cost=Decimal("0.0042")), RuntimeError("hostile")])

    def reader(flat: dict[str, Any]) -> Any:
        assert flat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]  # arrays flattened to lists
        assert flat["resource"] == {"service.name": "node-app"} and flat["kind"] == "CLIENT"
        item = next(readers)
        if isinstance(item, Exception):
            raise item
        return item

    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0), reader=reader) as stubbed:
        assert stubbed.pipeline.export(request) == {agent_pipeline.PRICED: 1}
        assert stubbed.pipeline.export(request) == {agent_pipeline.REJECTED: 1}
        assert total(stubbed, "gemini_cost_usd_total", gemini_cost_type="provider") == Decimal("0.0042")
        assert total(stubbed, "otel_gemini_agent_span_gaps_total", gap="no_thinking_split") == 1
        assert outcome(stubbed, "rejected") == 1


# -- the CLI as a process ------------------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_agent_env_and_sigterm() -> None:
    ports = {name: _free_port() for name in ("OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "METRICS_PORT")}
    env = {**os.environ, **{f"OTEL_GEMINI_AGENT_{k}": str(v) for k, v in ports.items()},
           "OTEL_GEMINI_PRICE_MARKUP": "2"}
    process = subprocess.Popen([sys.executable, "-m", "otel_gemini.cli", "agent"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "OTLP HTTP on" in (process.stdout.readline() if process.stdout else "")
        fake = type("Running", (), {"http_port": ports["OTLP_HTTP_PORT"], "metrics_port": ports["METRICS_PORT"]})
        assert _post(fake, _json_body(), "application/json") == 200  # type: ignore[arg-type]
        # markup 2 from OTEL_GEMINI_PRICE_MARKUP: 2 x $0.00155 = $0.0031
        assert total(fake, "gemini_cost_usd_total") == Decimal("0.0031")  # type: ignore[arg-type]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_shutdown_finishes_accepted_requests() -> None:
    import threading

    from otel_gemini.agent import spans

    entered = threading.Event()

    def slow(flat: dict[str, Any]) -> Any:
        entered.set()
        time.sleep(0.5)  # the export is accepted and still being priced when SIGTERM's stop() begins
        return spans.read(flat)

    running = Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0), reader=slow).start()
    statuses: list[int] = []
    worker = threading.Thread(target=lambda: statuses.append(_post(running, _json_body(), "application/json")))
    worker.start()
    assert entered.wait(5)
    assert running.stop(5.0)  # returns once the accepted request was answered
    worker.join(5)
    assert statuses == [200]
    assert sum(running.recorder.counters[semconv.COST].values()) == ONE_CALL  # exact Decimals, recorded before 200


def test_grpc_garbage_and_oversized_counted() -> None:
    import grpc

    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, max_request_bytes=1024)) as small:
        with grpc.insecure_channel(f"127.0.0.1:{small.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            for body, code in ((b"\xff\x00garbage\x13", grpc.StatusCode.INVALID_ARGUMENT),
                               (b"\x00" * 2048, grpc.StatusCode.RESOURCE_EXHAUSTED)):
                with pytest.raises(grpc.RpcError) as caught:
                    export(body, timeout=5)
                assert caught.value.code() == code
        assert total(small, "otel_gemini_agent_requests_rejected_total", transport="grpc") == 2


def test_chunked_bodies_are_read_like_the_otel_js_exporter_sends_them(agent: Agent) -> None:
    """OTel JS streams exports with Transfer-Encoding: chunked and no Content-Length; one span, $0.00155."""
    import http.client

    raw = _json_body()
    connection = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=10)
    connection.putrequest("POST", "/v1/traces")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for start in range(0, len(raw), 100):
        piece = raw[start:start + 100]
        connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    connection.send(b"0\r\n\r\n")
    assert connection.getresponse().status == 200
    assert total(agent, "gemini_cost_usd_total") == Decimal("0.00155")
