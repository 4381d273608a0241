"""Hostile input and bursts against a real agent over loopback sockets (issue 15): what the sender sees, what
/metrics says, and that nothing answered 200 is lost.

A burst of 200 concurrent senders (no reset; 503 with Retry-After when the pool is full, retried until every span
is counted), idle and half-sent connections closed after the timeout, keep-alive kept, and each input check:
the sampling-probability bound, concatenated gzip members, Content-Length rules, 405, JSON partial success, the
bearer scheme's case.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_gemini.agent.server import Agent, AgentOptions
from tests.agent.test_agent import outcome, total

SPAN_COST = Decimal("0.00155")  # gemini-2.5-flash: 1,000 input at $0.30/M ($0.0003) + 500 output at $2.50/M ($0.00125)


def body(spans: int = 1, *, model: str = "gemini-2.5-flash", trace_state: str = "",
         attributes: dict[str, str] | None = None) -> bytes:
    """A valid OTLP protobuf export of ``spans`` GenAI spans (1,000 input and 500 output tokens each)."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = "hardening.app"
    now = time.time_ns()
    for index in range(spans):
        span = scope_spans.spans.add()
        span.trace_id, span.span_id = bytes(range(16)), index.to_bytes(8, "big")
        span.name, span.kind, span.trace_state = f"generate_content {model}", 3, trace_state
        span.start_time_unix_nano, span.end_time_unix_nano = now - 10**9, now
        values: dict[str, Any] = {"gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
                                  "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 1000,
                                  "gen_ai.usage.output_tokens": 500, **(attributes or {})}
        for key, value in values.items():
            any_value = AnyValue(string_value=value) if isinstance(value, str) else AnyValue(int_value=value)
            span.attributes.append(KeyValue(key=key, value=any_value))
    return request.SerializeToString()


def start(**options: Any) -> Agent:
    return Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, **options)).start()


@pytest.fixture
def agent() -> Iterator[Agent]:
    running = start(idle_timeout_s=0.5)
    yield running
    running.stop(5.0)


def post(agent: Agent, payload: bytes, headers: dict[str, str] | None = None,
         content_type: str = "application/x-protobuf") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=10)
    try:
        connection.request("POST", "/v1/traces", payload, {"Content-Type": content_type, **(headers or {})})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as they are (no client library fixing the request up) and read until the agent closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def rejected(agent: Agent, reason: str) -> Decimal:
    return total(agent, "otel_gemini_agent_requests_rejected_total", reason=reason)


def cost(agent: Agent) -> Decimal:
    return total(agent, "gemini_cost_usd_total")


# -- bursts ------------------------------------------------------------------------------------------------------

def _burst(agent: Agent, senders: int) -> tuple[list[BaseException], list[tuple[int, str | None]]]:
    """``senders`` threads released at once, each posting one span until answered 200 (503s retried)."""
    barrier, lock = threading.Barrier(senders), threading.Lock()
    failures: list[BaseException] = []
    answers: list[tuple[int, str | None]] = []
    payload = body(1)

    def sender() -> None:
        barrier.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, headers, _ = post(agent, payload)
            except BaseException as failure:  # a reset is what the test is about: recorded, not retried
                with lock:
                    failures.append(failure)
                return
            with lock:
                answers.append((status, headers.get("retry-after")))
            if status != 503:
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    return failures, answers


def test_burst_of_200_senders_no_reset_every_span_counted() -> None:
    agent = start()
    try:
        failures, answers = _burst(agent, 200)
        assert failures == []
        assert sorted({status for status, _ in answers}) in ([200], [200, 503])
        assert sum(1 for status, _ in answers if status == 200) == 200
        assert outcome(agent, "priced") == 200
        assert cost(agent) == 200 * SPAN_COST
        assert rejected(agent, "busy") == sum(1 for status, _ in answers if status == 503)
    finally:
        agent.stop(5.0)


def test_burst_over_a_small_pool_gets_503_retry_after_then_everything_counts() -> None:
    agent = start(max_connections=4, idle_timeout_s=2.0)
    try:
        failures, answers = _burst(agent, 200)
        assert failures == []
        busy = [retry for status, retry in answers if status == 503]
        assert all(retry == "1" for retry in busy)
        assert {status for status, _ in answers} <= {200, 503}
        assert outcome(agent, "priced") == 200 and cost(agent) == 200 * SPAN_COST
        assert rejected(agent, "busy") == len(busy)
    finally:
        agent.stop(5.0)


def test_full_pool_answers_503_with_retry_after_not_a_reset() -> None:
    agent = start(max_connections=2, idle_timeout_s=3.0)
    holders = [socket.create_connection(("127.0.0.1", agent.http_port)) for _ in range(2)]  # idle: hold both
    try:
        time.sleep(0.5)
        status, headers, _ = post(agent, body(1))
        assert (status, headers.get("retry-after")) == (503, "1")
        assert rejected(agent, "busy") == 1 and outcome(agent, "priced") == 0
    finally:
        for holder in holders:
            holder.close()
    deadline = time.monotonic() + 5
    while post(agent, body(1))[0] == 503 and time.monotonic() < deadline:  # the holders' workers are freed
        time.sleep(0.05)
    assert outcome(agent, "priced") == 1
    agent.stop(5.0)


def test_idle_connection_is_closed_after_the_timeout(agent: Agent) -> None:
    began = time.monotonic()
    assert raw_exchange(agent.http_port, b"") == b""  # the agent closed it: recv saw the end
    assert 0.4 < time.monotonic() - began < 4


def test_half_sent_body_is_answered_408_and_closed(agent: Agent) -> None:
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\n0123456789")
    began = time.monotonic()
    answer = raw_exchange(agent.http_port, head)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - began < 4
    assert rejected(agent, "timeout") == 1


def test_keep_alive_still_serves_several_exports_on_one_connection(agent: Agent) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=5)
    try:
        sockets = []
        for _ in range(3):
            connection.request("POST", "/v1/traces", body(1), {"Content-Type": "application/x-protobuf"})
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200 and reply.getheader("Connection") != "close"
            sockets.append(connection.sock)
        assert sockets[0] is sockets[1] is sockets[2]
    finally:
        connection.close()
    assert outcome(agent, "priced") == 3


# -- what the agent checks --------------------------------------------------------------------------------------

def test_sampling_probability_below_the_bound_is_refused_and_counted(agent: Agent) -> None:
    status, _, answer = post(agent, body(1, trace_state="ot=th:ffffffffffffff"))
    response = ExportTraceServiceResponse.FromString(answer)
    assert status == 200 and response.partial_success.rejected_spans == 1
    assert cost(agent) == 0 and outcome(agent, "rejected") == 1
    assert total(agent, "otel_gemini_agent_rejected_spans_total", reason="sampling_probability") == 1
    # p = 2^-20 exactly (th:fffff) is the lowest believed: weighted by 1,048,576
    status, _, answer = post(agent, body(1, trace_state="ot=th:fffff"))
    assert status == 200 and not ExportTraceServiceResponse.FromString(answer).HasField("partial_success")
    assert cost(agent) == SPAN_COST * 2**20


def test_concatenated_gzip_members_are_all_read(agent: Agent) -> None:
    payload = gzip.compress(body(2)) + gzip.compress(body(3))
    status, _, _ = post(agent, payload, {"Content-Encoding": "gzip"})
    assert status == 200 and outcome(agent, "priced") == 5 and cost(agent) == 5 * SPAN_COST


def test_gzip_members_over_the_limit_in_total_are_refused() -> None:
    agent = start(max_request_bytes=1000)
    try:
        member = gzip.compress(b"\x00" * 600)
        status, _, _ = post(agent, member + member, {"Content-Encoding": "gzip"})
        assert status == 413 and rejected(agent, "too_large") == 1
    finally:
        agent.stop(5.0)


def test_post_without_content_length_is_411(agent: Agent) -> None:
    payload = body(1)
    answer = raw_exchange(agent.http_port, b"POST /v1/traces HTTP/1.0\r\nContent-Type: application/x-protobuf\r\n\r\n"
                          + payload)
    assert answer.startswith(b"HTTP/1.1 411") and rejected(agent, "length_required") == 1
    assert outcome(agent, "priced") == 0


def test_two_differing_content_lengths_are_400_identical_ones_accepted(agent: Agent) -> None:
    payload = body(1)
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nConnection: close\r\n"
    answer = raw_exchange(agent.http_port, head + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(payload)
                          + payload)
    assert answer.startswith(b"HTTP/1.1 400") and rejected(agent, "bad_content_length") == 1
    same = b"Content-Length: %d\r\n" % len(payload)
    answer = raw_exchange(agent.http_port, head + same + same + b"\r\n" + payload)
    assert answer.startswith(b"HTTP/1.1 200") and outcome(agent, "priced") == 1


def test_wrong_methods_get_405_with_allow(agent: Agent) -> None:
    for method in ("GET", "PUT", "DELETE"):
        connection = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=5)
        connection.request(method, "/v1/traces")
        reply = connection.getresponse()
        assert (reply.status, reply.getheader("Allow")) == (405, "POST")
        connection.close()
    assert rejected(agent, "method_not_allowed") == 3
    connection = http.client.HTTPConnection("127.0.0.1", agent.metrics_port, timeout=5)
    connection.request("POST", "/metrics", b"x")
    reply = connection.getresponse()
    assert (reply.status, reply.getheader("Allow")) == (405, "GET, HEAD")
    connection.close()


def _json_span(name: str, start: str) -> dict[str, Any]:
    attributes = [{"key": key, "value": value} for key, value in (
        ("gen_ai.operation.name", {"stringValue": "generate_content"}),
        ("gen_ai.provider.name", {"stringValue": "gcp.gemini"}),
        ("gen_ai.request.model", {"stringValue": "gemini-2.5-flash"}),
        ("gen_ai.usage.input_tokens", {"intValue": "1000"}), ("gen_ai.usage.output_tokens", {"intValue": "500"}))]
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": name, "kind": 3,
            "startTimeUnixNano": start, "endTimeUnixNano": str(time.time_ns()), "attributes": attributes}


def test_json_with_one_bad_span_keeps_the_others_as_partial_success(agent: Agent) -> None:
    now = str(time.time_ns() - 10**9)
    spans = [_json_span("a", now), _json_span("bad", "-1"), _json_span("c", now),
             _json_span("huge", "99999999999999999999999")]
    document = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "app"},
                                                                                 "spans": spans}]}]}
    status, _, answer = post(agent, json.dumps(document).encode(), content_type="application/json")
    assert status == 200
    partial = json.loads(answer)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2 and "rejected" in partial["errorMessage"]
    assert outcome(agent, "priced") == 2 and outcome(agent, "rejected") == 2
    assert total(agent, "otel_gemini_agent_rejected_spans_total", reason="undecodable") == 2
    assert cost(agent) == 2 * SPAN_COST


def test_bearer_scheme_is_case_insensitive_the_token_is_not() -> None:
    agent = start(bearer_token="s3cret")
    try:
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert post(agent, body(1), {"Authorization": f"{scheme} s3cret"})[0] == 200
        assert post(agent, body(1), {"Authorization": "Bearer S3CRET"})[0] == 401
        assert post(agent, body(1), {"Authorization": "Basic s3cret"})[0] == 401
        assert outcome(agent, "priced") == 3 and rejected(agent, "unauthorized") == 2
    finally:
        agent.stop(5.0)


def test_grpc_answer_carries_the_partial_success(agent: Agent) -> None:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{agent.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                     request_serializer=None,
                                     response_deserializer=ExportTraceServiceResponse.FromString)
        merged = body(2) + body(1, trace_state="ot=th:ffffffffffffff")  # concatenated messages merge: 3 spans
        response = export(merged, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert outcome(agent, "priced") == 2 and cost(agent) == 2 * SPAN_COST
