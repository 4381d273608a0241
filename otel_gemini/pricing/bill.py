"""One bill: the facts of one billed HTTP response in, its charges and pricing status out.

Every door prices a Gemini response through :func:`bill`: the library's hops (instrumentation/_call.py), the
agent's spans (agent/pipeline.py, its sampling weight included), ``otel-gemini price``, batch results and
interactions. The resolution rules live here once, so the same response gets the same Decimal bill whichever
door it comes through (tests/pricing/test_bill_parity.py drives every rule case through three of them):

* **which model**: the served model (``modelVersion``) wins, unless the table does not know it while it knows the
  requested one and the served id is a version of it (``gemini-2.5-flash-exp-0420`` bills as requested; a
  request routed to an unknown model is unpriced); a requested tuned model keeps the tuned
  multiplier even when the response names its base model;
* **which tier**: as served, the ``x-gemini-service-tier`` header first, else ``usageMetadata.serviceTier``;
* **which instant**: the request's start (``Facts.at``): Google's dated prices apply to the request's date;
* **grounding**: the unit (per grounded prompt or per search query) is the rate card's, never guessed from the
  model's name;
* a failed HTTP request is never charged; an unknown model is *unpriced*, never $0.

Built to be made fast later: the table resolves a model's rates once per (model, tier, platform, period) into a
cached :class:`~otel_gemini.pricing.table.RateCard`, so a bill is a few dict lookups and Decimal products.
``pricer.table`` is read at bill time (never cached here) so a reloaded table takes effect on the next call.
Nothing here knows OpenTelemetry or the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from otel_gemini import _guard
from otel_gemini.pricing import engine, whatif
from otel_gemini.pricing.engine import Cost, CostLine
from otel_gemini.pricing.table import RateCard
from otel_gemini.usage import Usage

if TYPE_CHECKING:
    from otel_gemini.pricing.pricer import Pricer

_ONE = Decimal(1)
SEARCH = "google_search"


@dataclass(slots=True)
class Charge:
    """One billed thing: a response's tokens, a cache's storage, images, seconds of video, grounding units.

    ``operation``/``request_model`` label the charge when it is not the call's own work (a batch job's results
    read by ``batches.get`` are ``generate_content`` on the job's model); None means the call's labels.
    """

    cost: Cost
    usage: Usage | None = None
    operation: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    grounding: tuple[tuple[str, str, int], ...] = ()
    """(tool, unit, count) of billable grounding units, before any free allowance."""
    whatif: tuple[tuple[str, Decimal], ...] = ()
    """(scenario, dollars) of the whole response priced another way (pricing/whatif.py); empty unless opted in."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What one billed response says about its own bill, whichever door it came through."""

    usage: Usage | None
    request_model: str | None
    served_model: str | None = None
    service_tier: str | None = None
    """The tier as served: the ``x-gemini-service-tier`` header (None: ``usage.service_tier``, else standard)."""
    grounding: tuple[tuple[str, int], ...] = ()
    """(tool, search queries) of the grounding the response used (≥ 1 for a grounded prompt without queries)."""
    at: float = 0.0
    """The request's start, epoch seconds: the instant whose (Pacific) date picks the price period."""
    platform: str = "gemini"
    location: str | None = None
    http_failed: bool = False
    weight: Decimal = _ONE
    """How many calls the response stands for (the agent's 1/p for a sampled span): multiplies every dollar."""


@dataclass(slots=True)
class Bill:
    """The charges of one response (its tokens, then any grounding fees) and the status they add up to."""

    status: str
    charges: list[Charge] = field(default_factory=list)
    model_id: str | None = None
    service_tier: str = "standard"

    @property
    def lines(self) -> tuple[CostLine, ...]:
        return tuple(line for charge in self.charges for line in charge.cost.lines)

    @property
    def total(self) -> Decimal:
        return sum((charge.cost.total for charge in self.charges), Decimal(0))

    @property
    def list_price(self) -> Decimal | None:
        prices = [charge.cost.list_price for charge in self.charges if charge.cost.list_price is not None]
        return sum(prices, Decimal(0)) if prices else None

    @property
    def long_context(self) -> bool:
        return any(charge.cost.long_context for charge in self.charges)

    @property
    def source(self) -> str | None:
        return next((charge.cost.source for charge in self.charges if charge.cost.source), None)


def status_of(charges: list[Charge]) -> str:
    """The most telling status of some charges: one unpriced charge makes the whole cost incomplete."""
    statuses = {charge.cost.status for charge in charges}
    for status in (engine.UNPRICED, engine.UNMETERED, engine.FREE, engine.PRICED):
        if status in statuses:
            return status
    return engine.UNBILLED


def scaled(cost: Cost, factor: Decimal) -> Cost:
    """Every line (and the free tier's list price) times ``factor``."""
    if factor == _ONE:
        return cost
    lines = tuple(CostLine(line.cost_type, line.modality, line.amount * factor) for line in cost.lines)
    list_price = cost.list_price * factor if cost.list_price is not None else None
    return Cost(cost.status, lines, cost.model_id, cost.service_tier, cost.long_context, cost.source, list_price)


def billed_model(
    pricer: Pricer, request_model: str | None, served_model: str | None,
) -> tuple[str | None, str | None, bool]:
    """(model name priced, table id, tuned): the served model unless unknown; a requested tuned model stays tuned."""
    request_id, request_tuned = pricer.resolve(request_model)
    if served_model:
        served_id, served_tuned = pricer.resolve(served_model)
        if served_id is not None or request_id is None or not _version_of(served_model, request_id):
            return served_model, served_id, served_tuned or request_tuned
    return request_model, request_id, request_tuned


def _version_of(served_model: str, request_id: str) -> bool:
    """Whether an unknown served id is a snapshot of the requested model (``gemini-2.5-flash-exp-0420``).

    Only then does the requested model's price stand in. A request routed to a model the table does not know
    (a shut-down id served by its successor, "billed at the new model's rates") stays unpriced and is named,
    never billed at the old model's rates.
    """
    name = served_model.strip().lower().rsplit("/", 1)[-1]
    return name.startswith(request_id + "-")


def bill(pricer: Pricer, facts: Facts, *, whatif_scenarios: bool = True) -> Bill:
    """Price one billed HTTP response: status first (failed, unmetered, unknown model), then tokens, then fees.

    With what-ifs configured (``pricer.whatif``), a priced response is priced again once per scenario, by the same
    rules, and the amounts ride on its first charge (never added to its cost). ``whatif_scenarios=False`` for a
    bill that is not a response's (a cache write: no Batch or Flex price applies to it).
    """
    result = _bill(pricer, facts)
    if whatif_scenarios and pricer.whatif and result.status == engine.PRICED:
        try:
            result.charges[0].whatif = whatif.costs(
                pricer.whatif, facts, result, lambda other: _bill(pricer, other, quiet=True),
            )
        except Exception as failure:  # a scenario must never cost the real bill
            _guard.report("whatif", failure)
    return result


def _bill(pricer: Pricer, facts: Facts, *, quiet: bool = False) -> Bill:
    """The bill itself; ``quiet`` for a what-if scenario, whose unpriced tier or model is no user's problem to log."""
    usage = facts.usage
    tier = engine.normalize_tier(facts.service_tier or (usage.service_tier if usage else None))
    if facts.http_failed:
        return Bill(engine.UNBILLED, [Charge(Cost(engine.UNBILLED, service_tier=tier))], None, tier)
    model, model_id, tuned = billed_model(pricer, facts.request_model, facts.served_model)
    at, platform = facts.at, facts.platform
    grounded = any(count for _tool, count in facts.grounding)
    card = pricer.table.rate_card(model_id, at=at, service_tier=tier, platform=platform) if model_id else None
    # The account's factor only where a price is applied (a card, for tokens or a grounding fee).
    factor = pricer.multiplier(platform, facts.location, tuned, at) * facts.weight if card or grounded else _ONE
    if usage is None:
        cost = Cost(engine.UNMETERED, model_id=model_id, service_tier=tier)
    elif card is None:
        cost = Cost(engine.UNPRICED, model_id=model_id, service_tier=tier) if quiet else pricer.unpriced(
            model, model_id, tier,
        )
    else:
        cost = pricer.finish(engine.price_usage(card, usage, grounded_retrieval=grounded, markup=factor), model_id)
    charges = [Charge(cost, usage)]
    if grounded:
        base = card if tier == "standard" else (
            pricer.table.rate_card(model_id, at=at, platform=platform) if model_id else None
        )
        for tool, queries in facts.grounding:
            fee = _grounding(pricer, base, model_id, tool, queries, at, factor)
            if fee is not None:
                charges.append(fee)
    return Bill(status_of(charges), charges, model_id, tier)


def _grounding(
    pricer: Pricer, card: RateCard | None, model_id: str | None, tool: str, queries: int, at: float,
    factor: Decimal,
) -> Charge | None:
    """A grounding fee in the unit the rate card names: per grounded prompt (one) or per executed search query.

    Maps grounding has its own fee the table does not carry yet: its units are counted and the charge is unpriced
    rather than charged at the Search rate. A model whose card has no grounding price charges no fee.
    """
    if not queries:
        return None
    grounding = card.grounding if card is not None else None
    unit = str(grounding["unit"]) if grounding else "prompt"
    units = queries if unit == "query" else 1
    if tool != SEARCH:
        return Charge(Cost(engine.UNPRICED, model_id=model_id), grounding=((tool, unit, units),))
    if card is None or grounding is None:
        return None
    billable = pricer.allowance.billable(grounding, units, at)
    line = CostLine("grounding", "text", billable * Decimal(grounding["per_1000"]) / 1000 * factor)
    cost = pricer.finish(Cost(engine.PRICED, (line,), card.model_id, "standard", False, card.source), model_id)
    return Charge(cost, grounding=((tool, unit, units),))
