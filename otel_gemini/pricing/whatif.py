"""What the same responses would have cost another way: on Batch, on Flex, with a cached prefix, on another model.

Each scenario is the response's own :class:`~otel_gemini.pricing.bill.Facts` with one thing swapped, priced by the
one billing function (``pricing/bill.py``), so every rule applies per response: the >200k long-context cliff
(which token totals cannot reproduce), tuned multipliers, platform markups, the agent's sampling weight. The
amounts are exported under their own metric (``gemini_whatif_cost_usd_total``), never added to the real bill.

Opt-in (``OTEL_GEMINI_WHATIF``): every scenario is one more bill per response, a few µs each on the call path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from otel_gemini.usage import Usage

if TYPE_CHECKING:
    from otel_gemini.pricing.bill import Bill, Facts

ACTUAL = "actual"
"""The real bill of the responses the what-ifs were computed for: the baseline every saving is measured from."""
KINDS = ("batch", "flex", "cache")
MODEL_PREFIX = "model:"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One swap: a service tier, a share of the uncached input read from cache, or another model."""

    name: str
    tier: str | None = None
    cache_ratio: Decimal | None = None
    model: str | None = None

    def apply(self, facts: Facts) -> Facts:
        if self.tier is not None:
            return dataclasses.replace(facts, service_tier=self.tier)
        if self.model is not None:
            return dataclasses.replace(facts, request_model=self.model, served_model=None)
        usage = facts.usage
        if usage is None or self.cache_ratio is None:
            return facts
        return dataclasses.replace(facts, usage=cached(usage, self.cache_ratio))


def cached(usage: Usage, ratio: Decimal) -> Usage:
    """``usage`` with ``ratio`` of each modality's uncached input (rounded down) read from cache instead.

    ``prompt_tokens`` is unchanged: cached tokens still count towards the long-context threshold.
    """
    moved = {modality: int(count * ratio) for modality, count in usage.input.items()}
    cache_read = dict(usage.cache_read)
    for modality, count in moved.items():
        if count:
            cache_read[modality] = cache_read.get(modality, 0) + count
    return dataclasses.replace(
        usage, input={m: c - moved[m] for m, c in usage.input.items()}, cache_read=cache_read,
    )


def parse(kinds: str, models: str = "", cache_ratio: str = "0.5") -> tuple[Scenario, ...]:
    """``batch,flex,cache`` plus ``gemini-3.5-flash-lite,...``: the scenarios, in that order (ValueError if bad)."""
    out: list[Scenario] = []
    for kind in (k.strip().lower() for k in kinds.split(",") if k.strip()):
        if kind not in KINDS:
            raise ValueError(f"unknown what-if {kind!r} (expected {', '.join(KINDS)})")
        if kind == "cache":
            out.append(Scenario(kind, cache_ratio=parse_ratio(cache_ratio)))
        else:
            out.append(Scenario(kind, tier=kind))
    for model in (m.strip() for m in models.split(",") if m.strip()):
        if len(model) > 100:
            raise ValueError("a model name is at most 100 characters")
        out.append(Scenario(MODEL_PREFIX + model, model=model))
    if len({s.name for s in out}) != len(out):
        raise ValueError("a what-if is listed twice")
    return tuple(out)


def parse_ratio(value: str) -> Decimal:
    try:
        ratio = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not ratio.is_finite() or not 0 <= ratio <= 1:
        raise ValueError("a cache hit ratio is between 0 and 1")
    return ratio


def costs(
    scenarios: tuple[Scenario, ...], facts: Facts, actual: Bill, price: Callable[[Facts], Bill],
) -> tuple[tuple[str, Decimal], ...]:
    """(scenario, dollars) of one priced response, ``actual`` first.

    A scenario the table cannot price for this response (Batch on a model with no Batch price, an unknown what-if
    model) counts the response at its actual cost: it cannot move that way, so it saves nothing (never $0), and
    every scenario covers the same responses as ``actual``, so ``actual - scenario`` is the saving.
    """
    out = [(ACTUAL, actual.total)]
    for scenario in scenarios:
        other = price(scenario.apply(facts))
        out.append((scenario.name, other.total if other.status == actual.status else actual.total))
    return tuple(out)
