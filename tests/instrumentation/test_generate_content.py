"""models.generate_content* and chats through the real client over real HTTP: spans, metrics and cost.

Hand-computed costs use gemini-2.5-flash's Standard rates (pricing page 2026-03-30): input $0.30 (text) /
$1.00 (audio), cached $0.03, output incl. thinking $2.50 per 1M tokens.
"""

from __future__ import annotations

import gc
import types as pytypes
from decimal import Decimal

import pytest
from google.genai import errors, types

from otel_gemini.testing import Reply, error, quota_exceeded, response, stream, usage

MODEL = "gemini-2.5-flash"
BASE = dict(gen_ai_operation_name="generate_content", gen_ai_provider_name="gcp.gemini", gen_ai_request_model=MODEL)


def one_k_call() -> Reply:
    """1,000 prompt + 200 candidates + 300 thoughts: 1,000 × 0.30/1M + 500 × 2.50/1M = $0.00155."""
    return Reply(body=response("hello", model_version=MODEL,
                               usage_metadata=usage(prompt=1000, candidates=200, thoughts=300)))


def test_sync_call_span_metrics_and_cost(fake, client, telemetry) -> None:
    fake.push(one_k_call())
    result = client.models.generate_content(model=MODEL, contents="hi")
    assert type(result) is types.GenerateContentResponse and result.text == "hello"

    span = telemetry.span()
    assert span.name == f"generate_content {MODEL}"
    assert span.kind.name == "CLIENT"
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.id"] == "fake-resp-1"
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 1000
    assert attrs["gen_ai.usage.output_tokens"] == 500
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 300
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 0
    assert attrs["gen_ai.usage.text.input_tokens"] == 1000
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == fake.port
    assert attrs["gen_ai.usage.cost.amount"] == pytest.approx(0.00155, abs=1e-12)
    assert attrs["gemini.cost.usd_exact"] == "0.00155"
    assert attrs["gen_ai.usage.cost.currency"] == "USD"
    assert attrs["gen_ai.usage.cost.source"] == "local"
    assert attrs["gemini.pricing.status"] == "priced"
    assert "error.type" not in attrs
    assert isinstance(attrs["gen_ai.usage.input_tokens"], int) and isinstance(attrs["gen_ai.usage.cost.amount"], float)

    assert telemetry.prom("gemini_requests_total", **BASE, gemini_pricing_status="priced") == 1
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_cost_type="input", gen_ai_token_modality="text",
                          gemini_service_tier="standard") == pytest.approx(0.0003)
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_cost_type="output") == pytest.approx(0.0005)
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_cost_type="reasoning") == pytest.approx(0.00075)
    assert telemetry.prom("gemini_tokens_total", **BASE, gen_ai_token_type="input") == 1000
    assert telemetry.prom("gemini_tokens_total", **BASE, gen_ai_token_type="output") == 200
    assert telemetry.prom("gemini_tokens_total", **BASE, gen_ai_token_type="reasoning") == 300
    assert telemetry.prom("gen_ai_client_operation_duration_seconds_count", **BASE) == 1
    assert telemetry.prom("gen_ai_client_token_usage_sum", **BASE, gen_ai_token_type="output") == 500


def test_otel_metrics_reach_the_meter_provider(fake, client, telemetry) -> None:
    fake.push(one_k_call())
    client.models.generate_content(model=MODEL, contents="hi")
    [cost] = [p for p in telemetry.otel_points("gemini.cost.usd") if p.attributes["gemini.cost.type"] == "reasoning"]
    assert cost.value == pytest.approx(0.00075)
    [requests] = telemetry.otel_points("gemini.requests")
    assert requests.value == 1 and requests.attributes["gemini.pricing.status"] == "priced"
    assert "error.type" not in requests.attributes
    [duration] = telemetry.otel_points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.explicit_bounds[0] == 0.01
    usage_points = {
        p.attributes["gen_ai.token.type"]: p.sum for p in telemetry.otel_points("gen_ai.client.token.usage")
    }
    assert usage_points == {"input": 1000, "output": 500}


def test_metrics_count_calls_whose_span_is_not_sampled(fake, client) -> None:
    """A team sampling 1% of traces still sees 100% of its spend."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    import otel_gemini

    otel_gemini.uninstrument()
    otel_gemini.instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF), meter_provider=MeterProvider())
    try:
        fake.push(one_k_call(), one_k_call())
        client.models.generate_content(model=MODEL, contents="a")
        client.models.generate_content(model=MODEL, contents="b")
        from prometheus_client import REGISTRY

        assert REGISTRY.get_sample_value(
            "gemini_requests_total",
            {**BASE, "gen_ai_response_model": MODEL, "error_type": "", "gemini_rpc_status": "",
             "gemini_pricing_status": "priced", "gemini_project": "default", "feature": "", "tenant": ""},
        ) == 2
    finally:
        otel_gemini.uninstrument()


async def test_async_call(fake, client, telemetry) -> None:
    fake.push(one_k_call())
    result = await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert type(result) is types.GenerateContentResponse
    assert telemetry.span().attributes["gen_ai.usage.cost.amount"] == pytest.approx(0.00155)




def test_stream_keeps_last_running_usage(fake, client, telemetry) -> None:
    final = usage(prompt=1000, candidates=200, thoughts=300)
    fake.push(Reply(chunks=stream(["a", "b", "c"], model_version=MODEL, final_usage=final)))
    chunks = client.models.generate_content_stream(model=MODEL, contents="hi")
    assert isinstance(chunks, pytypes.GeneratorType)
    assert telemetry.spans() == []  # nothing sent until iterated
    texts = [c.text for c in chunks]
    assert texts == ["a", "b", "c"]
    span = telemetry.span()
    assert span.attributes["gen_ai.usage.cost.amount"] == pytest.approx(0.00155)  # last chunk, never a sum
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert telemetry.prom("gen_ai_client_operation_time_to_first_chunk_seconds_count", **BASE) == 1


async def test_async_stream(fake, client, telemetry) -> None:
    fake.push(Reply(chunks=stream(["a", "b"], model_version=MODEL,
                                  final_usage=usage(prompt=1000, candidates=200, thoughts=300))))
    texts = [c.text async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="hi")]
    assert texts == ["a", "b"]
    assert telemetry.span().attributes["gen_ai.usage.cost.amount"] == pytest.approx(0.00155)


def test_abandoned_stream_ends_span_once_with_last_usage(fake, client, telemetry) -> None:
    """Stopped after the first chunk: its running usage (1,000 prompt, 66 candidates, 300 thoughts) is billed."""
    final = usage(prompt=1000, candidates=200, thoughts=300)
    fake.push(Reply(chunks=stream(["a", "b", "c"], model_version=MODEL, final_usage=final)))
    for _chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
        break
    gc.collect()
    span = telemetry.span()
    assert span.attributes["gemini.stream.abandoned"] is True
    # 1,000 × 0.30/1M + (66 + 300) × 2.50/1M = 0.0003 + 0.000915
    assert span.attributes["gemini.cost.usd_exact"] == "0.001215"
    assert telemetry.prom("gemini_requests_total", **BASE) == 1


def test_closed_stream_finishes_once(fake, client, telemetry) -> None:
    fake.push(Reply(chunks=stream(["a", "b", "c"], model_version=MODEL)))
    chunks = client.models.generate_content_stream(model=MODEL, contents="hi")
    next(chunks)
    chunks.close()
    chunks.close()
    del chunks
    gc.collect()
    assert len(telemetry.spans()) == 1
    assert telemetry.prom("gemini_requests_total", **BASE) == 1


def test_stream_cut_midway_raises_sdk_error_and_bills_last_usage(fake, client, telemetry) -> None:
    final = usage(prompt=1000, candidates=200, thoughts=300)
    fake.push(Reply(chunks=stream(["a", "b", "c"], model_version=MODEL, final_usage=final), cut_after_chunks=1))
    seen = []
    with pytest.raises(Exception) as raised:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
            seen.append(chunk.text)
    assert seen == ["a"]
    assert "otel_gemini" not in type(raised.value).__module__
    span = telemetry.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == f"{type(raised.value).__module__}.{type(raised.value).__qualname__}"
    assert span.attributes["gemini.cost.usd_exact"] == "0.001215"


def test_429_is_unbilled_counted_and_typed(fake, client, telemetry) -> None:
    fake.push(Reply(status=429, body=quota_exceeded()))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert raised.value.code == 429
    span = telemetry.span()
    assert span.attributes["error.type"] == "429"
    assert span.attributes["gemini.pricing.status"] == "unbilled"
    assert span.attributes["gen_ai.usage.cost.amount"] == 0.0
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="429", gemini_pricing_status="unbilled") == 1
    assert telemetry.prom("gemini_cost_usd_total", **BASE) == 0
    assert telemetry.prom("gen_ai_client_operation_duration_seconds_count", **BASE, error_type="429") == 1


async def test_async_500_raises_the_sdk_error(fake, client, telemetry) -> None:
    fake.push(Reply(status=500, body=error(500, "INTERNAL", "boom")))
    with pytest.raises(errors.ServerError):
        await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.span().attributes["error.type"] == "500"


def test_automatic_function_calling_prices_every_request(fake, client, telemetry) -> None:
    """AFC sends two billed requests; the SDK's returned usage is only the last one's.

    Round 1: 1,000 prompt + 10 candidates = 0.0003 + 0.000025; round 2: 2,000 prompt + 100 candidates =
    0.0006 + 0.00025. Total $0.001175 (the returned usage alone would say $0.00085).
    """

    def get_weather(city: str) -> str:
        """Weather of a city."""
        return "sunny"

    fake.push(
        Reply(body=response(function_call={"name": "get_weather", "args": {"city": "Paris"}}, model_version=MODEL,
                            usage_metadata=usage(prompt=1000, candidates=10))),
        Reply(body=response("It is sunny", model_version=MODEL, usage_metadata=usage(prompt=2000, candidates=100))),
    )
    result = client.models.generate_content(
        model=MODEL, contents="weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert result.text == "It is sunny"
    assert len(fake.requests) == 2
    span = telemetry.span()
    assert span.attributes["gemini.cost.usd_exact"] == "0.001175"
    assert span.attributes["gemini.http.requests"] == 2
    assert span.attributes["gen_ai.usage.input_tokens"] == 3000
    assert telemetry.prom("gemini_requests_total", **BASE) == 1
    assert telemetry.prom("gemini_tokens_total", **BASE, gen_ai_token_type="input") == 3000


def test_automatic_continuation_prices_each_hop_apart(fake, client, telemetry) -> None:
    """Two hops of 150,000 prompt tokens on 2.5 Pro: each is ≤200k, so both bill at the low tier.

    Hop: 150,000 × 1.25/1M + 1,000 × 10/1M = 0.1875 + 0.01 = 0.1975; two hops $0.395. Pricing the SDK's merged
    usage (300,000 prompt) would cross the cliff: 0.75 + 0.03 = $0.78.
    """
    pro = "gemini-2.5-pro"
    fake.push(
        Reply(body=response("part1", model_version=pro, usage_metadata=usage(prompt=150_000, candidates=1000),
                            continuation=True)),
        Reply(body=response("part2", model_version=pro, usage_metadata=usage(prompt=150_000, candidates=1000))),
    )
    result = client.models.generate_content(model=pro, contents="long")
    assert len(fake.requests) == 2
    assert "part2" in result.text
    span = telemetry.span()
    assert span.attributes["gemini.cost.usd_exact"] == "0.395"
    assert "gemini.pricing.long_context" not in span.attributes


def test_chat_send_message_sync_and_stream(fake, client, telemetry) -> None:
    fake.push(one_k_call(), Reply(chunks=stream(["x", "y"], model_version=MODEL,
                                                final_usage=usage(prompt=1000, candidates=200, thoughts=300))))
    chat = client.chats.create(model=MODEL)
    assert chat.send_message("hi").text == "hello"
    assert [c.text for c in chat.send_message_stream("again")] == ["x", "y"]
    spans = [s for s in telemetry.spans() if s.instrumentation_scope.name == "otel_gemini"]
    assert [s.name for s in spans] == [f"generate_content {MODEL}"] * 2
    assert telemetry.prom("gemini_cost_usd_total", **BASE) == pytest.approx(0.0031)


async def test_async_chat(fake, client, telemetry) -> None:
    fake.push(one_k_call(), Reply(chunks=stream(["x"], model_version=MODEL,
                                                final_usage=usage(prompt=1000, candidates=200, thoughts=300))))
    chat = client.aio.chats.create(model=MODEL)
    assert (await chat.send_message("hi")).text == "hello"
    assert [c.text async for c in await chat.send_message_stream("again")] == ["x"]
    assert telemetry.prom("gemini_cost_usd_total", **BASE) == pytest.approx(0.0031)


def test_served_service_tier_header_decides_the_price(fake, client, telemetry) -> None:
    """Asked for nothing, served flex: 0.5 × $0.00155 = $0.000775, labelled flex."""
    fake.push(Reply(body=one_k_call().body, headers={"x-gemini-service-tier": "flex"}))
    client.models.generate_content(model=MODEL, contents="hi")
    span = telemetry.span()
    assert span.attributes["gemini.service_tier"] == "flex"
    assert span.attributes["gemini.cost.usd_exact"] == "0.000775"
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_service_tier="flex") == pytest.approx(0.000775)


def test_unknown_model_is_unpriced_never_zero(fake, client, telemetry, caplog) -> None:
    fake.push(
        Reply(body=response("x", model_version="gemini-99-ultra", usage_metadata=usage(prompt=10, candidates=1))),
        Reply(body=response("x", model_version="gemini-99-ultra", usage_metadata=usage(prompt=10, candidates=1))),
    )
    client.models.generate_content(model="gemini-99-ultra", contents="hi")
    client.models.generate_content(model="gemini-99-ultra", contents="hi")
    for span in telemetry.spans():
        assert span.attributes["gemini.pricing.status"] == "unpriced"
        assert "gen_ai.usage.cost.amount" not in span.attributes
    assert telemetry.prom("gemini_requests_total", gen_ai_request_model="gemini-99-ultra",
                          gemini_pricing_status="unpriced") == 2
    assert telemetry.prom("gemini_tokens_total", gen_ai_request_model="gemini-99-ultra") == 22
    assert len([r for r in caplog.records if "gemini-99-ultra" in r.getMessage()]) == 1


def test_long_context_cliff_e1(fake, client, telemetry) -> None:
    """Billing reference E1: 2.5 Pro, 250,000 prompt, 4,000 candidates, 6,000 thoughts → $0.775."""
    pro = "gemini-2.5-pro"
    fake.push(Reply(body=response("x", model_version=pro,
                                  usage_metadata=usage(prompt=250_000, candidates=4000, thoughts=6000))))
    client.models.generate_content(model=pro, contents="hi")
    span = telemetry.span()
    assert Decimal(span.attributes["gemini.cost.usd_exact"]) == Decimal("0.775")
    assert span.attributes["gemini.pricing.long_context"] is True


def test_instrument_is_idempotent_and_works_on_existing_clients(fake, client, telemetry) -> None:
    import otel_gemini

    otel_gemini.instrument()
    otel_gemini.instrument()
    fake.push(one_k_call())
    client.models.generate_content(model=MODEL, contents="hi")
    assert len(telemetry.spans()) == 1
    otel_gemini.uninstrument()
    fake.push(one_k_call())
    client.models.generate_content(model=MODEL, contents="hi")
    assert len(telemetry.spans()) == 1


def test_vertex_client_reports_vertex_provider(fake, telemetry) -> None:
    from google import genai
    from google.genai import types as gtypes

    from otel_gemini.testing import vertex_client_kwargs

    vertex = genai.Client(**vertex_client_kwargs(fake))
    fake.push(one_k_call())
    vertex.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.span().attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert isinstance(gtypes.HttpOptions, type)


def test_request_attributes_from_config(fake, client, telemetry) -> None:
    fake.push(one_k_call())
    client.models.generate_content(
        model=MODEL, contents="hi",
        config=types.GenerateContentConfig(temperature=0.2, top_p=0.9, top_k=40, max_output_tokens=256,
                                           stop_sequences=["END"], seed=7),
    )
    attrs = telemetry.span().attributes
    assert attrs["gen_ai.request.temperature"] == 0.2 and attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.top_k"] == 40 and attrs["gen_ai.request.max_tokens"] == 256
    assert tuple(attrs["gen_ai.request.stop_sequences"]) == ("END",) and attrs["gen_ai.request.seed"] == 7
