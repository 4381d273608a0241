"""Cost per feature and tenant: ``otel_gemini.attributes(...)`` through the real client.

Every call here is 2.5 Flash with 1,000 prompt + 500 candidate tokens: 1,000 × $0.30/1M + 500 × $2.50/1M = $0.00155.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry import baggage, context
from prometheus_client import REGISTRY

from otel_gemini import attributes
from otel_gemini.testing import Reply, response, usage

MODEL = "gemini-2.5-flash"
CALL = Decimal("0.00155")


def reply() -> Reply:
    return Reply(body=response("ok", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500)))


@pytest.fixture
def instrumented(instrument_with: Any) -> Any:
    return instrument_with


def test_feature_and_tenant_label_cost_and_every_value_reaches_the_span(fake, client, telemetry) -> None:
    fake.push(reply(), reply())
    with attributes(feature="search", tenant="acme", user="u-123"):
        client.models.generate_content(model=MODEL, contents="hi")
    client.models.generate_content(model=MODEL, contents="hi")  # outside: no attribution

    tagged, plain = telemetry.spans()
    assert tagged.attributes["gemini.attribution.feature"] == "search"
    assert tagged.attributes["gemini.attribution.tenant"] == "acme"
    assert tagged.attributes["gemini.attribution.user"] == "u-123"  # not allow-listed: span only
    assert not any(k.startswith("gemini.attribution.") for k in plain.attributes)
    assert telemetry.exact("gemini_cost_usd_total", feature="search", tenant="acme") == CALL
    assert telemetry.exact("gemini_cost_usd_total", feature="", tenant="") == CALL
    assert telemetry.prom("gemini_requests_total", feature="search", tenant="acme") == 1
    names = {name for family in REGISTRY.collect() for sample in family.samples for name in sample.labels}
    assert "user" not in names and "feature" in names
    points = [p for p in telemetry.otel_points("gemini.cost.usd") if p.attributes.get("tenant") == "acme"]
    assert sum(p.value for p in points) == pytest.approx(0.00155)


def test_nested_blocks_merge_and_the_inner_value_wins(fake, client, telemetry) -> None:
    fake.push(reply())
    with attributes(tenant="acme"), attributes(feature="chat"), attributes(feature="summary"):
        client.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", feature="summary", tenant="acme") == CALL


async def test_decorators_and_asyncio_tasks(fake, client, telemetry) -> None:
    fake.push(reply(), reply(), reply())

    @attributes(feature="async-decorated")
    async def decorated() -> None:
        await client.aio.models.generate_content(model=MODEL, contents="hi")

    @attributes(feature="sync-decorated")
    def sync_decorated() -> None:
        client.models.generate_content(model=MODEL, contents="hi")

    await decorated()
    sync_decorated()
    with attributes(tenant="globex"):
        task = asyncio.create_task(client.aio.models.generate_content(model=MODEL, contents="hi"))
    await task  # created inside the block: the task copied the context then
    assert telemetry.exact("gemini_cost_usd_total", feature="async-decorated") == CALL
    assert telemetry.exact("gemini_cost_usd_total", feature="sync-decorated") == CALL
    assert telemetry.exact("gemini_cost_usd_total", tenant="globex") == CALL


def test_threads_get_it_through_copy_context_only(fake, client, telemetry) -> None:
    fake.push(reply(), reply())

    def call() -> None:
        client.models.generate_content(model=MODEL, contents="hi")

    with attributes(tenant="initech"):
        copied = threading.Thread(target=contextvars.copy_context().run, args=(call,))
        bare = threading.Thread(target=call)  # a plain thread starts from an empty context
        copied.start(), copied.join(), bare.start(), bare.join()
    assert telemetry.exact("gemini_cost_usd_total", tenant="initech") == CALL
    assert telemetry.exact("gemini_cost_usd_total", tenant="") == CALL


def test_baggage_fills_allowed_keys_when_enabled(fake, client, instrumented) -> None:
    telemetry = instrumented(attributes_from_baggage=True)
    fake.push(reply(), reply())
    token = context.attach(baggage.set_baggage("tenant", "umbrella"))
    try:
        client.models.generate_content(model=MODEL, contents="hi")
        with attributes(tenant="explicit"):  # an explicit value wins over baggage
            client.models.generate_content(model=MODEL, contents="hi")
    finally:
        context.detach(token)
    assert telemetry.exact("gemini_cost_usd_total", tenant="umbrella") == CALL
    assert telemetry.exact("gemini_cost_usd_total", tenant="explicit") == CALL


def test_custom_allow_list(fake, client, instrumented) -> None:
    telemetry = instrumented(metric_labels="team")
    fake.push(reply())
    with attributes(team="payments", tenant="acme"):
        client.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", team="payments") == CALL
    names = {name for family in REGISTRY.collect() for sample in family.samples for name in sample.labels}
    assert "team" in names and "tenant" not in names


def test_tenant_flood_leaves_the_series_count_bounded(fake, client, instrumented) -> None:
    """2,000 distinct tenants with a cap of 100: 100 named + _other, every dollar still counted."""
    telemetry = instrumented(label_value_limit=100)
    fake.push(*(reply() for _ in range(2000)))  # queued, not a route: a route would outlive this test
    for i in range(2000):
        with attributes(tenant=f"tenant-{i:05d}"):
            client.models.generate_content(model=MODEL, contents="hi")
    recorder = telemetry.instrumentor.telemetry.recorder
    from otel_gemini import semconv

    tenants = {key[-1] for key in recorder.counters[semconv.REQUESTS]}
    assert len(tenants) == 101 and "_other" in tenants
    cost_series = len(recorder.counters[semconv.COST])
    assert cost_series == 101 * 2  # input and output lines per tenant value
    assert telemetry.exact("gemini_cost_usd_total") == CALL * 2000
    assert telemetry.exact("otel_gemini_label_overflow_total", label="tenant") == 1900
    print(f"\ntenant flood: 2000 distinct tenants -> {len(tenants)} tenant values, {cost_series} cost series")


def test_bad_keys_are_the_callers_error() -> None:
    with pytest.raises(ValueError):
        attributes(**{"not-a-label": "x"})
