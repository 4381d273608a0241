"""The 2026-12-04 price-table refresh, each rule hand-computed to the micro-dollar and driven through the real
google-genai client against FakeGemini: Gemini 4 Carbon's dated doubling, Hydrogen's free tier and its printed
Flex/Priority rates, Neon flat across the 1M window, requests to shut-down or moving ids billed by the model
that served them (``modelVersion``), 3.1 Flash Image GA, 3.6 Flash's launch price, and a model the table does
not know staying unpriced.

Figures come from otel_gemini/pricing/prices.json (sources and uncertainties: docs/prices.md). Prices depend
on the day of the call, so each call happens at a fixed instant: the call lifecycle reads the wall clock from
its ``time`` module, and the tests stop that clock (nothing else is replaced; the SDK, HTTP and pricing run
as in production).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from otel_gemini.instrumentation import _call
from otel_gemini.pricing import pacific
from otel_gemini.pricing.schema import PriceTableError, validate
from otel_gemini.pricing.table import _bundled, load
from otel_gemini.testing import Reply, response, usage

TABLE = load()
DEC_4 = pacific.day_start_epoch(date(2026, 12, 4)) + 12 * 3600  # the day of the refresh, noon Pacific
NOV_20 = pacific.day_start_epoch(date(2026, 11, 20)) + 12 * 3600
CARBON_DOUBLES = pacific.day_start_epoch(date(2026, 12, 1))  # 2026-12-01 00:00 Pacific = 08:00 UTC


class _StoppedClock:
    """The ``time`` module as the call lifecycle sees it, its wall clock stopped at one instant."""

    def __init__(self, instant: float) -> None:
        self.instant = instant

    def time(self) -> float:
        return self.instant

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)  # perf_counter and the rest tick as usual


@pytest.fixture
def call_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Make the instrumented calls that follow happen at ``instant`` (seconds since the epoch)."""

    def pin(instant: float) -> None:
        monkeypatch.setattr(_call, "time", _StoppedClock(instant))

    pin(DEC_4)
    return pin


def reply(model_version: str, headers: dict[str, str] | None = None, **counts: Any) -> Reply:
    return Reply(body=response("ok", model_version=model_version, usage_metadata=usage(**counts)),
                 headers=headers or {})


def exact(attributes: Any) -> Decimal:
    return Decimal(attributes["gemini.cost.usd_exact"])


# -- a dated price change: Gemini 4 Carbon doubles on 2026-12-01 ----------------------------------------------

CARBON_USAGE = {"prompt": 10_000, "cached": 2_000, "candidates": 1_000, "thoughts": 500}


@pytest.mark.parametrize(("instant", "expected"), [
    # through 2026-11-30: 8,000 uncached × $2.00/1M = $0.016000; 2,000 cached × $0.10/1M = $0.000200;
    # 1,000 out × $10.00/1M = $0.010000; 500 thinking × $10.00/1M = $0.005000 → $0.031200
    (NOV_20, Decimal("0.0312")),
    (CARBON_DOUBLES - 1, Decimal("0.0312")),  # 2026-11-30 23:59:59 Pacific: still the introductory price
    # from 2026-12-01 00:00 Pacific: 8,000 × $4.00/1M = $0.032000; 2,000 × $0.20/1M = $0.000400;
    # 1,000 × $20.00/1M = $0.020000; 500 × $20.00/1M = $0.010000 → $0.062400
    (CARBON_DOUBLES, Decimal("0.0624")),
    (DEC_4, Decimal("0.0624")),
])
def test_carbon_is_billed_at_the_price_of_the_day_of_the_call(
    fake, client, telemetry, call_at, instant, expected
) -> None:
    call_at(instant)
    fake.push(reply("gemini-4-carbon", **CARBON_USAGE))
    client.models.generate_content(model="gemini-4-carbon", contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "priced"
    assert exact(attrs) == expected
    assert attrs["gemini.pricing.source"] == ("dev-pricing-2026-11-16",)
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model="gemini-4-carbon") == expected


def test_carbon_before_its_launch_is_unpriced_not_zero(fake, client, telemetry, call_at) -> None:
    """GA 2026-11-10: a call on 2026-11-09 has no price (never $0)."""
    call_at(pacific.day_start_epoch(date(2026, 11, 9)) + 3600)
    fake.push(reply("gemini-4-carbon", prompt=1_000, candidates=100))
    client.models.generate_content(model="gemini-4-carbon", contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "unpriced" and "gemini.cost.usd_exact" not in attrs


def test_carbon_batch_is_half(fake, client, telemetry, call_at) -> None:
    """Served as batch (header) on 2026-12-04: 10,000 × $2.00/1M + 1,000 × $10.00/1M
    = $0.020000 + $0.010000 = $0.030000."""
    fake.push(reply("gemini-4-carbon", {"x-gemini-service-tier": "batch"}, prompt=10_000, candidates=1_000))
    client.models.generate_content(model="gemini-4-carbon", contents="hi")
    assert exact(telemetry.span().attributes) == Decimal("0.03")


# -- a free-tier model: Gemini 4 Hydrogen -----------------------------------------------------------------------


def test_hydrogen_on_a_free_tier_project_costs_nothing_and_keeps_its_paid_equivalent(fake, client, instrument_with,
                                                                                    call_at) -> None:
    """Paid equivalent: 4,000 in × $1.50/1M = $0.006000; 800 out × $7.50/1M = $0.006000 → $0.012000."""
    telemetry = instrument_with(billing_tier="free")
    fake.push(reply("gemini-4-hydrogen", prompt=4_000, candidates=800))
    client.models.generate_content(model="gemini-4-hydrogen", contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "free"
    assert attrs["gemini.cost.usd_exact"] == "0"
    assert attrs["gemini.cost.paid_tier_equivalent_usd"] == pytest.approx(0.012)
    assert telemetry.exact("gemini_cost_usd_total") == 0
    assert telemetry.exact("gemini_cost_paid_tier_equivalent_usd_total",
                           gen_ai_request_model="gemini-4-hydrogen") == Decimal("0.012")


def test_a_paid_only_gemini_4_model_on_a_free_tier_project_is_charged(fake, client, instrument_with, call_at,
                                                                     caplog) -> None:
    """Neon is "free_tier": false, so a call that succeeded is paid: 1,000 × $3.00/1M + 200 × $15.00/1M = $0.006000."""
    telemetry = instrument_with(billing_tier="free")
    fake.push(reply("gemini-4-neon", prompt=1_000, candidates=200))
    client.models.generate_content(model="gemini-4-neon", contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "priced" and exact(attrs) == Decimal("0.006")
    assert any("gemini-4-neon is not offered on the free tier" in r.getMessage() for r in caplog.records)


# -- Flex and Priority printed for the new models ----------------------------------------------------------------


@pytest.mark.parametrize(("model", "tier", "expected"), [
    # Hydrogen priority: 6,000 uncached × $2.70/1M = $0.016200; 4,000 cached × $0.135/1M = $0.000540;
    # 2,000 out × $13.50/1M = $0.027000 → $0.043740
    ("gemini-4-hydrogen", "priority", Decimal("0.04374")),
    # Hydrogen flex: 6,000 × $0.75/1M = $0.004500; 4,000 × $0.0375/1M = $0.000150;
    # 2,000 × $3.75/1M = $0.007500 → $0.012150
    ("gemini-4-hydrogen", "flex", Decimal("0.01215")),
    # Neon priority: 6,000 × $5.40/1M = $0.032400; 4,000 × $0.27/1M = $0.001080;
    # 2,000 × $27.00/1M = $0.054000 → $0.087480
    ("gemini-4-neon", "priority", Decimal("0.08748")),
    # Neon flex: 6,000 × $1.50/1M = $0.009000; 4,000 × $0.075/1M = $0.000300; 2,000 × $7.50/1M = $0.015000 → $0.024300
    ("gemini-4-neon", "flex", Decimal("0.0243")),
])
def test_flex_and_priority_on_the_new_models(fake, client, telemetry, call_at, model, tier, expected) -> None:
    fake.push(reply(model, {"x-gemini-service-tier": tier}, prompt=10_000, cached=4_000, candidates=2_000))
    client.models.generate_content(model=model, contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gemini.service_tier"] == tier and exact(attrs) == expected
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model=model, gemini_service_tier=tier) == expected


# -- a long prompt on a model with no 200k tier ------------------------------------------------------------------


def test_neon_is_flat_across_the_1m_window(fake, client, telemetry, call_at) -> None:
    """250,000 prompt tokens, no cliff: 250,000 × $3.00/1M = $0.750000; 4,000 out × $15.00/1M = $0.060000;
    6,000 thinking × $15.00/1M = $0.090000 → $0.900000 (2.5 Pro's >200k rates would apply to the whole request)."""
    fake.push(reply("gemini-4-neon", prompt=250_000, candidates=4_000, thoughts=6_000))
    client.models.generate_content(model="gemini-4-neon", contents="hi")
    attrs = telemetry.span().attributes
    assert exact(attrs) == Decimal("0.9")
    assert "gemini.pricing.long_context" not in attrs


# -- a routed request: billed by the model that served it ---------------------------------------------------------


@pytest.mark.parametrize(("requested", "served", "counts", "expected"), [
    # 2.5 Flash → 3.5 Flash-Lite ($0.30 for every input modality): 10,000 in × $0.30/1M = $0.003000;
    # 1,000 out × $2.50/1M = $0.002500 → $0.005500
    # (at 2.5 Flash's rates the 2,000 audio tokens would cost $1.00/1M: $0.006900)
    ("gemini-2.5-flash", "gemini-3.5-flash-lite",
     {"prompt": 10_000, "prompt_details": {"TEXT": 8_000, "AUDIO": 2_000}, "candidates": 1_000}, Decimal("0.0055")),
    # 2.5 Pro → 3.8 Flash: 1,000 in × $0.75/1M = $0.000750; 1,000 out × $3.75/1M = $0.003750 → $0.004500
    # (2.5 Pro: $0.011250)
    ("gemini-2.5-pro", "gemini-3.8-flash", {"prompt": 1_000, "candidates": 1_000}, Decimal("0.0045")),
])
def test_a_shut_down_id_is_billed_by_the_model_that_served_it(
    fake, client, telemetry, call_at, requested, served, counts, expected
) -> None:
    assert TABLE.models[requested]["retired_on"] == "2026-12-01" and TABLE.models[requested]["routed_to"] == served
    fake.push(reply(served, **counts))
    client.models.generate_content(model=requested, contents="hi")
    attrs = telemetry.span().attributes
    assert attrs["gen_ai.request.model"] == requested and attrs["gen_ai.response.model"] == served
    assert exact(attrs) == expected
    both = {"gen_ai_request_model": requested, "gen_ai_response_model": served}
    assert telemetry.exact("gemini_cost_usd_total", **both) == expected
    assert telemetry.prom("gemini_requests_total", **both, gemini_pricing_status="priced") == 1
    [point] = [p for p in telemetry.otel_points("gemini.cost.usd") if p.attributes["gemini.cost.type"] == "output"]
    assert point.attributes["gen_ai.request.model"] == requested and point.attributes["gen_ai.response.model"] == served


def test_a_moving_alias_is_billed_by_whatever_it_points_at_on_the_day(fake, client, telemetry, call_at) -> None:
    """gemini-flash-latest is not in the table (its target moves); each response's modelVersion prices it.

    Served by 3.8 Flash: 2,000 × $0.75/1M + 400 × $3.75/1M = $0.001500 + $0.001500 = $0.003000.
    Served by 4 Hydrogen: 2,000 × $1.50/1M + 400 × $7.50/1M = $0.003000 + $0.003000 = $0.006000.
    """
    assert TABLE.normalize("gemini-flash-latest") is None
    alias = "gemini-flash-latest"
    fake.push(reply("gemini-3.8-flash", prompt=2_000, candidates=400),
              reply("gemini-4-hydrogen", prompt=2_000, candidates=400))
    client.models.generate_content(model=alias, contents="hi")
    client.models.generate_content(model=alias, contents="hi")
    first, second = [s.attributes for s in telemetry.spans()]
    assert (first["gen_ai.response.model"], exact(first)) == ("gemini-3.8-flash", Decimal("0.003"))
    assert (second["gen_ai.response.model"], exact(second)) == ("gemini-4-hydrogen", Decimal("0.006"))
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model=alias) == Decimal("0.009")
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model=alias,
                           gen_ai_response_model="gemini-4-hydrogen") == Decimal("0.006")


# -- 3.1 Flash Image GA and 3.6 Flash's launch price ---------------------------------------------------------------


def test_the_ga_flash_image_id_is_priced(fake, client, telemetry, call_at) -> None:
    """500 in × $0.50/1M = $0.000250; 1,120 image tokens × $60/1M = $0.067200; 100 text × $3.00/1M = $0.000300
    → $0.067750."""
    fake.push(reply("gemini-3.1-flash-image", prompt=500, candidates=1_220,
                    candidates_details={"IMAGE": 1_120, "TEXT": 100}))
    client.models.generate_content(model="gemini-3.1-flash-image", contents="a cat")
    attrs = telemetry.span().attributes
    assert exact(attrs) == Decimal("0.06775") and attrs["gemini.pricing.source"] == ("litellm-1.110.2",)
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_token_modality="image") == Decimal("0.0672")


@pytest.mark.parametrize(("day", "expected", "source"), [
    # launch 2026-07-21: 1,000 × $1.50/1M + 1,000 × $7.50/1M = $0.001500 + $0.007500 = $0.009000
    (date(2026, 7, 25), Decimal("0.009"), "launch-3.6-flash-2026-07-21"),
    # introductory price from 2026-08-12: 1,000 × $0.75/1M + 1,000 × $3.75/1M = $0.000750 + $0.003750 = $0.004500
    (date(2026, 8, 12), Decimal("0.0045"), "dev-pricing-2026-10"),
])
def test_3_6_flash_launch_price_came_before_its_introductory_price(fake, client, telemetry, call_at, day, expected,
                                                                   source) -> None:
    call_at(pacific.day_start_epoch(day) + 3600)
    fake.push(reply("gemini-3.6-flash", prompt=1_000, candidates=1_000))
    client.models.generate_content(model="gemini-3.6-flash", contents="hi")
    attrs = telemetry.span().attributes
    assert exact(attrs) == expected and attrs["gemini.pricing.source"] == (source,)


# -- a model the table does not know ------------------------------------------------------------------------------


def test_a_new_model_seen_in_traffic_is_unpriced_and_named_once(fake, client, telemetry, call_at, caplog) -> None:
    """An alias served by a model released after the table was checked: no cost (never $0), one log line naming
    the served model, and the unpriced series carries its id."""
    unknown = "gemini-4-xenon-test-2026-12"
    fake.push(reply(unknown, prompt=1_000, candidates=10), reply(unknown, prompt=1_000, candidates=10))
    client.models.generate_content(model="gemini-pro-latest", contents="hi")
    client.models.generate_content(model="gemini-pro-latest", contents="hi")
    for span in telemetry.spans():
        assert span.attributes["gemini.pricing.status"] == "unpriced"
        assert span.attributes["gen_ai.response.model"] == unknown
        assert "gen_ai.usage.cost.amount" not in span.attributes and "gemini.cost.usd_exact" not in span.attributes
    assert len([r for r in caplog.records if unknown in r.getMessage()]) == 1
    assert telemetry.prom("gemini_requests_total", gen_ai_request_model="gemini-pro-latest",
                          gen_ai_response_model=unknown, gemini_pricing_status="unpriced") == 2
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_response_model=unknown) == 0
    assert telemetry.exact("gemini_tokens_total", gen_ai_response_model=unknown) == 2_020


# -- the table itself ---------------------------------------------------------------------------------------------


def test_the_refresh_is_dated_and_routed_ids_name_known_models() -> None:
    assert TABLE.checked_on == date(2026, 12, 4)
    for model_id, model in TABLE.models.items():
        if "routed_to" in model:
            assert model["routed_to"] in TABLE.models and "retired_on" in model, model_id
    assert "retired_on" not in TABLE.models["gemini-2.5-flash-lite"]  # "not deprecated ... until further notice"
    assert TABLE.models["gemini-3.1-flash-image-preview"]["retired_on"] == "2026-06-25"


@pytest.mark.parametrize(("routed", "problem"), [
    ("gemini-2.5-flash", "another model's lower-case id"),
    ("models/gemini-3.8-flash", "another model's lower-case id"),
    (None, "give retired_on"),
])
def test_routed_to_is_checked(routed: str | None, problem: str) -> None:
    raw = _bundled()
    model = raw["models"]["gemini-2.5-flash"]
    if routed is None:
        del model["retired_on"]
    else:
        model["routed_to"] = routed
    with pytest.raises(PriceTableError, match=r"gemini-2\.5-flash\.routed_to: .*" + problem.replace("'", ".")):
        validate(raw)
