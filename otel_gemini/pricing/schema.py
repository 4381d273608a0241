"""The price table's schema, checked at load so a bad file fails loudly once instead of mispricing quietly.

The format is described for people in docs/price-table-format.md; this module is its executable form. It is a
hand-written checker rather than pydantic or jsonschema: the file is small, the rules are few, and the error
messages name the exact path (``models.gemini-2.5-pro.periods[0].standard.input``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

SCHEMA_VERSION = 1
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MODALITY_KEYS = {"default", "text", "image", "audio", "video", "document"}
SERVICE_TIERS = ("standard", "batch", "flex", "priority")
KINDS = {"text", "image", "tts", "live", "embedding", "imagen", "veo", "lyria"}
_TIER_KEYS = {
    "input", "cache_read", "output", "cache_storage_per_hour", "long_context",
    "per_image", "per_second", "per_song", "grounding",
}
_PERIOD_KEYS = {"effective_from", "effective_to", "source", "platform", "note", *SERVICE_TIERS}
_MODEL_KEYS = {"display_name", "kind", "aliases", "free_tier", "retired_on", "routed_to", "periods", "note"}


class PriceTableError(ValueError):
    """The price file does not follow docs/price-table-format.md."""


MAX_PRICE = Decimal(100_000)
"""The largest price (dollars per 1M tokens, per unit, per hour, per 1,000 grounded prompts) or factor a table may
carry: 800 times the dearest price Google has published. A file with more is a typo or an attack, and 1e308
dollars would export +Inf on every cost series."""
MAX_DECIMALS = 12
"""Decimal places a price may have (the table's own have at most 4): beyond that a "price" is noise."""


def _fail(path: str, problem: str) -> None:
    raise PriceTableError(f"{path}: {problem}")


def _money(value: Any, path: str) -> None:
    if not isinstance(value, str):
        _fail(path, f"prices are strings (exact decimals), got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        _fail(path, f"not a decimal number: {value!r}")
    if not amount.is_finite() or amount < 0:
        _fail(path, f"must be a finite amount >= 0, got {value!r}")
    if amount > MAX_PRICE:
        _fail(path, f"must be at most {MAX_PRICE} (dollars per 1M tokens, per unit or a factor), got {value!r}")
    if -int(amount.as_tuple().exponent) > MAX_DECIMALS:
        _fail(path, f"at most {MAX_DECIMALS} decimal places, got {value!r}")


def _day(value: Any, path: str) -> date:
    # Strict: Python 3.11's fromisoformat also takes "20261201" or "2026-W49-2", which 3.10 would reject.
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        _fail(path, f"expected a YYYY-MM-DD date, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(path, f"expected a YYYY-MM-DD calendar date, got {value!r}")
    raise AssertionError  # unreachable


def _keys(obj: Any, allowed: set[str], path: str) -> None:
    if not isinstance(obj, Mapping):
        _fail(path, "expected an object")
    unknown = set(obj) - allowed
    if unknown:
        _fail(path, f"unknown keys {sorted(unknown)}")


def _rate(value: Any, path: str, keys: set[str] = MODALITY_KEYS) -> None:
    if not isinstance(value, Mapping):
        _money(value, path)  # a string price, or a clear "prices are strings" error
        return
    _keys(value, keys, path)
    if "default" not in value:
        _fail(path, 'a per-modality rate needs a "default"')
    for key, amount in value.items():
        _money(amount, f"{path}.{key}")


def _variant_price(value: Any, path: str) -> None:
    if isinstance(value, str):
        _money(value, path)
        return
    if not isinstance(value, Mapping) or "default" not in value:
        _fail(path, 'expected a price or an object of variants with a "default"')
    for key, amount in value.items():
        _money(amount, f"{path}.{key}")


def _tier(tier: Any, path: str) -> None:
    _keys(tier, _TIER_KEYS, path)
    for key in ("input", "cache_read", "output"):
        if key in tier:
            _rate(tier[key], f"{path}.{key}")
    if "cache_storage_per_hour" in tier:
        _money(tier["cache_storage_per_hour"], f"{path}.cache_storage_per_hour")
    if "long_context" in tier:
        lc = tier["long_context"]
        _keys(lc, {"threshold", "input", "cache_read", "output"}, f"{path}.long_context")
        if not isinstance(lc.get("threshold"), int) or lc["threshold"] <= 0:
            _fail(f"{path}.long_context.threshold", "expected a positive integer")
        for key in ("input", "cache_read", "output"):
            if key in lc:
                _rate(lc[key], f"{path}.long_context.{key}")
    for key in ("per_image", "per_second", "per_song"):
        if key in tier:
            _variant_price(tier[key], f"{path}.{key}")
    if "grounding" in tier:
        g = tier["grounding"]
        gpath = f"{path}.grounding"
        _keys(g, {"unit", "per_1000", "free_allowance", "allowance_period", "allowance_group"}, gpath)
        if g.get("unit") not in ("prompt", "query"):
            _fail(f"{gpath}.unit", 'expected "prompt" or "query"')
        _money(g.get("per_1000"), f"{gpath}.per_1000")
        if "allowance_period" in g and g["allowance_period"] not in ("day", "month"):
            _fail(f"{gpath}.allowance_period", 'expected "day" or "month"')
    if not ({"input", "output"} & set(tier) or {"per_image", "per_second", "per_song"} & set(tier)):
        _fail(path, "a tier prices nothing (needs input/output or a per-unit price)")


def validate(table: Any, *, partial: bool = False) -> None:
    """Raise PriceTableError unless ``table`` follows the format; ``partial`` allows an override file's subset."""
    top = {"schema_version", "currency", "checked_on", "sources", "tier_multipliers", "adjustments", "models", "note"}
    _keys(table, top, "$")
    if table.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        _fail("$.schema_version", f"this otel-gemini reads version {SCHEMA_VERSION}")
    if table.get("currency", "USD") != "USD":
        _fail("$.currency", "only USD is supported")
    required = () if partial else ("checked_on", "sources", "models", "tier_multipliers")
    for key in required:
        if key not in table:
            _fail("$", f"missing {key!r}")
    if "checked_on" in table:
        _day(table["checked_on"], "$.checked_on")
    sources = table.get("sources", {})
    _keys(sources, set(sources), "$.sources")
    for sid, src in sources.items():
        _keys(src, {"url", "title", "captured", "note"}, f"$.sources.{sid}")
        if not str(src.get("url", "")).startswith("https://"):
            _fail(f"$.sources.{sid}.url", "every source is a https URL")
        if "captured" in src:
            _day(src["captured"], f"$.sources.{sid}.captured")
    if "tier_multipliers" in table:
        tm = table["tier_multipliers"]
        _keys(tm, {"flex", "priority", "batch", "source"}, "$.tier_multipliers")
        for key in ("flex", "priority", "batch"):
            if key in tm:
                _money(tm[key], f"$.tier_multipliers.{key}")
    for i, adjustment in enumerate(table.get("adjustments", ())):
        _adjustment(adjustment, f"$.adjustments[{i}]", sources, partial)
    models = table.get("models", {})
    _keys(models, set(models), "$.models")
    for model_id, model in models.items():
        _model(model_id, model, sources, partial)


ADJUSTMENTS = ("regional_endpoint", "tuned_model")


def _adjustment(adjustment: Any, path: str, sources: Mapping[str, Any], partial: bool) -> None:
    """A multiplier on every price of a platform under a condition (Vertex regional endpoints, tuned models)."""
    _keys(adjustment, {"platform", "applies_to", "factor", "effective_from", "effective_to", "source", "note"}, path)
    if adjustment.get("platform") not in ("gemini", "vertex_ai"):
        _fail(f"{path}.platform", 'expected "gemini" or "vertex_ai"')
    if adjustment.get("applies_to") not in ADJUSTMENTS:
        _fail(f"{path}.applies_to", f"expected one of {list(ADJUSTMENTS)}")
    _money(adjustment.get("factor"), f"{path}.factor")
    start = _day(adjustment.get("effective_from"), f"{path}.effective_from")
    if adjustment.get("effective_to") is not None and _day(adjustment["effective_to"], f"{path}.effective_to") <= start:
        _fail(f"{path}.effective_to", "must be after effective_from")
    if adjustment.get("source") not in sources and not partial:
        _fail(f"{path}.source", f"unknown source {adjustment.get('source')!r}")


def _model(model_id: str, model: Any, sources: Mapping[str, Any], partial: bool) -> None:
    path = f"$.models.{model_id}"
    if model_id != model_id.strip().lower() or "/" in model_id:
        _fail(path, "model ids are lower-case and carry no 'models/' prefix")
    _keys(model, _MODEL_KEYS, path)
    if model.get("kind", "text") not in KINDS:
        _fail(f"{path}.kind", f"expected one of {sorted(KINDS)}")
    if "retired_on" in model:
        _day(model["retired_on"], f"{path}.retired_on")
    if "routed_to" in model:
        # Informative only: the bill follows the response's modelVersion, which names the model that served.
        routed = model["routed_to"]
        if "retired_on" not in model:
            _fail(f"{path}.routed_to", "a model is routed elsewhere from its retired_on day; give retired_on")
        if not isinstance(routed, str) or routed != routed.strip().lower() or "/" in routed or routed == model_id:
            _fail(f"{path}.routed_to", "expected another model's lower-case id")
    periods = model.get("periods")
    if not isinstance(periods, list) or not periods:
        _fail(f"{path}.periods", "expected a non-empty list")
    last_end: dict[str, date | None] = {}
    for i, period in enumerate(periods):
        ppath = f"{path}.periods[{i}]"
        _keys(period, _PERIOD_KEYS, ppath)
        start = _day(period.get("effective_from"), f"{ppath}.effective_from")
        end = period.get("effective_to")
        if end is not None and _day(end, f"{ppath}.effective_to") <= start:
            _fail(f"{ppath}.effective_to", "must be after effective_from")
        if period.get("source") not in sources and not partial:
            _fail(f"{ppath}.source", f"unknown source {period.get('source')!r}")
        platform = period.get("platform", "gemini")
        if platform not in ("gemini", "vertex_ai"):
            _fail(f"{ppath}.platform", 'expected "gemini" or "vertex_ai"')
        if platform in last_end:
            previous_end = last_end[platform]
            if previous_end is None or start < previous_end:
                _fail(ppath, "periods of one platform must be ascending and must not overlap")
        last_end[platform] = date.fromisoformat(end) if end else None
        if "standard" not in period:
            _fail(ppath, 'every period prices the "standard" tier')
        for tier in SERVICE_TIERS:
            if tier in period:
                _tier(period[tier], f"{ppath}.{tier}")
