"""The legacy google-generativeai SDK (0.8.x) through its real transports: REST over HTTP, gRPC over TLS.

Hand-computed costs use gemini-2.5-flash's Standard rates (pricing page 2026-03-30): input $0.30 (text) /
$1.00 (audio), output incl. thinking $2.50 per 1M tokens.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

genai = pytest.importorskip("google.generativeai")
from google.api_core import exceptions as core_exceptions  # noqa: E402
from google.generativeai.types import generation_types  # noqa: E402
from opentelemetry.instrumentation.utils import unwrap  # noqa: E402

from otel_gemini.instrumentation import legacy  # noqa: E402
from otel_gemini.testing import FakeGemini, Reply, fake_legacy, quota_exceeded, response, stream, usage  # noqa: E402  # noqa: E402
from tests._fakes.fake_grpc import FakeGrpcGemini, GrpcReply  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:The argument `including_default_value_fields`:DeprecationWarning")]
MODEL = "gemini-2.5-flash"
KEY = "test-key-DO-NOT-LEAK-7f3c9a"
BASE = dict(gen_ai_provider_name="gcp.gemini", gen_ai_request_model=MODEL)


@pytest.fixture(scope="module")
def rest() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        fake_legacy.install(server)
        yield server


@pytest.fixture(scope="module")
def grpc_fake() -> Iterator[FakeGrpcGemini]:
    with FakeGrpcGemini() as server:
        server.trust()  # before this process's first secure gRPC channel
        yield server


@pytest.fixture
def tel(telemetry: Any) -> Iterator[Any]:
    """The session telemetry plus the legacy surface, unless the instrumentor already registers it."""
    from google.generativeai.generative_models import GenerativeModel

    pairs = [] if hasattr(GenerativeModel.generate_content, "__wrapped__") else legacy.instrument(
        telemetry.instrumentor.telemetry)
    yield telemetry
    for owner, name in pairs:
        unwrap(owner, name)


@pytest.fixture
def model(rest: FakeGemini, tel: Any) -> Any:
    rest.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        genai.configure(api_key=KEY, transport="rest", client_options={"api_endpoint": rest.base_url})
    return genai.GenerativeModel(MODEL)


def test_sync_generate_span_metrics_and_cost(rest, model, tel) -> None:
    # 1,000 prompt × $0.30/1M + (200 candidates + 300 thoughts) × $2.50/1M = $0.0003 + $0.00125 = $0.00155.
    # REST drops thoughtsTokenCount (the pinned protos lack it): recovered as total − prompt − candidates.
    rest.push(Reply(body=response("hello", usage_metadata=usage(prompt=1000, candidates=200, thoughts=300))))
    result = model.generate_content("hi")
    assert type(result) is generation_types.GenerateContentResponse and result.text == "hello"

    attrs = tel.span().attributes
    assert tel.span().name == f"generate_content {MODEL}" and tel.span().kind.name == "CLIENT"
    assert attrs["gen_ai.operation.name"] == "generate_content" and attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == rest.port
    assert attrs["gen_ai.usage.input_tokens"] == 1000 and attrs["gen_ai.usage.output_tokens"] == 500
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 300 and attrs["gemini.usage.thoughts_inferred"] is True
    assert attrs["gemini.cost.usd_exact"] == "0.00155" and attrs["gemini.pricing.status"] == "priced"
    ops = dict(BASE, gen_ai_operation_name="generate_content")
    assert tel.prom("gemini_requests_total", **ops, gemini_pricing_status="priced") == 1
    assert tel.exact("gemini_cost_usd_total", **ops) == Decimal("0.00155")
    assert tel.prom("gemini_tokens_total", **ops, gen_ai_token_type="reasoning") == 300
    assert rest.requests[0].query["$alt"].startswith("json") and rest.requests[0].headers["x-goog-api-key"] == KEY


def test_chat_two_turns(rest, model, tel) -> None:
    # Turn 1: 100 × $0.30/1M + 20 × $2.50/1M = $0.00003 + $0.00005 = $0.00008.
    # Turn 2: 150 × $0.30/1M + 40 × $2.50/1M = $0.000045 + $0.0001 = $0.000145.   Sum $0.000225.
    rest.push(Reply(body=response("one", usage_metadata=usage(prompt=100, candidates=20))),
              Reply(body=response("two", usage_metadata=usage(prompt=150, candidates=40))))
    chat = model.start_chat()
    assert chat.send_message("first").text == "one"
    assert chat.send_message("second").text == "two"

    spans = sorted(tel.spans(), key=lambda s: s.start_time)
    assert [s.name for s in spans] == [f"generate_content {MODEL}"] * 2
    assert [s.attributes["gemini.cost.usd_exact"] for s in spans] == ["0.00008", "0.000145"]
    assert "gemini.usage.thoughts_inferred" not in spans[0].attributes
    assert len(rest.requests[1].body["contents"]) == 3  # the second turn sent the history: a real chat
    assert tel.exact("gemini_cost_usd_total", **BASE, gen_ai_operation_name="generate_content") == Decimal("0.000225")


def test_stream_over_rest_is_a_json_array_proxied_not_consumed(rest, model, tel) -> None:
    # Running usage per chunk; the last chunk's is the bill: 100 × $0.30/1M + (30 + 10) × $2.50/1M = $0.00013.
    rest.push(Reply(chunks=stream(["a", "b", "c"], final_usage=usage(prompt=100, candidates=30, thoughts=10))))
    result = model.generate_content("hi", stream=True)
    assert type(result) is generation_types.GenerateContentResponse
    assert tel.spans() == []  # the SDK has pulled only its first chunk; the call is still open
    assert [chunk.text for chunk in result] == ["a", "b", "c"]

    attrs = tel.span().attributes
    assert attrs["gen_ai.request.stream"] is True and "gen_ai.response.time_to_first_chunk" in attrs
    assert attrs["gen_ai.usage.output_tokens"] == 40 and attrs["gemini.cost.usd_exact"] == "0.00013"
    assert rest.requests[0].action == "streamGenerateContent" and "alt" not in rest.requests[0].query


def test_abandoned_stream_finishes_once_with_the_usage_seen(rest, model, tel) -> None:
    # Dropped after the first chunk (a third of 30 candidates so far): 100 × $0.30/1M + (10 + 10) × $2.50/1M
    # = $0.00003 + $0.00005 = $0.00008.
    rest.push(Reply(chunks=stream(["a", "b", "c"], final_usage=usage(prompt=100, candidates=30, thoughts=10))))
    result = model.generate_content("hi", stream=True)
    del result
    gc.collect()
    attrs = tel.span().attributes
    assert attrs["gemini.stream.abandoned"] is True and attrs["gemini.cost.usd_exact"] == "0.00008"


def test_embed_content_is_unmetered(rest, model, tel) -> None:
    result = genai.embed_content(model="models/gemini-embedding-001", content="hello")
    assert isinstance(result, dict) and len(result["embedding"]) == 4
    span = tel.span()
    assert span.name == "embeddings gemini-embedding-001"
    assert span.attributes["gemini.pricing.status"] == "unmetered" and "gen_ai.usage.cost.amount" not in span.attributes
    assert tel.prom("gemini_requests_total", gen_ai_operation_name="embeddings", gemini_pricing_status="unmetered") == 1


def test_count_tokens_is_unbilled(rest, model, tel) -> None:
    result = model.count_tokens("hello world, hello")
    assert result.total_tokens == 4  # FakeGemini: 18 chars // 4
    span = tel.span()
    assert span.name == f"count_tokens {MODEL}" and span.attributes["gemini.pricing.status"] == "unbilled"
    assert span.attributes["gemini.cost.usd_exact"] == "0"
    assert tel.exact("gemini_cost_usd_total", gen_ai_operation_name="count_tokens") == 0


def test_error_reply_raises_the_sdks_own_exception(rest, model, tel) -> None:
    rest.push(Reply(status=429, body=quota_exceeded()))
    with pytest.raises(core_exceptions.TooManyRequests) as caught:  # REST maps HTTP 429 so; gRPC: ResourceExhausted
        model.generate_content("hi")
    assert type(caught.value) is core_exceptions.TooManyRequests and caught.value.code == 429
    assert "GenerateRequestsPerDayPerProjectPerModel-FreeTier" in str(caught.value)  # the body, as the SDK parsed it
    attrs = tel.span().attributes
    assert attrs["error.type"] == "429" and attrs["gemini.pricing.status"] == "unbilled"
    assert tel.prom("gemini_requests_total", **BASE, error_type="429") == 1


def test_async_generate_over_grpc_tls(grpc_fake, tel) -> None:
    # gRPC keeps the newer usage fields as unknown fields: thoughts and the audio part are read, not inferred.
    # 600 text × $0.30/1M + 400 audio × $1.00/1M + (200 + 300 thoughts) × $2.50/1M
    # = $0.00018 + $0.0004 + $0.00125 = $0.00183.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        genai.configure(api_key=KEY, transport="grpc_asyncio", client_options={"api_endpoint": grpc_fake.endpoint})
    model = genai.GenerativeModel(MODEL)
    grpc_fake.push(GrpcReply(body=response("hi", usage_metadata=usage(
        prompt=1000, candidates=200, thoughts=300, prompt_details={"TEXT": 600, "AUDIO": 400}))))
    result = asyncio.run(model.generate_content_async("hi"))
    assert type(result) is generation_types.AsyncGenerateContentResponse and result.text == "hi"

    attrs = tel.span().attributes
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == grpc_fake.port
    assert attrs["gen_ai.usage.audio.input_tokens"] == 400 and attrs["gen_ai.usage.reasoning.output_tokens"] == 300
    assert "gemini.usage.thoughts_inferred" not in attrs
    assert attrs["gemini.cost.usd_exact"] == "0.00183"
    assert grpc_fake.metadata[-1]["x-goog-api-key"] == KEY
