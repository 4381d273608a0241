"""Priced: the billing rules that turn one HTTP response's usage into dollars, in Decimal.

Each rule cites where Google states it (see ../shared billing reference §2 in the repository history, and
docs/pricing-rules.md for the list with the test that pins each one):

* cost is per HTTP response, never per SDK call (continuations and function-calling rounds are billed apart);
* non-2xx responses cost nothing ("If your request fails with a 400 or 500 error, you won't be charged");
* uncached input by modality; cached input at the cache rate, never counted twice;
* output = candidates + thoughts ("Output price (including thinking tokens)"), image/audio output at their rates;
* tool-use prompt tokens bill as input, except Search/Maps retrieved context ("not charged as input tokens");
* the >200k cliff: a prompt over the threshold moves input, cache and output of the whole request;
* the service tier as served, and the price period of the request's (Pacific) date;
* an unknown model is *unpriced*, never $0.

Nothing here knows OpenTelemetry or the SDK: usage in, Decimal out. Which model, tier, instant and fees apply to
one response is decided once, in :mod:`otel_gemini.pricing.bill`, for every door.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from otel_gemini.pricing.table import RateCard, Rates
from otel_gemini.usage import Usage

PRICED, FREE, UNBILLED, UNPRICED, UNMETERED = "priced", "free", "unbilled", "unpriced", "unmetered"
PRICING_STATUSES = (PRICED, FREE, UNBILLED, UNPRICED, UNMETERED)
COST_TYPES = ("input", "cache_read", "output", "reasoning", "cache_write", "cache_storage", "grounding", "media")
SERVICE_TIERS = ("standard", "flex", "priority", "batch")
_ZERO = Decimal(0)


class CostLine(NamedTuple):
    cost_type: str
    modality: str
    amount: Decimal


@dataclass(slots=True)
class Cost:
    """The bill of one response: its status, its lines by cost type and modality, and what priced it."""

    status: str
    lines: tuple[CostLine, ...] = ()
    model_id: str | None = None
    service_tier: str = "standard"
    long_context: bool = False
    source: str | None = None
    list_price: Decimal | None = None
    """For a free-tier call: what the same usage would have cost on a paid tier."""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), _ZERO)


def normalize_tier(tier: str | None) -> str:
    """Map the header / usageMetadata / SDK enum spellings onto the closed label set."""
    if not tier:
        return "standard"
    name = str(getattr(tier, "value", tier)).lower()
    for known in SERVICE_TIERS:
        if known in name:
            return known
    return "standard"


def _lines(cost_type: str, counts: Mapping[str, int], rates: Rates) -> list[CostLine]:
    return [CostLine(cost_type, modality, tokens * rates.of(modality)) for modality, tokens in counts.items() if tokens]


def price_usage(
    card: RateCard,
    usage: Usage,
    *,
    grounded_retrieval: bool = False,
    markup: Decimal = Decimal(1),
) -> Cost:
    """Apply the token rules to one response's usage with the rates already chosen for it."""
    long = card.long_threshold is not None and usage.prompt_tokens > card.long_threshold
    input_rates = (card.long_input if long else None) or card.input
    output_rates = (card.long_output if long else None) or card.output
    if input_rates is None or output_rates is None:
        return Cost(UNPRICED, model_id=card.model_id, service_tier=card.service_tier)
    cache_rates = (card.long_cache_read if long else None) or card.cache_read or input_rates
    lines = _lines("input", usage.input, input_rates)
    lines += _lines("cache_read", usage.cache_read, cache_rates)
    if not grounded_retrieval:
        lines += _lines("input", usage.tool_use, input_rates)
    lines += _lines("output", usage.output, output_rates)
    if usage.reasoning:
        lines.append(CostLine("reasoning", "text", usage.reasoning * output_rates.of("text")))
    if markup != 1:
        lines = [CostLine(line.cost_type, line.modality, line.amount * markup) for line in lines]
    return Cost(PRICED, tuple(lines), card.model_id, card.service_tier, long, card.source)


def price_cache_storage(card: RateCard, tokens: int, seconds: Decimal | int) -> CostLine | None:
    """Explicit cache storage: tokens × hours of real lifetime × the model's storage rate (None: not offered)."""
    if card.cache_storage_per_token_hour is None:
        return None
    # Divide last: dividing first rounds at Decimal's 28th digit (a 600 s slice would cost 0.0750…0002).
    return CostLine("cache_storage", "text", tokens * Decimal(seconds) * card.cache_storage_per_token_hour / 3600)


def price_units(card: RateCard, unit: str, count: int | Decimal, variant: str = "default") -> CostLine | None:
    """Per-unit media (``per_image`` for Imagen, ``per_second`` for Veo, ``per_song`` for Lyria)."""
    prices = card.per_unit.get(unit)
    if prices is None:
        return None
    price = prices.get(variant, prices["default"])
    modality = {"per_image": "image", "per_second": "video", "per_song": "audio"}[unit]
    return CostLine("media", modality, Decimal(count) * price)
