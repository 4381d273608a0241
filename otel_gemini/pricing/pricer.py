"""The billing context around the engine: which plan a project is on, what a tuned model bills as, where a Vertex
call was served, and how much of a free grounding allowance is left.

The engine prices one usage against one rate card; these are the facts about the *account* that decide which card
and what multiplier, and they are the same for an instrumented app and for the agent, so they live here, with no
knowledge of the SDK or of OpenTelemetry (model ids, usage and instants in, :class:`Cost` out).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal

from otel_gemini import _guard
from otel_gemini.pricing import engine, pacific, whatif
from otel_gemini.pricing.bill import Facts, bill
from otel_gemini.pricing.engine import Cost, CostLine
from otel_gemini.pricing.specs import parse_billing_tier, parse_grounding_allowance, parse_tuned_models
from otel_gemini.pricing.table import PriceTable, RateCard
from otel_gemini.usage import Usage

_ONE = Decimal(1)


class GroundingAllowance:
    """Free grounding units per allowance group and Pacific day or month, as counted by this process.

    Google's allowance is per project and shared by every process that uses it; one process cannot see the
    others, which is why the default (``none``) charges every unit at list price and the ``gemini_grounding_units``
    counter lets Prometheus apply the allowance across replicas (docs/configuration.md).
    """

    def __init__(self, spec: str = "none") -> None:
        self.mode, self.groups = parse_grounding_allowance(spec)
        self._used: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def billable(self, grounding: Mapping[str, object], units: int, at: float) -> int:
        """How many of ``units`` fall beyond the free allowance of their group's current window."""
        group = str(grounding.get("allowance_group", ""))
        allowance = self.groups.get(group)
        if allowance is None:
            allowance = int(grounding.get("free_allowance", 0)) if self.mode == "table" else 0  # type: ignore[call-overload]
        if allowance <= 0:
            return units
        day = pacific.pacific_date(at)
        window = day.isoformat() if grounding.get("allowance_period", "day") == "day" else day.isoformat()[:7]
        with self._lock:
            if len(self._used) > 1000:  # old windows: keep the map small
                self._used = {k: v for k, v in self._used.items() if k[1] == window}
            used = self._used.get((group, window), 0)
            self._used[(group, window)] = used + units
        free = max(0, min(units, allowance - used))
        return units - free


class Pricer:
    """Prices tokens, media units, cache storage and grounding for one account's configuration."""

    def __init__(
        self,
        table: PriceTable,
        *,
        billing_tier: str = "tier1",
        tuned_models: str | Mapping[str, str] = "",
        grounding_allowance: str = "none",
        markup: Decimal = _ONE,
    ) -> None:
        self.table = table
        self.default_tier, self._model_tiers = parse_billing_tier(billing_tier)
        mapping = parse_tuned_models(tuned_models) if isinstance(tuned_models, str) else dict(tuned_models)
        self._tuned: dict[str, str] = {}
        for tuned, base in mapping.items():
            self.learn_tuned(tuned, base)
        self.allowance = GroundingAllowance(grounding_allowance)
        self.markup = markup
        self.whatif: tuple[whatif.Scenario, ...] = ()
        """What-if scenarios every priced response is also billed under (OTEL_GEMINI_WHATIF); empty: none."""

    # -- which model, which plan -----------------------------------------------------------------------------

    def learn_tuned(self, tuned: str | None, base: str | None) -> None:
        """Remember what a tuned model bills as (from the user's mapping or the tuning job's metadata)."""
        if tuned and base and len(self._tuned) < 10_000:
            self._tuned[tuned] = base
            self._tuned[tuned.rsplit("/", 1)[-1]] = base

    def resolve(self, model: str | None) -> tuple[str | None, bool]:
        """(price-table id, is a tuned model) of a requested or served model name."""
        model_id = self.table.normalize(model)
        if model_id is not None or not model:
            return model_id, False
        base = self._tuned.get(model) or self._tuned.get(model.rsplit("/", 1)[-1])
        return (self.table.normalize(base), True) if base else (None, False)

    def billing_tier(self, model_id: str | None) -> str:
        if model_id is not None and self._model_tiers:
            return self._model_tiers.get(model_id, self.default_tier)
        return self.default_tier

    def _free(self, model_id: str | None) -> bool:
        if self.billing_tier(model_id) != "free":
            return False
        if model_id is not None and self.table.free_tier(model_id) is False:
            _guard.warn_once(
                f"not-free:{model_id}", "otel-gemini: %s is not offered on the free tier, yet a call to it succeeded "
                "with OTEL_GEMINI_BILLING_TIER=free; pricing it at the paid rate.", model_id,
            )
            return False
        return True

    def multiplier(self, platform: str, location: str | None, tuned: bool, at: float) -> Decimal:
        """The account's markup times the platform adjustments in force (Vertex regional, tuned endpoints)."""
        factor = self.markup
        if location and location != "global":
            regional = self.table.adjustment(platform, "regional_endpoint", at)
            if regional is not None:
                factor *= regional[0]
        if tuned:
            adjustment = self.table.adjustment(platform, "tuned_model", at)
            if adjustment is not None:
                factor *= adjustment[0]
        return factor

    def unpriced(self, model: str | None, model_id: str | None, tier: str) -> Cost:
        _guard.warn_once(
            f"unpriced:{model}", "otel-gemini: no price for model %r; its calls are counted as "
            "gemini_pricing_status=\"unpriced\" and carry no cost. Add it with an OTEL_GEMINI_PRICES file or "
            "`otel-gemini prices update` (picked up without a restart).", model,
        )
        return Cost(engine.UNPRICED, model_id=model_id, service_tier=tier)

    def finish(self, cost: Cost, model_id: str | None) -> Cost:
        """Free-tier projects pay nothing; what the same work would have cost is kept as ``list_price``."""
        if cost.status == engine.PRICED and self._free(model_id):
            return Cost(engine.FREE, (), cost.model_id, cost.service_tier, cost.long_context, cost.source, cost.total)
        return cost

    # -- what is billed -------------------------------------------------------------------------------------

    def _card(
        self, model: str | None, at: float, platform: str, tier: str = "standard"
    ) -> tuple[RateCard | None, str | None, bool]:
        model_id, tuned = self.resolve(model)
        card = self.table.rate_card(model_id, at=at, service_tier=tier, platform=platform) if model_id else None
        return card, model_id, tuned

    def _scaled(self, card: RateCard, line: CostLine | None, model_id: str | None, factor: Decimal) -> Cost | None:
        if line is None:
            return None
        if factor != _ONE:
            line = CostLine(line.cost_type, line.modality, line.amount * factor)
        return self.finish(Cost(engine.PRICED, (line,), card.model_id, card.service_tier, False, card.source), model_id)

    def units(
        self, model: str | None, unit: str, count: int | Decimal, *, at: float, variant: str = "default",
        platform: str = "gemini", location: str | None = None, service_tier: str = "standard",
    ) -> Cost:
        """Per-unit media: images returned (Imagen), seconds of video generated (Veo), songs (Lyria)."""
        card, model_id, tuned = self._card(model, at, platform, service_tier)
        if card is None:
            return self.unpriced(model, model_id, service_tier)
        factor = self.multiplier(platform, location, tuned, at)
        cost = self._scaled(card, engine.price_units(card, unit, count, variant), model_id, factor)
        return cost if cost is not None else self.unpriced(model, model_id, service_tier)

    def cache_storage(
        self, model: str | None, tokens: int, seconds: Decimal | int, *, at: float, platform: str = "gemini",
        location: str | None = None,
    ) -> Cost:
        """Explicit context-cache storage for ``seconds`` of real lifetime (a model with no storage rate: unpriced)."""
        card, model_id, tuned = self._card(model, at, platform)
        if card is None:
            return self.unpriced(model, model_id, "standard")
        factor = self.multiplier(platform, location, tuned, at)
        cost = self._scaled(card, engine.price_cache_storage(card, tokens, seconds), model_id, factor)
        return cost if cost is not None else self.unpriced(model, model_id, "standard")

    def cache_write(
        self, model: str | None, usage: Usage, *, at: float, platform: str = "gemini", location: str | None = None,
    ) -> Cost:
        """Creating an explicit cache bills its tokens once at the input rate (as ``cache_write``)."""
        facts = Facts(usage, model, at=at, platform=platform, location=location)
        cost = bill(self, facts, whatif_scenarios=False).charges[0].cost
        lines = tuple(CostLine("cache_write", line.modality, line.amount) for line in cost.lines)
        return Cost(cost.status, lines, cost.model_id, cost.service_tier, cost.long_context, cost.source,
                    cost.list_price)
