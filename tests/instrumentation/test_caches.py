"""Context caches through the real client over real HTTP: the cache write, storage metered in slices, the gauge.

Rates (otel_gemini/pricing/prices.json, dev-pricing-2026-03): gemini-2.5-pro input $1.25 / 1M tokens, storage
$4.50 / 1M tokens / hour; gemini-2.5-flash input $0.30, storage $1.00. Every slice in these tests lasts a multiple
of 900 s, so tokens × seconds / 3600 is a whole number and every expected Decimal is exact.
The fake stamps createTime/expireTime with the same controllable clock the meter reads.
"""

from __future__ import annotations

import asyncio
import calendar
import inspect
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from google.genai import errors

from otel_gemini import semconv
from otel_gemini.billing.cache_storage import OVERFLOW_COMPONENT, CacheStorageMeter
from otel_gemini.instrumentation import caches as cache_surface
from otel_gemini.pricing import pacific, table
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.recording import Recorder
from otel_gemini.testing.caches import install

PRO, FLASH = "gemini-2.5-pro", "gemini-2.5-flash"
T0 = float(calendar.timegm((2026, 11, 23, 10, 0, 0)))  # 02:00 PST: no Pacific midnight within the next 22 h


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def minutes(self, n: float) -> None:
        self.now += n * 60


@pytest.fixture
def clock(telemetry: Any) -> Clock:
    clock = Clock()
    meter = cache_surface.meter()
    assert meter is not None
    meter.clock = clock
    return clock


@pytest.fixture
def store(fake: Any, clock: Clock) -> Any:
    return install(fake, clock)


def storage(telemetry: Any, model: str) -> Decimal:
    return telemetry.exact(
        "gemini_cost_usd_total", gen_ai_operation_name="cache_storage", gen_ai_request_model=model,
        gemini_cost_type="cache_storage", gen_ai_provider_name="gcp.gemini",
    )


def scrape(telemetry: Any, model: str) -> float:
    """One Prometheus scrape (runs the collect hooks); returns the live cached tokens of ``model``."""
    return telemetry.prom("gemini_cache_tokens", gen_ai_request_model=model, gen_ai_provider_name="gcp.gemini")


async def maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def api(client: Any, is_async: bool) -> Any:
    return client.aio.caches if is_async else client.caches


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_write_then_storage_across_ttl_change_and_delete(fake, client, telemetry, clock, store, is_async) -> None:
    store.tokens = 100_000
    caches = api(client, is_async)

    async def scenario() -> None:
        cache = await maybe(caches.create(model=PRO, config={"contents": ["the manual"], "ttl": "3600s"}))
        assert cache.usage_metadata.total_token_count == 100_000
        # write: 100,000 × $1.25/1M = $0.125
        assert telemetry.exact("gemini_cost_usd_total", gen_ai_operation_name="create_cache",
                               gemini_cost_type="cache_write") == Decimal("0.125")
        assert scrape(telemetry, PRO) == 100_000
        assert storage(telemetry, PRO) == 0

        clock.minutes(15)
        scrape(telemetry, PRO)  # accrues while it lives: 100,000 × 0.25 h × $4.50/1M = $0.1125
        assert storage(telemetry, PRO) == Decimal("0.1125")

        clock.minutes(15)
        updated = await maybe(caches.update(name=cache.name, config={"ttl": "7200s"}))
        assert updated.expire_time.timestamp() == clock.now + 7200
        # the TTL change settles up to now: 100,000 × 0.5 h × $4.50/1M = $0.225
        assert storage(telemetry, PRO) == Decimal("0.225")

        clock.minutes(15)
        scrape(telemetry, PRO)  # 0.75 h → $0.3375
        scrape(telemetry, PRO)  # same instant: nothing more
        assert storage(telemetry, PRO) == Decimal("0.3375")

        clock.minutes(30)  # deleted 45 min after the update, 1 h 15 min after creation
        await maybe(caches.delete(name=cache.name))
        # 100,000 × 1.25 h × $4.50/1M = $0.5625, the sum of four slices
        assert storage(telemetry, PRO) == Decimal("0.5625")
        assert scrape(telemetry, PRO) == 0

        clock.minutes(120)
        scrape(telemetry, PRO)
        assert storage(telemetry, PRO) == Decimal("0.5625")

    asyncio.run(scenario())
    names = [s.name for s in telemetry.spans() if s.instrumentation_scope.name == "otel_gemini"]
    assert names == [f"create_cache {PRO}", f"update_cache {PRO}", f"delete_cache {PRO}"]
    create = next(s for s in telemetry.spans() if s.name.startswith("create_cache"))
    assert create.attributes["gemini.cost.usd_exact"] == "0.125"
    assert create.attributes["gen_ai.usage.input_tokens"] == 100_000
    requests = "gemini_requests_total"
    assert telemetry.prom(requests, gen_ai_operation_name="create_cache", gemini_pricing_status="priced") == 1
    for op in ("update_cache", "delete_cache"):
        assert telemetry.prom(requests, gen_ai_operation_name=op, gemini_pricing_status="unbilled") == 1
    # storage is its own operation, with the cache's model and no request of its own
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="cache_storage") == 0
    assert telemetry.prom("gemini_cost_usd_total", gen_ai_operation_name="cache_storage") == pytest.approx(0.5625)


def test_expiry_settles_exactly_at_expire_time_once(fake, client, telemetry, clock, store) -> None:
    store.tokens = 200_000
    client.caches.create(model=FLASH, config={"contents": ["a long document"], "ttl": "1800s"})
    # write: 200,000 × $0.30/1M = $0.06
    write = telemetry.exact("gemini_cost_usd_total", gemini_cost_type="cache_write", gen_ai_request_model=FLASH)
    assert write == Decimal("0.06")
    clock.minutes(15)
    assert scrape(telemetry, FLASH) == 200_000
    assert storage(telemetry, FLASH) == Decimal("0.05")  # 200,000 × 0.25 h × $1.00/1M

    clock.minutes(52.5)  # well past the expiry at 30 min, at an odd instant
    assert scrape(telemetry, FLASH) == 0
    assert storage(telemetry, FLASH) == Decimal("0.1")  # exactly 200,000 × 0.5 h × $1.00/1M, not 67.5 min
    clock.minutes(60)
    scrape(telemetry, FLASH)
    assert storage(telemetry, FLASH) == Decimal("0.1")
    assert cache_surface.meter().tracked() == {}  # type: ignore[union-attr]


def test_a_cache_seen_by_get_is_adopted_from_that_moment(fake, client, telemetry, clock, store) -> None:
    """Created before a restart (or by another replica): metered from the first sighting, never before."""
    name = store.add(PRO, 40_000, ttl_s=7200)
    clock.minutes(30)
    seen = client.caches.get(name=name)
    assert seen.name == name
    assert scrape(telemetry, PRO) == 40_000
    clock.minutes(45)
    client.caches.delete(name=name)
    # 40,000 × 0.75 h × $4.50/1M = $0.135 (the 30 min before the get are not this process's to count)
    assert storage(telemetry, PRO) == Decimal("0.135")
    assert scrape(telemetry, PRO) == 0
    # the first get cannot know the model before the answer; the delete can
    assert [s.name for s in telemetry.spans()] == ["get_cache unknown", f"delete_cache {PRO}"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_list_sees_every_page(fake, client, telemetry, clock, store, is_async) -> None:
    for tokens in (10_000, 20_000, 30_000):
        store.add(FLASH, tokens)  # three caches: two pages of two

    async def scenario() -> list[Any]:
        pager = await maybe(api(client, is_async).list(config={"page_size": 2}))
        if is_async:
            return [cached async for cached in pager]
        return list(pager)

    listed = asyncio.run(scenario())
    assert len(listed) == 3
    assert scrape(telemetry, FLASH) == 60_000
    assert [s.name for s in telemetry.spans()] == ["list_caches unknown", "list_caches unknown"]
    pages = telemetry.prom("gemini_requests_total", gen_ai_operation_name="list_caches",
                           gemini_pricing_status="unbilled")
    assert pages == 2
    clock.minutes(90)
    assert scrape(telemetry, FLASH) == 0  # all three expired after their 1 h default TTL
    assert storage(telemetry, FLASH) == Decimal("0.06")  # 60,000 × 1 h × $1.00/1M


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_errors_are_the_sdks_own_and_leave_the_meter_alone(fake, client, telemetry, clock, store, is_async) -> None:
    store.tokens = 100_000
    caches = api(client, is_async)

    async def scenario() -> None:
        cache = await maybe(caches.create(model=PRO, config={"contents": ["x"], "ttl": "3600s"}))
        with pytest.raises(errors.ClientError) as missing:
            await maybe(caches.get(name="cachedContents/nope"))
        assert type(missing.value) is errors.ClientError and missing.value.code == 404
        with pytest.raises(errors.ClientError):
            await maybe(caches.delete(name="cachedContents/nope"))
        clock.minutes(15)
        scrape(telemetry, PRO)
        await maybe(caches.delete(name=cache.name))

    asyncio.run(scenario())
    assert storage(telemetry, PRO) == Decimal("0.1125")  # 100,000 × 0.25 h × $4.50/1M
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="get_cache", error_type="404") == 1
    assert telemetry.prom("otel_gemini_internal_errors_total") == 0


def test_a_cache_deleted_elsewhere_stops_at_the_404_not_at_its_expiry(fake, client, telemetry, clock, store) -> None:
    """Replica B deleted the cache; this replica learns it from a 404 at minute 20 and stops metering there.

    100,000 tokens × (20/60) h × $4.50/1M = $0.15 (the 1 h TTL would have made it $0.45).
    """
    store.tokens = 100_000
    cache = client.caches.create(model=PRO, config={"contents": ["x"], "ttl": "3600s"})
    clock.minutes(5)
    del store.caches[cache.name]  # gone on the server, by someone else
    clock.minutes(15)
    with pytest.raises(errors.ClientError):
        client.caches.get(name=cache.name)
    clock.minutes(60)
    assert scrape(telemetry, PRO) == 0
    assert storage(telemetry, PRO) == Decimal("0.15")


def test_vertex_cache_write_and_storage_pay_the_regional_surcharge(fake, telemetry, clock, store) -> None:
    from google import genai

    from otel_gemini.testing import vertex_client_kwargs

    store.tokens = 100_000
    client = genai.Client(**vertex_client_kwargs(fake))
    cache = client.caches.create(model=PRO, config={"contents": ["x"], "ttl": "3600s"})
    assert cache.name.startswith("projects/p/locations/us-central1/cachedContents/")
    clock.minutes(45)
    client.caches.delete(name=cache.name)
    vertex = dict(gen_ai_provider_name="gcp.vertex_ai", gen_ai_request_model=PRO)
    # us-central1 is a regional endpoint: +10% since 2026-07-01. write 100,000 × $1.25/1M × 1.1 = $0.1375;
    # storage 100,000 × 0.75 h × $4.50/1M × 1.1 = $0.37125
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="cache_write", **vertex) == Decimal("0.1375")
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="cache_storage", **vertex) == Decimal("0.37125")


# -- the meter on its own (no SDK, no OTel): what the agent reuses ------------------------------------------------


def _meter(clock: Clock, **kwargs: Any) -> tuple[CacheStorageMeter, Recorder]:
    recorder = Recorder()
    meter = CacheStorageMeter(Pricer(table.load(None)), recorder, clock, **kwargs)
    recorder.collect_hooks.append(meter.collect)
    return meter, recorder


def _storage_slices(recorder: Recorder) -> Decimal:
    return sum((Decimal(v) for k, v in recorder.counters[semconv.COST].items() if k[0] == "cache_storage"), Decimal(0))


def test_slices_are_cut_at_pacific_midnight_and_sum_to_the_lifetime() -> None:
    clock = Clock()
    midnight = pacific.day_start_epoch(pacific.pacific_date(T0)) + 86400  # 2026-11-24 00:00 PST
    clock.now = midnight - 900
    meter, recorder = _meter(clock)
    meter.created("cachedContents/a", FLASH, 360_000, clock.now, clock.now + 3600)
    clock.minutes(30)
    meter.collect()
    # two slices (15 min before midnight, 15 after): 360,000 × 0.5 h × $1.00/1M = $0.18
    assert _storage_slices(recorder) == Decimal("0.18")
    clock.minutes(1000)
    meter.collect()
    assert _storage_slices(recorder) == Decimal("0.36")  # ended at its expiry: 1 h
    assert recorder.gauges[semconv.CACHED_TOKENS][("gcp.gemini", FLASH)] == 0


def test_a_price_change_at_midnight_is_honoured_within_one_settlement() -> None:
    """gemini-3.6-flash storage is $0.50 / 1M / h through 2026-12-31 (Pacific), $1.00 from 2027-01-01."""
    clock = Clock()
    new_year = pacific.day_start_epoch(date(2027, 1, 1))
    clock.now = new_year - 1800
    meter, recorder = _meter(clock)
    meter.created("cachedContents/ny", "gemini-3.6-flash", 1_000_000, clock.now, clock.now + 7200)
    clock.minutes(60)
    meter.deleted("cachedContents/ny")  # one settlement, two slices
    # 1,000,000 × 0.5 h × $0.50/1M + 1,000,000 × 0.5 h × $1.00/1M = $0.25 + $0.50 = $0.75
    assert _storage_slices(recorder) == Decimal("0.75")


def test_odd_instants_telescope_and_a_backward_clock_charges_nothing() -> None:
    clock = Clock()
    meter, recorder = _meter(clock)
    meter.created("cachedContents/b", FLASH, 3_600, T0 + 0.25, None)  # no expiry known: charged until deleted
    for step in (0.123457, 7.000001, 59.9, -30.0, 1.0):
        clock.now += step
        meter.collect()
    meter.deleted("cachedContents/b")
    # charged up to the latest instant seen, T0 + 67.023458 s, from T0 + 0.25 s: 66.773458 s; the clock's step
    # back (and the delete, earlier than what was already charged) add nothing, and nothing is taken back.
    # 3,600 tokens × 66.773458 s / 3600 × $1.00/1M = $0.000066773458
    assert _storage_slices(recorder) == Decimal("0.000066773458")
    assert meter.tracked() == {}


def test_tracked_caches_are_capped_and_the_overflow_counted() -> None:
    clock = Clock()
    meter, recorder = _meter(clock, max_caches=2)
    for name in ("cachedContents/1", "cachedContents/2", "cachedContents/3"):
        meter.created(name, FLASH, 1_000, T0, T0 + 3600)
    assert meter.overflow == 1 and len(meter.tracked()) == 2
    assert recorder.counters[semconv.INTERNAL_ERRORS][(OVERFLOW_COMPONENT,)] == 1
    assert recorder.gauges[semconv.CACHED_TOKENS][("gcp.gemini", FLASH)] == 2_000
