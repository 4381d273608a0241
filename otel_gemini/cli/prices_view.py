"""``otel-gemini prices``: every rate the table bills with, one block per model, within 100 columns (or as JSON).

The rows are read from the same rate cards the engine prices with (``PriceTable.rate_card``), so a flex or
priority row derived from the table's multipliers shows exactly the rate a flex call is billed at, and says it
was derived ("×0.5 of standard") rather than listed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from otel_gemini.pricing import engine
from otel_gemini.pricing.table import PriceTable, RateCard, Rates

WIDTH = 100
_MILLION = Decimal(1_000_000)
_UNITS = {"per_image": "per image", "per_second": "per second", "per_song": "per song"}
_CLASSES = (("input", "input"), ("cache_read", "cached input"), ("output", "output"))


def _money(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    whole, _dot, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"  # 10 -> 10.00, 0.125 stays


def _per_million(rates: Rates | None) -> dict[str, str] | None:
    if rates is None:
        return None
    shown = {"default": _money(rates.default * _MILLION)}
    shown.update({k: _money(v * _MILLION) for k, v in rates.by_modality.items() if v != rates.default})
    return shown


def _basis(table: PriceTable, period: Mapping[str, Any], tier: str) -> str:
    if tier in period:
        return "listed"
    factor = table.raw["tier_multipliers"].get(tier)
    return f"×{factor} of standard"


def first_priced(table: PriceTable, model_id: str, platform: str = "gemini") -> str | None:
    """The first day the table prices a model on a platform (a Developer API price stands in for Vertex)."""
    periods = table.models.get(model_id, {}).get("periods", ())
    starts = [p["effective_from"] for p in periods if p.get("platform", "gemini") in (platform, "gemini")]
    return min(starts) if starts else None


def _cards(table: PriceTable, model_id: str, at: float) -> Iterator[tuple[str, Mapping[str, Any], dict[str, Any]]]:
    """(platform, period, {tier: card}) for each period of the model in force at ``at``."""
    for platform, period in table.in_force(model_id, at):
        cards = {}
        for tier in engine.SERVICE_TIERS:
            card = table.rate_card(model_id, at=at, service_tier=tier, platform=platform)
            if card is not None and card.effective_from.isoformat() == period["effective_from"]:
                cards[tier] = card
        yield platform, period, cards


def card_json(card: RateCard, basis: str) -> dict[str, Any]:
    """One tier's rates in USD: per 1M tokens by class (default and other modalities), per unit, storage, grounding."""
    long = None
    if card.long_threshold is not None:
        long = {"above_prompt_tokens": card.long_threshold, "input": _per_million(card.long_input),
                "cache_read": _per_million(card.long_cache_read), "output": _per_million(card.long_output)}
    storage = card.cache_storage_per_token_hour
    return {
        "basis": basis,
        "per_1m_tokens": {name: _per_million(getattr(card, name)) for name, _label in _CLASSES},
        "long_context": long,
        "cache_storage_per_1m_tokens_per_hour": None if storage is None else _money(storage * _MILLION),
        "per_unit": {_UNITS[unit]: {k: _money(v) for k, v in prices.items()} for unit, prices in card.per_unit.items()},
        "grounding": dict(card.grounding) if card.grounding else None,
    }


def as_json(table: PriceTable, model_ids: list[str], at: float) -> list[dict[str, Any]]:
    return [
        {
            "model": model_id, "platform": platform, "effective_from": period["effective_from"],
            "effective_to": period.get("effective_to"), "source": period["source"],
            "source_url": table.source_url(period["source"]),
            "tiers": {tier: card_json(card, _basis(table, period, tier)) for tier, card in cards.items()},
        }
        for model_id in model_ids
        for platform, period, cards in _cards(table, model_id, at)
    ]


def _variants(shown: dict[str, str] | None) -> str:
    if not shown:
        return ""
    return ", ".join(f"{modality} {rate}" for modality, rate in shown.items() if modality != "default")


def _token_rows(card: RateCard) -> Iterator[tuple[str, str, str, str]]:
    """(class, rate, long-context rate, other modalities) per token class the card prices."""
    for name, label in _CLASSES:
        shown = _per_million(getattr(card, name))
        long = _per_million(getattr(card, f"long_{name}")) if card.long_threshold is not None else None
        if shown is None and long is None:
            continue
        if shown is not None and set(shown.values()) == {"0.00"} and card.per_unit:
            continue  # per-unit models carry '0' token placeholders: not a rate anyone is billed
        extra = "; ".join(f"{k} {v}" for k, v in (("", _variants(shown)), (">", _variants(long))) if v)
        yield label, shown["default"] if shown else "-", long["default"] if long else "", extra.lstrip()


def _tier_lines(tier: str, basis: str, card: RateCard) -> Iterator[str]:
    name = tier if basis == "listed" else f"{tier} {basis.removesuffix(' of standard')}"
    for label, rate, long, extra in _token_rows(card):
        line = f"  {name:<14} {label:<22} {rate:>9} {long:>9}  {extra}".rstrip()
        yield from textwrap.wrap(line, WIDTH, subsequent_indent=" " * 62) or [line]
    for unit, prices in card.per_unit.items() if basis == "listed" else ():  # media is not sold at flex/priority
        for variant, price in prices.items():
            label = _UNITS[unit] + ("" if variant == "default" else f" ({variant})")
            yield f"  {name:<14} {label:<22} {_money(price):>9}"
    if tier != "standard":
        return  # storage is billed on the cache and grounding at the standard rate, whatever the call's tier
    if card.cache_storage_per_token_hour is not None:
        rate = _money(card.cache_storage_per_token_hour * _MILLION)
        yield f"  {'any tier':<14} {'cache storage':<22} {rate:>9}  per 1M tokens per hour"
    if card.grounding:
        g = card.grounding
        free = f", {g['free_allowance']} free per {g.get('allowance_period', 'day')}" if g.get("free_allowance") else ""
        yield f"  {'any tier':<14} {'grounding':<22} {g['per_1000']:>9}  per 1,000 grounded {g['unit']}s{free}"


def render(table: PriceTable, model_ids: list[str], at: float) -> Iterator[str]:
    """The text table: a header per model period, then one row per tier and class."""
    for model_id in model_ids:
        for platform, period, cards in _cards(table, model_id, at):
            name = model_id if platform == "gemini" else f"{model_id} [vertex]"
            until = f" to {period['effective_to']}" if period.get("effective_to") else ""
            yield ""
            yield f"{name}  (from {period['effective_from']}{until}; source {period['source']})"
            standard = cards.get("standard")
            threshold = standard.long_threshold if standard else None
            short_head, long_head = (f"≤{threshold // 1000}k", f">{threshold // 1000}k") if threshold else ("USD", "")
            yield f"  {'tier':<14} {'class':<22} {short_head:>9} {long_head:>9}  other modalities"
            for tier, card in cards.items():
                yield from _tier_lines(tier, _basis(table, period, tier), card)
