"""Fuzzed payloads against a running agent, over real sockets: every answer is 200 or a clear refusal, each refusal
is counted, and the agent stays up and keeps pricing.

Mutations of a valid OTLP/HTTP protobuf body (bit flips, truncations, spliced bytes), of a valid JSON body
(character edits, hostile shapes: deep nesting, huge numbers, wrong types), and of a gRPC Export message. A fixed
seed keeps failures reproducible; the counts are small enough for CI and large enough to reach the decoders'
error paths (the test asserts both outcomes occurred).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_gemini.agent.server import Agent, AgentOptions
from tests.agent.test_agent import _get, _post, outcome, total

SEED = 20261123


@pytest.fixture
def agent() -> Iterator[Agent]:
    options = AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, max_request_bytes=64 * 1024)
    with Agent(options) as running:
        yield running


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def valid_protobuf(spans: int = 4) -> bytes:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = "fuzz.app"
    now = time.time_ns()
    for index in range(spans):
        span = scope_spans.spans.add()
        span.trace_id, span.span_id = bytes(range(16)), bytes(range(8))
        span.name, span.kind = "generate_content gemini-2.5-flash", 3
        span.start_time_unix_nano, span.end_time_unix_nano = now - 10**9, now + index
        span.attributes.extend([
            _kv("gen_ai.operation.name", "generate_content"), _kv("gen_ai.provider.name", "gcp.gemini"),
            _kv("gen_ai.request.model", "gemini-2.5-flash"), _kv("gen_ai.usage.input_tokens", 1000),
            _kv("gen_ai.usage.output_tokens", 500),
        ])
    return request.SerializeToString()


def valid_json() -> dict[str, Any]:
    now = time.time_ns()
    attributes = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "generate_content"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "gcp.gemini"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gemini-2.5-flash"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "500"}},
    ]
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat", "kind": 3,
            "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now), "attributes": attributes}
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "app"},
                                                                             "spans": [span]}]}]}


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        if choice < 0.4 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif choice < 0.6 and out:
            del out[rng.randrange(len(out)):]
        elif choice < 0.8:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 16))
        elif out:
            at = rng.randrange(len(out))
            out[at:at + rng.randint(1, 8)] = b""
    return bytes(out)


def hostile_json(rng: random.Random) -> bytes:
    """Shapes a JSON decoder or a careless reader trips on: depth, size, types, numbers."""
    body = valid_json()
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    pick = rng.randrange(8)
    if pick == 0:
        return b"[" * 50_000 + b"]" * 50_000  # recursion depth
    if pick == 1:
        span["attributes"][3]["value"] = {"intValue": "9" * 400}  # an absurd count
    elif pick == 2:
        span["attributes"][3]["value"] = {"doubleValue": "NaN"}
    elif pick == 3:
        span["attributes"] = {"not": "a list"}
    elif pick == 4:
        body["resourceSpans"] = [None, 3, "x", {"scopeSpans": [{"spans": [None, {}]}]}]
    elif pick == 5:
        span["kind"] = "SPAN_KIND_CLIENT" if rng.random() < 0.5 else 1e308
        span["startTimeUnixNano"] = "-5"
    elif pick == 6:
        span["attributes"].append({"key": "gen_ai.request.model", "value": {"arrayValue": {"values": [{}] * 100}}})
    else:
        text = json.dumps(body)
        return mutate(text.encode(), rng)
    return json.dumps(body).encode()


def test_fuzzed_http_bodies_are_answered_and_counted(agent: Agent) -> None:
    rng = random.Random(SEED)
    base = valid_protobuf()
    statuses: dict[int, int] = {}
    for index in range(300):
        if index % 3 == 2:
            status = _post(agent, hostile_json(rng), "application/json")
        else:
            status = _post(agent, mutate(base, rng), "application/x-protobuf")
        statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) <= {200, 400, 413}, statuses
    assert statuses.get(200) and statuses.get(400), statuses  # both the accepting and the refusing paths ran
    refused = statuses.get(400, 0) + statuses.get(413, 0)
    assert total(agent, "otel_gemini_agent_requests_rejected_total") == refused
    assert total(agent, "otel_gemini_agent_requests_total") == statuses[200]
    # Still up, and still pricing a clean export exactly.
    before = total(agent, "gemini_cost_usd_total", gen_ai_request_model="gemini-2.5-flash")
    assert _post(agent, valid_protobuf(spans=1), "application/x-protobuf") == 200
    after = total(agent, "gemini_cost_usd_total", gen_ai_request_model="gemini-2.5-flash")
    assert after - before == Decimal("0.00155")
    assert _get(f"http://127.0.0.1:{agent.metrics_port}/healthz")[0] == 200
    assert outcome(agent, "priced") >= 1


def test_fuzzed_grpc_messages_are_answered_and_counted(agent: Agent) -> None:
    import grpc

    rng = random.Random(SEED + 1)
    base = valid_protobuf()
    codes: dict[str, int] = {}
    with grpc.insecure_channel(f"127.0.0.1:{agent.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        for _ in range(150):
            try:
                export(mutate(base, rng), timeout=5)
                code = "OK"
            except grpc.RpcError as failure:
                code = failure.code().name
            codes[code] = codes.get(code, 0) + 1
    assert set(codes) <= {"OK", "INVALID_ARGUMENT"}, codes
    assert codes.get("OK") and codes.get("INVALID_ARGUMENT"), codes
    assert total(agent, "otel_gemini_agent_requests_rejected_total", transport="grpc") == codes["INVALID_ARGUMENT"]
    assert _get(f"http://127.0.0.1:{agent.metrics_port}/healthz")[0] == 200
