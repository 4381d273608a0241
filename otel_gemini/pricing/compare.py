"""Price refreshes reviewed: what a new table changes (``prices diff``) and where a peer disagrees (``prices check``).

Both work on one flat view of a model's rates at an instant, :func:`rate_map`, read from the same
:meth:`PriceTable.rate_card` the engine prices with, so a figure shown here is the figure production charges
(flex/priority scaled by the tier multipliers, >200k rates, per-unit variants). Sample bills go through
:func:`engine.price_usage` and :func:`engine.price_units` for the same reason. Results are plain JSON-ready dicts:
``--json`` prints them as they are and :mod:`otel_gemini.pricing.compare_report` renders them as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from otel_gemini.pricing import engine, pacific, peers
from otel_gemini.pricing.schema import SERVICE_TIERS
from otel_gemini.pricing.table import PriceTable, RateCard, Rates
from otel_gemini.usage import Usage

_MILLION = Decimal(1_000_000)
SAMPLE_USAGE = Usage(input={"text": 10_000}, cache_read={"text": 2_000}, output={"text": 1_000}, prompt_tokens=12_000)
SAMPLE_TEXT = "10,000 input + 2,000 cached + 1,000 output tokens; per-unit models add one image/second/song"
_PEERS_CANNOT_SAY = ("cache_storage_per_hour", "long_context.threshold")


noon = pacific.noon


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount.normalize(), "f")


def _card_rates(tier: str, card: RateCard) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}

    def put(name: str, found: Rates | None) -> None:
        if found is not None:
            rates[f"{tier}.{name}"] = found.default * _MILLION
            rates.update({f"{tier}.{name}[{m}]": v * _MILLION for m, v in found.by_modality.items()})

    put("input", card.input)
    put("cache_read", card.cache_read)
    put("output", card.output)
    if card.long_threshold is not None:
        rates[f"{tier}.long_context.threshold"] = Decimal(card.long_threshold)
        put("long_context.input", card.long_input)
        put("long_context.cache_read", card.long_cache_read)
        put("long_context.output", card.long_output)
    if card.cache_storage_per_token_hour is not None:
        rates[f"{tier}.cache_storage_per_hour"] = card.cache_storage_per_token_hour * _MILLION
    if card.grounding is not None:
        rates[f"{tier}.grounding.per_1000"] = Decimal(card.grounding["per_1000"])
    for unit, variants in card.per_unit.items():
        rates.update({f"{tier}.{unit}" + ("" if v == "default" else f"[{v}]"): p for v, p in variants.items()})
    return rates


def rate_map(table: PriceTable, model_id: str, at: float, *, derived: bool = False) -> dict[str, Decimal]:
    """Every rate of a model in force at ``at``, keyed ``[vertex_ai:]tier.class[modality]``, USD per 1M tokens.

    ``derived`` adds the tiers a period does not spell out but the tier multipliers price (flex, priority).
    """
    rates: dict[str, Decimal] = {}
    for platform, period in table.in_force(model_id, at):
        prefix = "" if platform == "gemini" else f"{platform}:"
        for tier in SERVICE_TIERS:
            if tier not in period and not derived:
                continue
            card = table.rate_card(model_id, at=at, service_tier=tier, platform=platform)
            if card is not None:
                rates.update({prefix + key: value for key, value in _card_rates(tier, card).items()})
    return rates


def sample_bill(table: PriceTable, model_id: str, at: float, tier: str = "standard",
                platform: str = "gemini") -> Decimal | None:
    """What :data:`SAMPLE_USAGE` (and one unit of each per-unit price) costs, or None when unpriced then."""
    card = table.rate_card(model_id, at=at, service_tier=tier, platform=platform)
    if card is None:
        return None
    cost = engine.price_usage(card, SAMPLE_USAGE)
    if cost.status != engine.PRICED:
        return None
    units = (engine.price_units(card, unit, 1) for unit in card.per_unit)
    return cost.total + sum((line.amount for line in units if line is not None), Decimal(0))


def _change(old: Decimal | None, new: Decimal | None) -> dict[str, Any]:
    percent = None
    if old is not None and new is not None and old != 0:
        percent = format(((new - old) / old * 100).quantize(Decimal("0.1")), "f")
    return {"old": _text(old), "new": _text(new), "change_pct": percent}


def _bills(old: PriceTable, new: PriceTable, model_id: str, at: float, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Sample bills of each (platform, tier) whose rates changed, before and after."""
    seen = sorted({(k.split(":")[0] if ":" in k else "gemini", k.split(":")[-1].split(".")[0]) for k in keys})
    return [{"platform": platform, "tier": tier, **_change(sample_bill(old, model_id, at, tier, platform),
                                                         sample_bill(new, model_id, at, tier, platform))}
            for platform, tier in seen]


def _periods(model: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(p.get("platform", "gemini"), p["effective_from"]): p for p in model["periods"]}


def _model_diff(old: PriceTable, new: PriceTable, model_id: str, at: float) -> dict[str, Any] | None:
    before, after = old.models[model_id], new.models[model_id]
    entry: dict[str, Any] = {"model": model_id, "change": "changed", "fields": {}, "periods": [], "rates": [],
                             "sample_bills": []}
    for name in ("retired_on", "free_tier", "kind"):
        if before.get(name) != after.get(name):
            entry["fields"][name] = {"old": before.get(name), "new": after.get(name)}
    old_aliases, new_aliases = set(before.get("aliases", ())), set(after.get("aliases", ()))
    if old_aliases != new_aliases:
        entry["fields"]["aliases"] = {"added": sorted(new_aliases - old_aliases),
                                      "removed": sorted(old_aliases - new_aliases)}
    old_periods, new_periods = _periods(before), _periods(after)
    instants = [at]
    for key in sorted(old_periods.keys() | new_periods.keys(), key=lambda k: (k[1], k[0])):
        was, now = old_periods.get(key), new_periods.get(key)
        if was == now:
            continue
        change = "added" if was is None else "removed" if now is None else "changed"
        shown = now or was or {}
        row = {"platform": key[0], "effective_from": key[1], "change": change,
               "effective_to": shown.get("effective_to"), "source": shown.get("source")}
        if was is not None and now is not None:
            row["old_effective_to"] = was.get("effective_to")
            row["old_source"] = was.get("source")
            # Anything but closing the period (effective_to) or its note rewrites prices already charged.
            row["edited_in_place"] = any(was.get(k) != now.get(k) for k in was.keys() | now.keys()
                                         if k not in ("effective_to", "note"))
        entry["periods"].append(row)
        start = noon(date.fromisoformat(key[1]))
        if change == "added" and pacific.pacific_date(start) > pacific.pacific_date(at):
            instants.append(start)  # a dated price change: show what it does on its first day too
    for instant in sorted(set(instants)):
        old_rates, new_rates = rate_map(old, model_id, instant), rate_map(new, model_id, instant)
        changed = sorted(k for k in old_rates.keys() | new_rates.keys() if old_rates.get(k) != new_rates.get(k))
        day = pacific.pacific_date(instant).isoformat()
        entry["rates"] += [{"at": day, "rate": k, **_change(old_rates.get(k), new_rates.get(k))} for k in changed]
        entry["sample_bills"] += [{"at": day, **bill} for bill in _bills(old, new, model_id, instant, changed)]
    if not (entry["fields"] or entry["periods"] or entry["rates"]):
        return None
    return entry


def _whole_model(table: PriceTable, model_id: str, at: float, change: str) -> dict[str, Any]:
    if not table.in_force(model_id, at):  # an added model priced from a later day: show that day's rates
        at = noon(min(date.fromisoformat(p["effective_from"]) for p in table.models[model_id]["periods"]))
    rates = rate_map(table, model_id, at)
    platforms = sorted({k.split(":")[0] for k in rates if ":" in k} | ({"gemini"} if rates else set()))
    bills = [{"platform": p, "tier": "standard", **_change(
        *((None, sample_bill(table, model_id, at, "standard", p)) if change == "added"
          else (sample_bill(table, model_id, at, "standard", p), None)))} for p in platforms]
    side = "new" if change == "added" else "old"
    return {"model": model_id, "change": change, "kind": table.models[model_id].get("kind", "text"),
            "rates": [{"at": pacific.pacific_date(at).isoformat(), "rate": k,
                       **_change(*((None, v) if side == "new" else (v, None)))} for k, v in sorted(rates.items())],
            "sample_bills": [{"at": pacific.pacific_date(at).isoformat(), **bill} for bill in bills]}


def diff(old: PriceTable, new: PriceTable, at: float, *, old_name: str = "old",
         new_name: str = "new") -> dict[str, Any]:
    """Model by model, what replacing ``old`` by ``new`` changes at ``at`` (and on each new period's first day)."""
    models = []
    for model_id in sorted(old.models.keys() | new.models.keys()):
        if model_id not in old.models:
            models.append(_whole_model(new, model_id, at, "added"))
        elif model_id not in new.models:
            models.append(_whole_model(old, model_id, at, "removed"))
        else:
            entry = _model_diff(old, new, model_id, at)
            if entry is not None:
                models.append(entry)
    table: dict[str, Any] = {}
    for name in ("checked_on", "tier_multipliers", "adjustments"):
        if old.raw.get(name) != new.raw.get(name):
            table[name] = {"old": old.raw.get(name), "new": new.raw.get(name)}
    sources = {"added": sorted(new.sources.keys() - old.sources.keys()),
               "removed": sorted(old.sources.keys() - new.sources.keys())}
    if sources["added"] or sources["removed"]:
        table["sources"] = sources
    return {"old": old_name, "new": new_name, "old_checked_on": old.checked_on.isoformat(),
            "new_checked_on": new.checked_on.isoformat(), "at": pacific.pacific_date(at).isoformat(),
            "sample_usage": SAMPLE_TEXT, "table": table, "models": models,
            "differences": bool(models or table)}


# -- check against a peer --------------------------------------------------------------------------------------


def _lookup(rates: Mapping[str, Decimal], key: str) -> Decimal | None:
    """A rate, or for a modality/variant the side's default: what that side would charge such tokens."""
    if key in rates:
        return rates[key]
    return rates.get(key.split("[")[0]) if "[" in key else None


def _disagreements(ours: Mapping[str, Decimal], explicit: Iterable[str], theirs: Mapping[str, Decimal]) -> list[dict]:
    rows = []
    for key in sorted(set(theirs) | set(explicit)):
        if key.endswith(_PEERS_CANNOT_SAY) or (key.endswith("grounding.per_1000") and key not in theirs):
            continue  # no storage field; batch/flex grounding fees are not a field of litellm or genai-prices
        mine, other = _lookup(ours, key), _lookup(theirs, key)
        if mine is None and other is None:
            continue
        if (mine is None and other == 0) or (other is None and mine == 0):
            continue  # a "0" placeholder (per-unit models' tokens, embedding output) against silence
        if mine is None or other is None or peers.rounded(mine) != peers.rounded(other):
            rows.append({"rate": key, "ours": _text(mine), "theirs": _text(other)})
    return rows


def _peer_of(table: PriceTable, peer: peers.PeerModel) -> str | None:
    return table.normalize(peers.litellm_model_id(peer.key))


def check(table: PriceTable, peer: peers.PeerData, at: float, *, peer_name: str = "peer") -> dict[str, Any]:
    """Every Developer API model and rate where ``table`` and a peer's data disagree, or one side is missing."""
    ours_ids = [m for m in sorted(table.models) if any(p == "gemini" for p, _ in table.in_force(m, at))]
    matched: dict[str, list[peers.PeerModel]] = {m: [] for m in ours_ids}
    used: set[str] = set()
    for model_id in ours_ids:
        for candidate in peer.models:
            if candidate.matches is not None and candidate.matches(model_id):
                matched[model_id].append(candidate)  # genai-prices: the first model whose clause matches wins
                used.add(candidate.key)
                break
    for candidate in peer.models:
        found = _peer_of(table, candidate)
        if found is not None:
            used.add(candidate.key)
            if candidate.matches is None and found in matched:  # litellm: one entry per exact id
                matched[found].append(candidate)
    only_ours, disagreements, agreeing = [], [], 0
    for model_id in ours_ids:
        if not matched[model_id]:
            only_ours.append({"model": model_id, "retired_on": table.models[model_id].get("retired_on")})
            continue
        all_rates = rate_map(table, model_id, at, derived=True)
        ours = {k: v for k, v in all_rates.items() if ":" not in k}
        explicit = [k for k in rate_map(table, model_id, at) if ":" not in k]
        for candidate in matched[model_id]:
            rows = _disagreements(ours, explicit, candidate.rates)
            retired = table.models[model_id].get("retired_on")
            if peer.format == "litellm" and retired != candidate.retired_on:
                rows.insert(0, {"rate": "retired_on", "ours": retired, "theirs": candidate.retired_on})
            if rows:
                disagreements.append({"model": model_id, "theirs": candidate.key, "rates": rows})
            else:
                agreeing += 1
    only_theirs = sorted({c.key for c in peer.models if c.key not in used})
    return {"peer": peer_name, "format": peer.format, "at": pacific.pacific_date(at).isoformat(),
            "table_checked_on": table.checked_on.isoformat(),
            "rounding": f"{peers.SIGNIFICANT_DIGITS} significant digits",
            "only_ours": only_ours, "only_theirs": only_theirs, "disagreements": disagreements,
            "agreeing": agreeing, "differences": bool(only_ours or only_theirs or disagreements)}


def as_json(result: Mapping[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=False)
