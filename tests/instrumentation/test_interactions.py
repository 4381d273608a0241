"""Interactions API (client.interactions / client.aio.interactions) through the real client over real HTTP.

Hand-computed costs use gemini-3-flash-preview's Standard rates (prices.json, dev-pricing-2026-03): input $0.50,
cached $0.05, output incl. thinking $3.00 per 1M tokens; Google Search grounding $14 per 1,000 search queries
(no free allowance applied: OTEL_GEMINI_GROUNDING_ALLOWANCE defaults to none).
"""

from __future__ import annotations

import gc

import pytest

pytest.importorskip("google.genai._gaos.google_genai", reason="this google-genai has no Interactions API")

from otel_gemini.instrumentation import interactions  # noqa: E402
from otel_gemini.testing import Reply  # noqa: E402
from otel_gemini.testing import interactions as bodies  # noqa: E402
from otel_gemini.testing.interactions import CREATE_ROUTE, GET_ROUTE  # noqa: E402
from tests.conftest import API_KEY  # noqa: E402

MODEL = "gemini-3-flash-preview"
CREATE = dict(gen_ai_operation_name="create_interaction", gen_ai_provider_name="gcp.gemini", gen_ai_request_model=MODEL)


def test_create_prices_cached_thoughts_and_search_queries(fake, client, telemetry) -> None:
    usage = bodies.interaction_usage(10_000, 1_000, thoughts=500, cached=4_000, tool_use=200,
                                     grounding={"google_search": 3, "retrieval": 1})
    fake.push(Reply(body=bodies.interaction("hello", id="i-1", usage=usage), route=CREATE_ROUTE))
    result = client.interactions.create(model=MODEL, input="hi", tools=[{"type": "google_search"}])
    assert type(result).__name__ == "Interaction" and result.usage.total_input_tokens == 10_000
    span = telemetry.span()
    assert span.name == f"create_interaction {MODEL}"
    attrs = span.attributes
    # 6,000 uncached × 0.50/1M = 0.003; 4,000 cached × 0.05/1M = 0.0002; 200 tool-use tokens of a Search-grounded
    # response are not billed; (1,000 + 500 thoughts) × 3.00/1M = 0.0045; 3 queries × 14/1,000 = 0.042.
    assert attrs["gemini.cost.usd_exact"] == "0.0497"
    assert attrs["gemini.pricing.status"] == "priced"
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4_000
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 500
    assert attrs["gen_ai.response.id"] == "i-1" and attrs["gen_ai.response.model"] == MODEL
    assert attrs["gemini.grounding.google_search.count"] == 3 and attrs["gemini.grounding.retrieval.count"] == 1
    assert attrs["gemini.grounding.units"] == 3
    [request] = fake.requests
    assert request.line.endswith("/interactions") and request.headers["x-goog-api-key"] == API_KEY
    assert API_KEY not in repr(dict(attrs))
    assert telemetry.prom("gemini_requests_total", **CREATE, gemini_pricing_status="priced") == 1
    assert telemetry.prom("gemini_cost_usd_total", **CREATE, gemini_cost_type="grounding") == pytest.approx(0.042)
    assert telemetry.prom("gemini_cost_usd_total", **CREATE, gemini_cost_type="cache_read") == pytest.approx(0.0002)
    assert telemetry.prom("gemini_tokens_total", **CREATE, gen_ai_token_type="input") == 6_000
    assert telemetry.prom("gemini_tokens_total", **CREATE, gen_ai_token_type="tool_use") == 200
    assert interactions.grounding_units(result.usage) == {"google_search": 3, "retrieval": 1}


def test_stream_bills_the_completed_usage_once(fake, client, telemetry) -> None:
    usage = bodies.interaction_usage(2_000, 400, thoughts=100)
    fake.push(Reply(chunks=bodies.interaction_stream(["a", "b"], id="s-1", usage=usage), route=CREATE_ROUTE))
    with client.interactions.create(model=MODEL, input="hi", stream=True) as events:
        kinds = [event.event_type for event in events]
    assert kinds == ["interaction.created", "step.start", "step.delta", "step.delta", "step.stop",
                     "interaction.completed"]
    span = telemetry.span()
    # The running usage of step.stop (2,000 in, 1 out) is replaced by the completed one, never added:
    # 2,000 × 0.50/1M = 0.001; (400 + 100) × 3.00/1M = 0.0015.
    assert span.attributes["gemini.cost.usd_exact"] == "0.0025"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == "s-1"
    assert telemetry.prom("gemini_tokens_total", **CREATE, gen_ai_token_type="input") == 2_000
    assert telemetry.prom("gemini_requests_total", **CREATE) == 1


def test_abandoned_stream_bills_the_last_running_usage(fake, client, telemetry) -> None:
    usage = bodies.interaction_usage(2_000, 400)
    fake.push(Reply(chunks=bodies.interaction_stream(["a", "b"], usage=usage), route=CREATE_ROUTE))
    for event in client.interactions.create(model=MODEL, input="hi", stream=True):
        if event.event_type == "step.stop":
            break
    gc.collect()
    span = telemetry.span()
    assert span.attributes["gemini.stream.abandoned"] is True
    # step.stop's running usage: 2,000 × 0.50/1M + 1 × 3.00/1M = 0.001003
    assert span.attributes["gemini.cost.usd_exact"] == "0.001003"


async def test_async_create_and_stream(fake, client, telemetry) -> None:
    fake.push(Reply(body=bodies.interaction(usage=bodies.interaction_usage(1_000, 200)), route=CREATE_ROUTE))
    result = await client.aio.interactions.create(model=MODEL, input="hi")
    assert result.status == "completed"
    # 1,000 × 0.50/1M + 200 × 3.00/1M = 0.0005 + 0.0006
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.0011"
    telemetry.spans_exporter.clear()
    fake.push(Reply(chunks=bodies.interaction_stream(["a"], id="as-1", usage=bodies.interaction_usage(1_000, 200)),
                    route=CREATE_ROUTE))
    stream = await client.aio.interactions.create(model=MODEL, input="hi", stream=True)
    assert [e.event_type async for e in stream][-1] == "interaction.completed"
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.0011"


def test_background_create_then_get_is_billed_once(fake, client, telemetry) -> None:
    fake.push(Reply(body=bodies.interaction(id="bg-1", status="in_progress"), route=CREATE_ROUTE))
    usage = bodies.interaction_usage(5_000, 1_000, grounding={"google_search": 2})
    done = bodies.interaction("done", id="bg-1", usage=usage)
    fake.push(Reply(body=done, route=GET_ROUTE), Reply(body=done, route=GET_ROUTE))
    started = client.interactions.create(model=MODEL, input="hi", background=True)
    assert started.status == "in_progress" and started.usage is None
    assert client.interactions.get("bg-1").status == "completed"
    assert client.interactions.get(id="bg-1").status == "completed"
    create, first, second = telemetry.spans()
    assert create.attributes["gemini.pricing.status"] == "unbilled"
    assert first.name == "get_interaction unknown"
    # 5,000 × 0.50/1M = 0.0025; 1,000 × 3.00/1M = 0.003; 2 queries × 14/1,000 = 0.028
    assert first.attributes["gemini.cost.usd_exact"] == "0.0335"
    assert second.attributes["gemini.pricing.status"] == "unbilled"
    assert "gemini.cost.usd_exact" not in second.attributes or second.attributes["gemini.cost.usd_exact"] == "0"
    # The bill is labelled as the work it pays for: create_interaction on the interaction's model.
    assert telemetry.prom("gemini_cost_usd_total", **CREATE) == pytest.approx(0.0335)
    assert fake.requests[-1].line.endswith("/interactions/bg-1") and fake.requests[-1].method == "GET"


def test_get_of_a_created_interaction_does_not_bill_again(fake, client, telemetry) -> None:
    body = bodies.interaction(id="once-1", usage=bodies.interaction_usage(1_000, 200))
    fake.push(Reply(body=body, route=CREATE_ROUTE), Reply(body=body, route=GET_ROUTE))
    client.interactions.create(model=MODEL, input="hi")
    client.interactions.get("once-1")
    create, get = telemetry.spans()
    assert create.attributes["gemini.cost.usd_exact"] == "0.0011"
    assert get.attributes["gemini.pricing.status"] == "unbilled"


def test_continuation_hops_are_priced_each_once(fake, client, telemetry) -> None:
    first = bodies.interaction("part", id="h-1", status="requires_continuation",
                               usage=bodies.interaction_usage(1_000, 100))
    first["continuation_token"] = "tok"
    second = bodies.interaction("rest", id="h-2", usage=bodies.interaction_usage(1_100, 50))
    fake.push(Reply(body=first, route=CREATE_ROUTE), Reply(body=second, route=CREATE_ROUTE))
    result = client.interactions.create(model=MODEL, input="hi")
    assert result.usage.total_input_tokens == 2_100  # the SDK's merged (summed) usage
    # hop 1: 1,000 × 0.50/1M + 100 × 3.00/1M = 0.0008; hop 2: 1,100 × 0.50/1M + 50 × 3.00/1M = 0.0007
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.0015"
    assert len([r for r in fake.requests if r.method == "POST"]) == 2


def test_agent_interaction_is_unpriced_not_free(fake, client, telemetry) -> None:
    agent = "deep-research-pro-preview-12-2025"
    body = bodies.interaction(agent=agent, usage=bodies.interaction_usage(1_000, 200))
    fake.push(Reply(body=body, route=CREATE_ROUTE))
    client.interactions.create(agent=agent, input="research this")
    span = telemetry.span()
    assert span.name == f"create_interaction {agent}"
    assert span.attributes["gemini.pricing.status"] == "unpriced"
    assert "gen_ai.usage.cost.amount" not in span.attributes


def test_error_reply_raises_the_sdk_error_unchanged(fake, client, telemetry) -> None:
    from google.genai import _interactions

    fake.push(Reply(status=400, route=CREATE_ROUTE))
    with pytest.raises(_interactions.BadRequestError) as raised:
        client.interactions.create(model=MODEL, input="hi")
    assert raised.value.status_code == 400
    span = telemetry.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "400"
    assert span.attributes["gemini.pricing.status"] == "unbilled"
    assert telemetry.prom("gemini_cost_usd_total", **CREATE) == 0


def test_default_routes(fake, client, telemetry) -> None:
    bodies.install(fake)
    result = client.interactions.create(model=MODEL, input="x" * 400)
    assert result.status == "completed" and result.usage.total_input_tokens == 100
    started = client.interactions.create(model=MODEL, input="hi", background=True)
    assert client.interactions.get(started.id).status == "completed"
    # 100 × 0.50/1M + 1 × 3.00/1M = 0.000053 (create); the background one: 1 + 1 tokens = 0.0000035 at get.
    costs = [s.attributes.get("gemini.cost.usd_exact") for s in telemetry.spans()]
    assert costs == ["0.000053", "0", "0.0000035"]


def test_default_stream_route(fake, client, telemetry) -> None:
    bodies.install(fake)
    events = list(client.interactions.create(model=MODEL, input="x" * 400, stream=True))
    assert events[-1].event_type == "interaction.completed"
    # 100 × 0.50/1M + 1 × 3.00/1M
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.000053"
