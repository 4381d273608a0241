"""The price table: the bundled file validates and is sourced, bad files fail loudly with the path of the
problem, overrides merge model by model, and Pacific day boundaries hold across DST and the new year.

Format: docs/price-table-format.md; schema: otel_gemini/pricing/schema.py.
"""

from __future__ import annotations

import calendar
import copy
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_gemini.pricing import pacific
from otel_gemini.pricing.bill import Bill, Facts, bill
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.pricing.schema import PriceTableError, validate
from otel_gemini.pricing.table import PriceTable, _bundled, load
from otel_gemini.usage import extract_usage

RAW: dict[str, Any] = _bundled()
TABLE = load()
HOUR = 3600


def price_response(table: Any, model: str, usage: Any, *, at: float, service_tier: str | None = None) -> Bill:
    """One response priced with ``table`` by the production billing function (pricing/bill.py)."""
    return bill(Pricer(table), Facts(usage, model, service_tier=service_tier, at=at))



def utc(*fields: int) -> int:
    return calendar.timegm((*fields, *([0] * (6 - len(fields)))))


# -- the bundled table -----------------------------------------------------------------------------------------


def test_bundled_table_validates() -> None:
    validate(RAW)
    assert TABLE.checked_on == date(2026, 12, 4)
    assert RAW["schema_version"] == 1 and RAW["currency"] == "USD"
    assert len(TABLE.models) == 52


def test_every_period_source_is_an_https_url_with_a_capture_date_where_present() -> None:
    for model_id, model in TABLE.models.items():
        for index, period in enumerate(model["periods"]):
            where = f"{model_id}.periods[{index}]"
            source = TABLE.sources.get(period["source"])
            assert source is not None, where
            assert source["url"].startswith("https://"), where
            assert TABLE.source_url(period["source"]) == source["url"]
            if "captured" in source:
                captured = date.fromisoformat(source["captured"])
                assert captured <= TABLE.checked_on, where


def test_every_source_is_used_or_documented() -> None:
    """Every source has an https URL and a title; sources without "captured" say so in their note."""
    for source_id, source in TABLE.sources.items():
        assert source["url"].startswith("https://") and source.get("title"), source_id
        if "captured" not in source:
            assert "captured" in source.get("note", ""), source_id


def test_every_model_is_open_ended_or_retired() -> None:
    """A model's last price never silently ends: some period has no effective_to, or the model has retired_on."""
    for model_id, model in TABLE.models.items():
        open_ended = any(period.get("effective_to") is None for period in model["periods"])
        assert open_ended or "retired_on" in model, model_id


def test_every_period_resolves_to_a_standard_rate_card() -> None:
    """Each period's first day prices the standard tier with that period's source."""
    for model_id, model in TABLE.models.items():
        for period in model["periods"]:
            platform = period.get("platform", "gemini")
            start = pacific.day_start_epoch(date.fromisoformat(period["effective_from"]))
            card = TABLE.rate_card(model_id, at=start, platform=platform)
            assert card is not None and card.source == period["source"], (model_id, period["effective_from"])


def test_aliases_are_unique_and_never_shadow_a_model_id() -> None:
    seen: dict[str, str] = {}
    for model_id, model in TABLE.models.items():
        for alias in model.get("aliases", ()):
            assert alias == alias.lower() and alias not in TABLE.models, alias
            assert alias not in seen, (alias, seen.get(alias), model_id)
            seen[alias] = model_id
            assert TABLE.normalize(alias) == model_id


def test_free_tier_flags_are_booleans() -> None:
    for model_id, model in TABLE.models.items():
        assert model.get("free_tier", False) in (True, False), model_id


def test_period_boundaries_are_pacific_midnight() -> None:
    """4 Argon's second period starts 2026-12-01 00:00 Pacific (08:00 UTC): one second earlier is the old card."""
    start = utc(2026, 12, 1, 8)
    assert TABLE.rate_card("gemini-4-argon", at=start).input.default == Decimal("4.00") / 1_000_000
    assert TABLE.rate_card("gemini-4-argon", at=start - 1).input.default == Decimal("2.00") / 1_000_000


# -- invalid tables --------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: list[Any], value: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _delete(path: list[Any]) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


PRO = ["models", "gemini-2.5-pro", "periods", 0]
FLASH = ["models", "gemini-2.5-flash", "periods", 0]
F38 = ["models", "gemini-3.8-flash", "periods"]

INVALID = {
    "number_instead_of_string_price": (
        _set([*PRO, "standard", "input"], 1.25),
        "$.models.gemini-2.5-pro.periods[0].standard.input", ""),  # message says "expected an object"
    "number_price_inside_modality_rate": (
        _set([*FLASH, "standard", "input", "audio"], 1.0),
        "$.models.gemini-2.5-flash.periods[0].standard.input.audio", "strings"),
    "not_a_decimal_price": (
        _set([*PRO, "standard", "output"], "ten dollars"),
        "$.models.gemini-2.5-pro.periods[0].standard.output", "decimal"),
    "negative_price": (
        _set([*PRO, "standard", "output"], "-1"),
        "$.models.gemini-2.5-pro.periods[0].standard.output", ">= 0"),
    "nan_price": (
        _set([*PRO, "standard", "cache_read"], "NaN"),
        "$.models.gemini-2.5-pro.periods[0].standard.cache_read", "finite"),
    "unknown_tier_key": (
        _set([*PRO, "standard", "inptu"], "1.25"),
        "$.models.gemini-2.5-pro.periods[0].standard", "inptu"),
    "unknown_period_key": (
        _set([*PRO, "efective_to"], None),
        "$.models.gemini-2.5-pro.periods[0]", "efective_to"),
    "unknown_model_key": (
        _set(["models", "gemini-2.5-pro", "price"], "1"),
        "$.models.gemini-2.5-pro", "price"),
    "unknown_top_level_key": (
        _set(["modles"], {}),
        "$", "modles"),
    "unknown_modality_key": (
        _set([*FLASH, "standard", "input", "smell"], "1.00"),
        "$.models.gemini-2.5-flash.periods[0].standard.input", "smell"),
    "overlapping_periods": (
        _set([*F38, 1, "effective_from"], "2026-12-15"),
        "$.models.gemini-3.8-flash.periods[1]", "overlap"),
    "period_after_an_open_ended_one": (
        _set([*F38, 0, "effective_to"], None),
        "$.models.gemini-3.8-flash.periods[1]", "overlap"),
    "periods_out_of_order": (
        lambda raw: raw["models"]["gemini-3.8-flash"]["periods"].reverse(),
        "$.models.gemini-3.8-flash.periods[1]", "ascending"),
    "modality_rate_without_default": (
        _set([*FLASH, "standard", "input"], {"text": "0.30", "audio": "1.00"}),
        "$.models.gemini-2.5-flash.periods[0].standard.input", "default"),
    "variant_price_without_default": (
        _set(["models", "veo-3.1-generate-preview", "periods", 0, "standard", "per_second"], {"4k": "0.60"}),
        "$.models.veo-3.1-generate-preview.periods[0].standard.per_second", "default"),
    "bad_effective_from_date": (
        _set([*PRO, "effective_from"], "2025-13-31"),
        "$.models.gemini-2.5-pro.periods[0].effective_from", "YYYY-MM-DD"),
    "us_style_date": (
        _set([*PRO, "effective_from"], "10/31/2025"),
        "$.models.gemini-2.5-pro.periods[0].effective_from", "YYYY-MM-DD"),
    "missing_effective_from": (
        _delete([*PRO, "effective_from"]),
        "$.models.gemini-2.5-pro.periods[0].effective_from", "YYYY-MM-DD"),
    "bad_effective_to_date": (
        _set([*F38, 0, "effective_to"], "2027-02-30"),
        "$.models.gemini-3.8-flash.periods[0].effective_to", "YYYY-MM-DD"),
    "effective_to_not_after_from": (
        _set([*F38, 0, "effective_to"], "2026-08-12"),
        "$.models.gemini-3.8-flash.periods[0].effective_to", "after"),
    "bad_checked_on": (
        _set(["checked_on"], "last week"),
        "$.checked_on", "YYYY-MM-DD"),
    "bad_retired_on": (
        _set(["models", "gemini-2.5-pro", "retired_on"], "2026-10-32"),
        "$.models.gemini-2.5-pro.retired_on", "YYYY-MM-DD"),
    "bad_captured": (
        _set(["sources", "dev-pricing-2026-03", "captured"], "March 2026"),
        "$.sources.dev-pricing-2026-03.captured", "YYYY-MM-DD"),
    "missing_standard_tier": (
        _delete([*PRO, "standard"]),
        "$.models.gemini-2.5-pro.periods[0]", "standard"),
    "tier_that_prices_nothing": (
        _set([*PRO, "batch"], {"cache_read": "0.1"}),
        "$.models.gemini-2.5-pro.periods[0].batch", "prices nothing"),
    "unknown_source": (
        _set([*PRO, "source"], "a-blog-post"),
        "$.models.gemini-2.5-pro.periods[0].source", "a-blog-post"),
    "http_source": (
        _set(["sources", "dev-pricing-2026-03", "url"], "http://ai.google.dev/gemini-api/docs/pricing"),
        "$.sources.dev-pricing-2026-03.url", "https"),
    "unknown_platform": (
        _set([*PRO, "platform"], "azure"),
        "$.models.gemini-2.5-pro.periods[0].platform", "vertex_ai"),
    "unknown_kind": (
        _set(["models", "gemini-2.5-pro", "kind"], "chat"),
        "$.models.gemini-2.5-pro.kind", "expected one of"),
    "empty_periods": (
        _set(["models", "gemini-2.5-pro", "periods"], []),
        "$.models.gemini-2.5-pro.periods", "non-empty"),
    "long_context_threshold_as_string": (
        _set([*PRO, "standard", "long_context", "threshold"], "200000"),
        "$.models.gemini-2.5-pro.periods[0].standard.long_context.threshold", "positive integer"),
    "grounding_unit_unknown": (
        _set([*PRO, "standard", "grounding", "unit"], "request"),
        "$.models.gemini-2.5-pro.periods[0].standard.grounding.unit", "query"),
    "grounding_fee_as_number": (
        _set([*PRO, "standard", "grounding", "per_1000"], 35),
        "$.models.gemini-2.5-pro.periods[0].standard.grounding.per_1000", "strings"),
    "model_id_with_prefix": (
        lambda raw: raw["models"].__setitem__("models/gemini-x", raw["models"]["gemini-2.5-pro"]),
        "$.models.models/gemini-x", "prefix"),
    "model_id_upper_case": (
        lambda raw: raw["models"].__setitem__("Gemini-X", raw["models"]["gemini-2.5-pro"]),
        "$.models.Gemini-X", "lower-case"),
    "missing_checked_on": (
        _delete(["checked_on"]),
        "$", "checked_on"),
    "missing_tier_multipliers": (
        _delete(["tier_multipliers"]),
        "$", "tier_multipliers"),
    "bad_tier_multiplier": (
        _set(["tier_multipliers", "priority"], 1.8),
        "$.tier_multipliers.priority", "strings"),
    "wrong_schema_version": (
        _set(["schema_version"], 2),
        "$.schema_version", "version 1"),
    "wrong_currency": (
        _set(["currency"], "EUR"),
        "$.currency", "USD"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_table_raises_with_the_path(case: str) -> None:
    mutate, path, words = INVALID[case]
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(PriceTableError) as caught:
        PriceTable(raw)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert words in message, message


def test_price_table_error_is_a_value_error() -> None:
    assert issubclass(PriceTableError, ValueError)


def test_vertex_periods_do_not_overlap_gemini_periods_check() -> None:
    """Overlap is checked per platform: the Vertex row of gemini-2.5-pro shares its dates with the Gemini row."""
    pro = TABLE.models["gemini-2.5-pro"]["periods"]
    assert {p.get("platform", "gemini") for p in pro} == {"gemini", "vertex_ai"}
    assert pro[0]["effective_from"] == pro[1]["effective_from"]
    raw = copy.deepcopy(RAW)
    raw["models"]["gemini-2.5-pro"]["periods"].append(copy.deepcopy(pro[1]))
    with pytest.raises(PriceTableError, match=r"^\$\.models\.gemini-2\.5-pro\.periods\[2\]: .*overlap"):
        PriceTable(raw)


def test_dates_are_strictly_yyyy_mm_dd() -> None:
    """The format says YYYY-MM-DD. Python 3.11's date.fromisoformat also takes "20261201" and "2026-W49-2",
    so without an explicit check a table valid on 3.11 would fail on 3.10 (requires-python >= 3.10)."""
    for spelling in ("20261201", "2026-W49-2"):
        raw = copy.deepcopy(RAW)
        raw["models"]["gemini-4-argon"]["periods"][1]["effective_from"] = spelling
        raw["models"]["gemini-4-argon"]["periods"][0]["effective_to"] = spelling
        with pytest.raises(PriceTableError, match=r"gemini-4-argon\.periods\[0\]\.effective_to: .*YYYY-MM-DD"):
            PriceTable(raw)


# -- overrides ---------------------------------------------------------------------------------------------------


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


E2 = {"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 8500, "totalTokenCount": 10000}
E4 = {"promptTokenCount": 9640, "candidatesTokenCount": 700, "thoughtsTokenCount": 260, "totalTokenCount": 10600,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 40}, {"modality": "AUDIO", "tokenCount": 9600}]}
NOON_2026_06_01 = pacific.day_start_epoch(date(2026, 6, 1)) + 12 * HOUR


def test_override_replaces_a_whole_model(tmp_path: Path) -> None:
    """An override's gemini-2.5-flash replaces the bundled one entirely (no mixing of two price lists).

    Override: input $1.00 flat, output $2.00, no audio rate, no batch tier.
    E2: 1,200 × 1.00/1M + 8,800 × 2.00/1M = 0.0012 + 0.0176 = 0.018800
    E4: 9,640 × 1.00/1M + 960 × 2.00/1M   = 0.00964 + 0.00192 = 0.011560 (the bundled audio rate is gone)
    Batch: the override has no batch tier → unpriced.
    """
    override = {"models": {"gemini-2.5-flash": {"periods": [
        {"effective_from": "2025-01-01", "source": "dev-pricing-2026-03",
         "standard": {"input": "1.00", "output": "2.00"}}]}}}
    table = load(write(tmp_path, override))

    def flash(usage: dict[str, Any], **kw: Any) -> Any:
        return price_response(table, "gemini-2.5-flash", extract_usage(usage), at=NOON_2026_06_01, **kw)

    assert flash(E2).total == Decimal("0.018800")
    assert flash(E4).total == Decimal("0.011560")
    assert flash(E2, service_tier="batch").status == "unpriced"
    assert "retired_on" not in table.models["gemini-2.5-flash"]
    # other models untouched
    assert table.models["gemini-2.5-pro"] == TABLE.models["gemini-2.5-pro"]
    assert price_response(table, "gemini-2.5-pro", extract_usage(E2), at=NOON_2026_06_01).total == \
        price_response(TABLE, "gemini-2.5-pro", extract_usage(E2), at=NOON_2026_06_01).total


def test_override_adds_a_model_and_a_source(tmp_path: Path) -> None:
    """A new model with its own source and an alias: 1,000 × 0.40/1M + 500 × 1.60/1M = 0.0004 + 0.0008 = 0.001200."""
    override = {
        "sources": {"my-contract": {"url": "https://example.com/contract.pdf", "title": "Our negotiated prices",
                                    "captured": "2026-09-01"}},
        "models": {"my-tuned-flash": {"aliases": ["tunedmodels-flash-1"], "periods": [
            {"effective_from": "2026-09-01", "source": "my-contract",
             "standard": {"input": "0.40", "output": "1.60"}}]}},
    }
    table = load(write(tmp_path, override))
    assert table.normalize("models/my-tuned-flash") == "my-tuned-flash"
    assert table.normalize("tunedmodels-flash-1") == "my-tuned-flash"
    cost = price_response(table, "my-tuned-flash", extract_usage({"promptTokenCount": 1000, "candidatesTokenCount": 500,
                                                                 "totalTokenCount": 1500}),
                          at=pacific.day_start_epoch(date(2026, 10, 1)))
    assert cost.status == "priced" and cost.total == Decimal("0.001200") and cost.source == "my-contract"
    assert table.source_url("my-contract") == "https://example.com/contract.pdf"
    assert set(TABLE.models) < set(table.models)
    assert TABLE.normalize("my-tuned-flash") is None  # the bundled table is not modified


def test_override_may_replace_checked_on_and_multipliers(tmp_path: Path) -> None:
    """Priority at 2.0 instead of 1.8: E2 = 1,200 × 0.60/1M + 8,800 × 5.00/1M = 0.00072 + 0.044 = 0.044720."""
    override = {"checked_on": "2026-11-30", "tier_multipliers": {"flex": "0.5", "priority": "2.0"}}
    table = load(write(tmp_path, override))
    assert table.checked_on == date(2026, 11, 30)
    cost = price_response(table, "gemini-2.5-flash", extract_usage(E2), at=NOON_2026_06_01, service_tier="priority")
    assert cost.total == Decimal("0.044720")


def test_override_naming_an_unknown_source_fails(tmp_path: Path) -> None:
    override = {"models": {"my-model": {"periods": [
        {"effective_from": "2026-01-01", "source": "nowhere", "standard": {"input": "1", "output": "2"}}]}}}
    with pytest.raises(PriceTableError, match="unknown source 'nowhere'"):
        load(write(tmp_path, override))


def test_invalid_override_fails_with_the_path(tmp_path: Path) -> None:
    override = {"models": {"gemini-2.5-flash": {"periods": [
        {"effective_from": "2026-01-01", "source": "dev-pricing-2026-03", "standard": {"input": 0.3, "output": "2"}}]}}}
    with pytest.raises(PriceTableError, match=r"^\$\.models\.gemini-2\.5-flash\.periods\[0\]\.standard\.input: "):
        load(write(tmp_path, override))


def test_override_with_overlapping_periods_fails(tmp_path: Path) -> None:
    period = {"effective_from": "2026-01-01", "source": "dev-pricing-2026-03",
              "standard": {"input": "1", "output": "2"}}
    override = {"models": {"my-model": {"periods": [period, {**period, "effective_from": "2026-06-01"}]}}}
    with pytest.raises(PriceTableError, match=r"my-model\.periods\[1\]: .*overlap"):
        load(write(tmp_path, override))


def test_no_override_is_the_bundled_table() -> None:
    assert load(None).raw == load().raw == RAW


# -- Pacific days ------------------------------------------------------------------------------------------------


def test_dst_start_2026_03_08() -> None:
    """DST starts Sunday 2026-03-08 at 02:00 PST = 10:00 UTC. That day begins at 08:00 UTC (PST) and lasts 23 h;
    the next begins at 07:00 UTC (PDT)."""
    assert pacific.day_start_epoch(date(2026, 3, 8)) == utc(2026, 3, 8, 8)
    assert pacific.day_start_epoch(date(2026, 3, 9)) == utc(2026, 3, 9, 7)
    assert pacific.day_start_epoch(date(2026, 3, 9)) - pacific.day_start_epoch(date(2026, 3, 8)) == 23 * HOUR
    assert pacific.utc_offset_hours(utc(2026, 3, 8, 10) - 1) == -8
    assert pacific.utc_offset_hours(utc(2026, 3, 8, 10)) == -7
    assert pacific.pacific_date(utc(2026, 3, 8, 8) - 1) == date(2026, 3, 7)
    assert pacific.pacific_date(utc(2026, 3, 8, 8)) == date(2026, 3, 8)
    assert pacific.pacific_date(utc(2026, 3, 9, 7) - 1) == date(2026, 3, 8)
    assert pacific.pacific_date(utc(2026, 3, 9, 7)) == date(2026, 3, 9)


def test_dst_end_2026_11_01() -> None:
    """DST ends Sunday 2026-11-01 at 02:00 PDT = 09:00 UTC. That day begins at 07:00 UTC (PDT) and lasts 25 h;
    the next begins at 08:00 UTC (PST). Both 01:30s of the repeated hour are 2026-11-01."""
    assert pacific.day_start_epoch(date(2026, 11, 1)) == utc(2026, 11, 1, 7)
    assert pacific.day_start_epoch(date(2026, 11, 2)) == utc(2026, 11, 2, 8)
    assert pacific.day_start_epoch(date(2026, 11, 2)) - pacific.day_start_epoch(date(2026, 11, 1)) == 25 * HOUR
    assert pacific.utc_offset_hours(utc(2026, 11, 1, 9) - 1) == -7
    assert pacific.utc_offset_hours(utc(2026, 11, 1, 9)) == -8
    assert pacific.pacific_date(utc(2026, 11, 1, 7) - 1) == date(2026, 10, 31)
    assert pacific.pacific_date(utc(2026, 11, 1, 8, 30)) == date(2026, 11, 1)  # 01:30 PDT
    assert pacific.pacific_date(utc(2026, 11, 1, 9, 30)) == date(2026, 11, 1)  # 01:30 PST
    assert pacific.pacific_date(utc(2026, 11, 2, 8) - 1) == date(2026, 11, 1)
    assert pacific.pacific_date(utc(2026, 11, 2, 8)) == date(2026, 11, 2)


def test_new_year_boundary() -> None:
    """2027-01-01 begins at 08:00 UTC; UTC's new year (00:00) is still 2026-12-31 16:00 Pacific."""
    assert pacific.day_start_epoch(date(2027, 1, 1)) == utc(2027, 1, 1, 8)
    assert pacific.pacific_date(utc(2027, 1, 1)) == date(2026, 12, 31)
    assert pacific.pacific_date(utc(2027, 1, 1, 8) - 1) == date(2026, 12, 31)
    assert pacific.pacific_date(utc(2027, 1, 1, 8)) == date(2027, 1, 1)
    assert pacific.utc_offset_hours(utc(2027, 1, 1)) == -8
    assert pacific.day_start_epoch(date(2026, 1, 1)) == utc(2026, 1, 1, 8)


def test_every_day_of_2026_and_2027_round_trips() -> None:
    """day_start_epoch(d) is on d, one second earlier is the day before, and days are 23, 24 or 25 hours long
    (23 only on the DST-start Sunday, 25 only on the DST-end Sunday)."""
    day = date(2026, 1, 1)
    short, long = [], []
    while day < date(2028, 1, 1):
        start = pacific.day_start_epoch(day)
        assert pacific.pacific_date(start) == day
        assert pacific.pacific_date(start - 1) == day - timedelta(days=1)
        length = pacific.day_start_epoch(day + timedelta(days=1)) - start
        if length == 23 * HOUR:
            short.append(day)
        elif length == 25 * HOUR:
            long.append(day)
        else:
            assert length == 24 * HOUR, day
        day += timedelta(days=1)
    assert short == [date(2026, 3, 8), date(2027, 3, 14)]
    assert long == [date(2026, 11, 1), date(2027, 11, 7)]


def test_pacific_matches_the_tz_database_hourly_in_2026() -> None:
    """Cross-check against the IANA database (the tzdata test requirement provides it where the system does not)."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo("America/Los_Angeles")
    for instant in range(utc(2026, 1, 1), utc(2027, 1, 2), 1800):
        local = datetime.fromtimestamp(instant, tz=timezone.utc).astimezone(zone)
        assert pacific.pacific_date(instant) == local.date(), instant
        assert pacific.utc_offset_hours(instant) * HOUR == local.utcoffset().total_seconds(), instant


