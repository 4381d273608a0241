"""Peers' published price data (litellm's model price JSON, pydantic genai-prices' data.json) read as our rate keys.

``otel-gemini prices check --against FILE`` compares the table with what other projects charge; this module turns
one downloaded peer file into :class:`PeerModel` entries whose ``rates`` use the same keys as
:func:`otel_gemini.pricing.compare.rate_map` (``standard.input``, ``batch.long_context.output``,
``standard.output[audio]``, ``standard.per_second[4k]``, ...), in USD per 1M tokens (per unit for per-unit prices).

Peer figures are read with ``parse_float=Decimal`` (never through a binary float) and rounded to
:data:`SIGNIFICANT_DIGITS` significant digits: litellm stores per-token prices such as ``3.0000000000000004e-07``,
whose float noise would otherwise show up as a disagreement. Peer keys with no counterpart in our format (per
character, per audio second, ``_above_128k_tokens``, maps grounding, ...) are ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SIGNIFICANT_DIGITS = 6
_ROUND = Context(prec=SIGNIFICANT_DIGITS)
_MILLION = Decimal(1_000_000)
LONG_THRESHOLD = 200_000
"""The only prompt-size tier Gemini prices have; a peer's other thresholds are not compared."""

# litellm: per-token field stems -> our class[modality]; suffixes -> long context and service tier.
_LITELLM_STEMS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "input_cost_per_audio_token": "input[audio]",
    "cache_read_input_audio_token_cost": "cache_read[audio]",
    "input_cost_per_image_token": "input[image]",
    "input_cost_per_video_token": "input[video]",
    "output_cost_per_audio_token": "output[audio]",
    "output_cost_per_image_token": "output[image]",
}
_LITELLM_TIERS = {"": "standard", "_batches": "batch", "_flex": "flex", "_priority": "priority"}
_LITELLM_FIELD = re.compile(r"^(?P<stem>[a-z_]+?)(?P<long>_above_200k_tokens)?(?P<tier>_batches|_flex|_priority)?$")
_GEMINI_FAMILIES = ("gemini", "gemma", "imagen", "veo", "lyria", "learnlm")

# genai-prices: ModelPrice keys -> our class[modality].
_GENAI_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "input_audio_mtok": "input[audio]",
    "cache_audio_read_mtok": "cache_read[audio]",
    "output_audio_mtok": "output[audio]",
    "input_image_mtok": "input[image]",
    "output_image_mtok": "output[image]",
    "input_video_mtok": "input[video]",
}
_GENAI_VARIANTS = {("processing", "batch"): "batch", ("service_tier", "flex"): "flex",
                   ("service_tier", "priority"): "priority"}


class PeerFileError(ValueError):
    """The file is missing, not JSON, or in neither known format."""


@dataclass(frozen=True)
class PeerModel:
    """One model of a peer file: its id there, its rates in our keys, and how the peer matches request ids."""

    key: str
    rates: Mapping[str, Decimal]
    retired_on: str | None = None
    matches: Callable[[str], bool] | None = field(default=None, compare=False)
    """genai-prices: the model's ``match`` clause; litellm matches by exact key only (None)."""


@dataclass(frozen=True)
class PeerData:
    format: str
    models: list[PeerModel]


def rounded(value: Decimal) -> Decimal:
    """A rate at SIGNIFICANT_DIGITS significant digits, trailing zeros dropped: the unit of comparison."""
    return _ROUND.plus(value).normalize() if value else Decimal(0)


def _number(value: Any, where: str) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise PeerFileError(f"{where}: not a number: {value!r}") from None
    return None


def load(path: str | Path, at: date) -> PeerData:
    """Read a peer file and resolve its prices as of the Pacific day ``at`` (genai-prices keeps dated prices)."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle, parse_float=Decimal)
    except OSError as problem:
        raise PeerFileError(f"cannot read {path}: {problem.strerror or problem}") from None
    except (ValueError, UnicodeDecodeError) as problem:
        raise PeerFileError(f"{path} is not JSON: {problem}") from None
    if isinstance(raw, list) and raw and all(isinstance(p, Mapping) and "models" in p for p in raw):
        return PeerData("genai-prices", _genai_prices(raw, at))
    if isinstance(raw, Mapping) and any(isinstance(v, Mapping) and "litellm_provider" in v for v in raw.values()):
        return PeerData("litellm", _litellm(raw))
    raise PeerFileError(f"{path}: neither litellm's model price JSON nor genai-prices' data.json")


# -- litellm ---------------------------------------------------------------------------------------------------


def _litellm(raw: Mapping[str, Any]) -> list[PeerModel]:
    """Developer API entries only (``litellm_provider: gemini``); Vertex entries price another platform."""
    models = []
    for key, entry in raw.items():
        if not isinstance(entry, Mapping) or entry.get("litellm_provider") != "gemini":
            continue
        rates: dict[str, Decimal] = {}
        for name, value in entry.items():
            match = _LITELLM_FIELD.match(name)
            if not match or match["stem"] not in _LITELLM_STEMS:
                continue
            amount = _number(value, f"{key}.{name}")
            if amount is not None:
                tier = _LITELLM_TIERS[match["tier"] or ""]
                long = "long_context." if match["long"] else ""
                rates[f"{tier}.{long}{_LITELLM_STEMS[match['stem']]}"] = rounded(amount * _MILLION)
        units = _litellm_units(key, entry)
        rates.update(units)
        search = entry.get("search_context_cost_per_query")
        if isinstance(search, Mapping):
            search = search.get("search_context_size_medium", next(iter(search.values()), None))
        per_query = _number(search, f"{key}.search_context_cost_per_query")
        if per_query is not None:
            rates["standard.grounding.per_1000"] = rounded(per_query * 1000)
        if units:  # per-unit models: litellm's 0 token prices are placeholders, as ours are
            rates = {k: v for k, v in rates.items() if not (v == 0 and k.split(".")[1] in ("input", "output"))}
        models.append(PeerModel(key, rates, entry.get("deprecation_date")))
    return models


def _litellm_units(key: str, entry: Mapping[str, Any]) -> dict[str, Decimal]:
    rates = {}
    image = _number(entry.get("output_cost_per_image"), f"{key}.output_cost_per_image")
    if image is not None:
        # litellm prices Lyria songs in output_cost_per_image (one "image" per generated clip or song).
        rates["standard.per_song" if "lyria" in key else "standard.per_image"] = rounded(image)
    for suffix, variant in (("", ""), ("_720p", "[720p]"), ("_1080p", "[1080p]"), ("_4k", "[4k]")):
        second = _number(entry.get(f"output_cost_per_second{suffix}"), f"{key}.output_cost_per_second{suffix}")
        if second is not None:
            rates[f"standard.per_second{variant}"] = rounded(second)
    return rates


def litellm_model_id(key: str) -> str:
    """litellm keys carry a ``gemini/`` provider prefix (not always); the rest is a Gemini model id."""
    return key.split("/", 1)[1] if key.startswith("gemini/") else key


# -- genai-prices ----------------------------------------------------------------------------------------------


def _genai_prices(providers: list[Any], at: date) -> list[PeerModel]:
    models = []
    for provider in providers:
        if provider.get("id") != "google":
            continue
        for model in provider.get("models", ()):
            model_id = str(model.get("id", ""))
            if not model_id.startswith(_GEMINI_FAMILIES):
                continue  # Claude on Vertex also sits under "google"
            standard = _genai_rates("standard", _genai_current(model.get("prices"), at), model_id)
            rates = dict(standard)
            tiers = set()
            for variant in model.get("price_variants") or ():
                tier = _GENAI_VARIANTS.get(next(iter((variant.get("when") or {}).items()), ("", "")))
                if tier is None or not _active(variant.get("constraint"), at):
                    continue
                tiers.add(tier)
                for name, amount in _genai_rates(tier, variant.get("prices") or {}, model_id).items():
                    rates.setdefault(name, amount)  # genai-prices: the first active variant wins, key by key
            for tier in tiers:  # a variant overrides some keys; genai-prices charges the rest at standard
                for name, amount in standard.items():
                    if not name.endswith("grounding.per_1000"):  # search fees are not tier-scaled
                        rates.setdefault(f"{tier}.{name.split('.', 1)[1]}", amount)
            clause = model.get("match")
            models.append(PeerModel(model_id, rates, None, functools.partial(_clause, clause)))
    return models


def _active(constraint: Mapping[str, Any] | None, at: date) -> bool:
    """A start_date constraint (a UTC day in genai-prices; compared with our Pacific day); time-of-day ones never."""
    if not constraint:
        return True
    if "start_date" in constraint:
        return date.fromisoformat(str(constraint["start_date"])) <= at
    return False


def _genai_current(prices: Any, at: date) -> Mapping[str, Any]:
    """A ModelPrice, or the last active entry of a list of ConditionalPrice (genai-prices' own rule)."""
    if isinstance(prices, Mapping):
        return prices
    if not isinstance(prices, list) or not prices:
        return {}
    for conditional in reversed(prices):
        if _active(conditional.get("constraint"), at):
            return conditional.get("prices") or {}
    return prices[0].get("prices") or {}


def _genai_rates(tier: str, prices: Mapping[str, Any], model_id: str) -> dict[str, Decimal]:
    rates = {}
    for name, value in prices.items():
        if name == "web_searches_kcount":
            amount = _number(value, f"{model_id}.{name}")
            if amount is not None:
                rates[f"{tier}.grounding.per_1000"] = rounded(amount)
            continue
        ours = _GENAI_KEYS.get(name)
        if ours is None:
            continue
        if isinstance(value, Mapping):  # TieredPrices: {"base": .., "tiers": [{"start": 200000, "price": ..}]}
            base = _number(value.get("base"), f"{model_id}.{name}.base")
            for step in value.get("tiers") or ():
                if step.get("start") == LONG_THRESHOLD:
                    long = _number(step.get("price"), f"{model_id}.{name}.tiers")
                    if long is not None:
                        rates[f"{tier}.long_context.{ours}"] = rounded(long)
        else:
            base = _number(value, f"{model_id}.{name}")
        if base is not None:
            rates[f"{tier}.{ours}"] = rounded(base)
    return rates


def _clause(clause: Any, name: str) -> bool:
    """genai-prices' match logic (equals, starts_with, ends_with, contains, regex, or, and) on a lower-case id."""
    if not isinstance(clause, Mapping):
        return False
    if "equals" in clause:
        return name == clause["equals"]
    if "starts_with" in clause:
        return name.startswith(clause["starts_with"])
    if "ends_with" in clause:
        return name.endswith(clause["ends_with"])
    if "contains" in clause:
        return clause["contains"] in name
    if "regex" in clause:
        try:
            return re.search(clause["regex"], name) is not None
        except re.error:
            return False
    if "or" in clause:
        return any(_clause(c, name) for c in clause["or"])
    if "and" in clause:
        return all(_clause(c, name) for c in clause["and"])
    return False
