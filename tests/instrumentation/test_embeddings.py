"""models.embed_content through the real client over real HTTP: cost from the usage the API reports, never a guess.

Rates (otel_gemini/pricing/prices.json, per 1M input tokens): gemini-embedding-2 text $0.20, image $0.45;
gemini-embedding-001 $0.15. Vertex after 2026-07-01 at a non-global location (us-central1): ×1.10.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from otel_gemini.testing import FakeGemini, Reply, vertex_client_kwargs
from otel_gemini.testing.embeddings import (
    embed_response,
    embedding_usage,
    install,
    vertex_batch_response,
    vertex_embed_content_response,
    vertex_predict_response,
)

E2, E1 = "gemini-embedding-2", "gemini-embedding-001"
BASE = dict(gen_ai_operation_name="embeddings", gen_ai_provider_name="gcp.gemini")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_text_and_image_priced_by_modality_from_the_raw_usage(fake, client, telemetry) -> None:
    # 10 text tokens × $0.20/1M = $0.000002; 258 image tokens × $0.45/1M = $0.0001161; total $0.0001181.
    # Billed as all text (the SDK drops promptTokenDetails) it would be 268 × 0.20/1M = $0.0000536.
    fake.push(Reply(body=embed_response(1, dims=8, usage_metadata=embedding_usage(text=10, image=258)),
                    route=r":batchEmbedContents$"))
    result = client.models.embed_content(
        model=E2, contents=["a cat on a mat", types.Part.from_bytes(data=PNG, mime_type="image/png")])
    assert type(result) is types.EmbedContentResponse and len(result.embeddings[0].values) == 8
    assert [r.action for r in fake.requests] == ["batchEmbedContents"]

    assert telemetry.exact("gemini_cost_usd_total", **BASE, gen_ai_request_model=E2) == Decimal("0.0001181")
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_token_modality="image") == Decimal("0.0001161")
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_token_modality="text") == Decimal("0.000002")
    assert telemetry.prom("gemini_tokens_total", **BASE, gen_ai_token_type="input",
                          gen_ai_token_modality="image") == 258
    assert telemetry.prom("gemini_requests_total", **BASE, gen_ai_request_model=E2, gemini_pricing_status="priced") == 1
    span = telemetry.span()
    assert span.name == f"embeddings {E2}"
    attrs = span.attributes
    assert attrs["gemini.cost.usd_exact"] == "0.0001181"
    assert attrs["gen_ai.usage.input_tokens"] == 268 and attrs["gen_ai.usage.image.input_tokens"] == 258
    assert attrs["gen_ai.usage.output_tokens"] == 0
    assert attrs["gen_ai.embeddings.dimension.count"] == 8


def test_no_usage_reported_is_unmetered_and_nothing_is_sent_on_the_users_behalf(fake, client, telemetry) -> None:
    fake.push(Reply(body=embed_response(2), route=r":batchEmbedContents$"))  # gemini-embedding-001: no usageMetadata
    result = client.models.embed_content(model=E1, contents=["one", "two"])
    assert len(result.embeddings) == 2
    assert [r.action for r in fake.requests] == ["batchEmbedContents"]  # no countTokens of ours

    assert telemetry.prom("gemini_requests_total", **BASE, gen_ai_request_model=E1,
                          gemini_pricing_status="unmetered") == 1
    recorder = telemetry.instrumentor.telemetry.recorder
    from otel_gemini import semconv

    assert recorder.counters[semconv.COST] == {} and recorder.counters[semconv.TOKENS] == {}  # no $0, no series
    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "unmetered"
    assert "gen_ai.usage.cost.amount" not in attrs and "gen_ai.usage.input_tokens" not in attrs


def test_many_contents_are_one_request_with_one_usage(fake, client, telemetry) -> None:
    # batchEmbedContents: 3 contents, one usage for the request: 30 text × $0.20/1M = $0.000006.
    fake.push(Reply(body=embed_response(3, usage_metadata=embedding_usage(text=30)), route=r":batchEmbedContents$"))
    result = client.models.embed_content(model=E2, contents=["alpha", "beta", "gamma"])
    assert len(result.embeddings) == 3 and len(fake.requests) == 1
    assert telemetry.exact("gemini_cost_usd_total", **BASE) == Decimal("0.000006")
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 30


async def test_async_embed(fake, client, telemetry) -> None:
    # Billing reference E8: 4,000 text tokens × $0.20/1M = $0.0008.
    fake.push(Reply(body=embed_response(1, usage_metadata=embedding_usage(text=4000)), route=r":batchEmbedContents$"))
    result = await client.aio.models.embed_content(model=E2, contents="a long document")
    assert type(result) is types.EmbedContentResponse
    assert telemetry.exact("gemini_cost_usd_total", **BASE) == Decimal("0.0008")
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.0008"


@pytest.mark.parametrize("is_async", [False, True])
async def test_error_reply_reraises_the_sdks_own_exception(fake, client, telemetry, is_async: bool) -> None:
    fake.push(Reply(status=400, route=r":batchEmbedContents$"))
    with pytest.raises(errors.ClientError) as raised:
        if is_async:
            await client.aio.models.embed_content(model=E2, contents="x")
        else:
            client.models.embed_content(model=E2, contents="x")
    assert type(raised.value) is errors.ClientError and raised.value.code == 400
    assert raised.value.message == "Fake Gemini error"
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="400", gemini_pricing_status="unbilled") == 1
    assert telemetry.exact("gemini_cost_usd_total") == 0
    span = telemetry.span()
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "400"


# -- Vertex -------------------------------------------------------------------------------------------------

VERTEX = dict(gen_ai_operation_name="embeddings", gen_ai_provider_name="gcp.vertex_ai")


@pytest.fixture
def vertex(fake: FakeGemini) -> Any:
    return genai.Client(**vertex_client_kwargs(fake))


def test_vertex_single_content(fake, vertex, telemetry) -> None:
    # google-genai 3.x sends one content on a Gemini model to :embedContent (usageMetadata); 2.x sends
    # gemini-embedding-001 to :predict (statistics.token_count). Either way the API reports 8,000 tokens:
    # 8,000 × $0.15/1M = $0.0012, × 1.10 (us-central1, a regional endpoint) = $0.00132.
    fake.push(Reply(body=vertex_embed_content_response(8000), route=r":embedContent$"),
              Reply(body=vertex_predict_response([8000]), route=r":predict$"))
    result = vertex.models.embed_content(model=E1, contents="a long document")
    assert result.embeddings[0].statistics.token_count == 8000
    assert len(fake.requests) == 1
    assert telemetry.exact("gemini_cost_usd_total", **VERTEX, gen_ai_request_model=E1) == Decimal("0.00132")


def test_vertex_statistics_token_counts_are_summed(fake, vertex, telemetry) -> None:
    # Several contents: :batchEmbedContents on 3.x, :predict on 2.x, both with statistics.token_count per instance:
    # (3,000 + 1,000) × $0.15/1M = $0.0006, × 1.10 = $0.00066.
    fake.push(Reply(body=vertex_batch_response([3000, 1000]), route=r":batchEmbedContents$"),
              Reply(body=vertex_predict_response([3000, 1000]), route=r":predict$"))
    result = vertex.models.embed_content(model=E1, contents=["first", "second"])
    assert [e.statistics.token_count for e in result.embeddings] == [3000, 1000]
    assert len(fake.requests) == 1
    assert telemetry.exact("gemini_cost_usd_total", **VERTEX) == Decimal("0.00066")
    assert telemetry.span().attributes["gen_ai.usage.text.input_tokens"] == 4000


async def test_vertex_predict_statistics_counted_for_a_model_without_a_token_price(fake, vertex, telemetry) -> None:
    # text-embedding-005 goes to :predict; Vertex bills it per 1,000 characters, which the table does not carry:
    # the 7 + 5 = 12 tokens are counted and the call is "unpriced", never $0.
    fake.push(Reply(body=vertex_predict_response([7, 5]), route=r":predict$"))
    result = await vertex.aio.models.embed_content(model="text-embedding-005", contents=["one", "two"])
    assert [e.statistics.token_count for e in result.embeddings] == [7, 5]
    assert telemetry.prom("gemini_tokens_total", **VERTEX, gen_ai_token_type="input",
                          gen_ai_token_modality="text") == 12
    assert telemetry.prom("gemini_requests_total", **VERTEX, gemini_pricing_status="unpriced") == 1
    assert "gen_ai.usage.cost.amount" not in telemetry.span().attributes


# -- the fake's default routes (the demo's) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def own_fake() -> Iterator[FakeGemini]:
    """A fake of this module's own, so its default routes cannot change what other test files see."""
    with FakeGemini() as server:
        install(server)
        yield server


def test_default_routes_price_gemini_embedding_2_and_leave_001_unmetered(own_fake, telemetry) -> None:
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=own_fake.base_url))
    # "0123456789abcdef" is 16 chars → 4 text tokens (the fake's chars/4) × $0.20/1M = $0.0000008; the image is the
    # fake's 258 tokens × $0.45/1M = $0.0001161; total $0.0001169.
    image = types.Part.from_bytes(data=PNG, mime_type="image/png")
    client.models.embed_content(model=E2, contents=["0123456789abcdef", image])
    client.models.embed_content(model=E1, contents="0123456789abcdef")
    assert telemetry.exact("gemini_cost_usd_total", **BASE, gen_ai_request_model=E2) == Decimal("0.0001169")
    assert telemetry.prom("gemini_requests_total", **BASE, gen_ai_request_model=E1,
                          gemini_pricing_status="unmetered") == 1
