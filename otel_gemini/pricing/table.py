"""The price table: the bundled file, a user's overrides merged over it, and the lookups pricing needs.

Lookups happen on every billed response, so everything the engine asks for (a model's rates for one platform,
service tier and date) is resolved once into a :class:`RateCard` of Decimals and cached; a call then costs a
dict lookup and an interval check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from otel_gemini.pricing import pacific
from otel_gemini.pricing.schema import PriceTableError, validate

_PREFIX = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/google/|google/)?(?:tunedmodels/|models/)?")
_VERSION_SUFFIX = re.compile(r"-(?:\d{3}|latest)$")
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Rates:
    """Per-token prices (already divided by one million) for one token class, by modality."""

    default: Decimal
    by_modality: Mapping[str, Decimal]

    def of(self, modality: str) -> Decimal:
        return self.by_modality.get(modality, self.default)

    @classmethod
    def parse(cls, raw: Any, scale: Decimal = Decimal(1)) -> Rates:
        if isinstance(raw, str):
            return cls(Decimal(raw) * scale / _MILLION, {})
        default = Decimal(raw["default"]) * scale / _MILLION
        return cls(default, {k: Decimal(v) * scale / _MILLION for k, v in raw.items() if k != "default"})


@dataclass(frozen=True)
class RateCard:
    """Everything needed to price one response of one model on one platform, tier and day."""

    model_id: str
    service_tier: str
    source: str
    effective_from: date
    input: Rates | None
    cache_read: Rates | None
    output: Rates | None
    long_threshold: int | None
    long_input: Rates | None
    long_cache_read: Rates | None
    long_output: Rates | None
    cache_storage_per_token_hour: Decimal | None
    grounding: Mapping[str, Any] | None
    per_unit: Mapping[str, Mapping[str, Decimal]]


def _day_start(day: str | None) -> float:
    """The first instant of a Pacific day (an exclusive ``effective_to``); no day: open ended."""
    return pacific.day_start_epoch(date.fromisoformat(day)) if day else float("inf")


@dataclass(frozen=True)
class _Window:
    start: float
    end: float
    platform: str
    period: Mapping[str, Any]


class PriceTable:
    """A validated price table with model-id normalisation and dated, tiered lookups."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        validate(raw)
        self.raw = raw
        self.checked_on = date.fromisoformat(raw["checked_on"])
        self.sources: Mapping[str, Mapping[str, str]] = raw["sources"]
        self._multipliers = {k: Decimal(v) for k, v in raw["tier_multipliers"].items() if k != "source"}
        self.models: Mapping[str, Mapping[str, Any]] = raw["models"]
        self._ids: dict[str, str] = {}
        for model_id, model in self.models.items():
            self._ids[model_id] = model_id
            for alias in model.get("aliases", ()):
                self._ids.setdefault(alias.lower(), model_id)
        self._windows: dict[str, list[_Window]] = {}
        for model_id, model in self.models.items():
            self._windows[model_id] = [
                _Window(
                    pacific.day_start_epoch(date.fromisoformat(p["effective_from"])),
                    _day_start(p.get("effective_to")),
                    p.get("platform", "gemini"),
                    p,
                )
                for p in model["periods"]
            ]
        self._adjustments = [
            (
                a["platform"], a["applies_to"], Decimal(a["factor"]), a["source"],
                pacific.day_start_epoch(date.fromisoformat(a["effective_from"])),
                _day_start(a.get("effective_to")),
            )
            for a in raw.get("adjustments", ())
        ]
        self._cards: dict[tuple[str, str, str, int], RateCard | None] = {}
        self._normalized: dict[str, str | None] = {}

    # -- model ids ---------------------------------------------------------------------------------------------

    def normalize(self, model: str | None) -> str | None:
        """The table id a requested or served model bills as, or None when the table does not know it."""
        if not model:
            return None
        try:
            return self._normalized[model]
        except KeyError:
            pass
        name = _PREFIX.sub("", model.strip().lower())
        found = self._ids.get(name)
        if found is None:
            found = self._ids.get(_VERSION_SUFFIX.sub("", name))
        if len(self._normalized) < 10_000:  # bounded: model strings come from users and servers
            self._normalized[model] = found
        return found

    # -- rates ---------------------------------------------------------------------------------------------

    def rate_card(
        self, model_id: str, *, at: float, service_tier: str = "standard", platform: str = "gemini",
    ) -> RateCard | None:
        """Rates of a normalised model at an instant, or None when that tier is not priced then."""
        windows = self._windows.get(model_id)
        if not windows:
            return None
        chosen: tuple[int, _Window] | None = None
        for index, window in enumerate(windows):
            if window.start <= at < window.end:
                if window.platform == platform:
                    chosen = (index, window)
                    break
                if window.platform == "gemini" and chosen is None:
                    chosen = (index, window)  # Vertex bills like the Developer API unless a Vertex row says otherwise
        if chosen is None:
            return None
        key = (model_id, service_tier, platform, chosen[0])
        if key not in self._cards:
            self._cards[key] = self._build(model_id, service_tier, chosen[1].period)
        return self._cards[key]

    def _build(self, model_id: str, service_tier: str, period: Mapping[str, Any]) -> RateCard | None:
        scale = Decimal(1)
        tier = period.get(service_tier)
        if tier is None:
            if service_tier not in self._multipliers:
                return None
            tier, scale = period["standard"], self._multipliers[service_tier]

        def rates(raw: Any) -> Rates | None:
            return None if raw is None else Rates.parse(raw, scale)

        long = tier.get("long_context") or {}
        storage = tier.get("cache_storage_per_hour")
        per_unit = {}
        for unit in ("per_image", "per_second", "per_song"):
            raw = tier.get(unit)
            if raw is not None:
                variants = {"default": raw} if isinstance(raw, str) else raw
                per_unit[unit] = {k: Decimal(v) * scale for k, v in variants.items()}
        return RateCard(
            model_id=model_id,
            service_tier=service_tier,
            source=period["source"],
            effective_from=date.fromisoformat(period["effective_from"]),
            input=rates(tier.get("input")),
            cache_read=rates(tier.get("cache_read")),
            output=rates(tier.get("output")),
            long_threshold=long.get("threshold"),
            long_input=rates(long.get("input")),
            long_cache_read=rates(long.get("cache_read")),
            long_output=rates(long.get("output")),
            # Storage is billed on the cache resource, not per request: no flex/priority scaling.
            cache_storage_per_token_hour=None if storage is None else Decimal(storage) / _MILLION,
            grounding=tier.get("grounding"),
            per_unit=per_unit,
        )

    def adjustment(self, platform: str, applies_to: str, at: float) -> tuple[Decimal, str] | None:
        """The (factor, source) of a platform-wide multiplier in force at an instant, e.g. Vertex regional +10%."""
        for a_platform, a_applies, factor, source, start, end in self._adjustments:
            if a_platform == platform and a_applies == applies_to and start <= at < end:
                return factor, source
        return None

    def free_tier(self, model_id: str) -> bool | None:
        """Whether the pricing page lists the model on the Free Tier (None: no source says)."""
        return self.models.get(model_id, {}).get("free_tier")

    def in_force(self, model_id: str, at: float) -> list[tuple[str, Mapping[str, Any]]]:
        """(platform, period) pairs of a model in force at an instant, for display."""
        return [(w.platform, w.period) for w in self._windows.get(model_id, ()) if w.start <= at < w.end]

    def source_url(self, source_id: str) -> str:
        return self.sources.get(source_id, {}).get("url", source_id)


def _bundled() -> dict[str, Any]:
    with resources.files("otel_gemini.pricing").joinpath("prices.json").open("r", encoding="utf-8") as handle:
        return json.load(handle)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides replace whole models (a partial model would silently mix two price lists) and add sources."""
    validate(override, partial=True)
    merged = dict(base)
    merged["sources"] = {**base.get("sources", {}), **override.get("sources", {})}
    merged["models"] = {**base.get("models", {}), **override.get("models", {})}
    for key in ("checked_on", "tier_multipliers", "adjustments"):
        if key in override:
            merged[key] = override[key]
    for model in override.get("models", {}).values():
        for period in model.get("periods", ()):
            if period.get("source") not in merged["sources"]:
                raise PriceTableError(f"override period names unknown source {period.get('source')!r}")
    return merged


def load(override_path: str | Path | None = None) -> PriceTable:
    """The bundled table, with the file at ``override_path`` merged over it."""
    raw = _bundled()
    if override_path:
        with open(override_path, encoding="utf-8") as handle:
            raw = merge(raw, json.load(handle))
    return PriceTable(raw)
