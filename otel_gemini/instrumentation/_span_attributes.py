"""What a finished call puts on its span: semconv usage per modality, cost, pricing status, response facts.

Kept apart from the call lifecycle (_call.py) because it is pure formatting: charges and the SDK's result in,
an attribute dict out, built only for spans that record.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from otel_gemini import semconv
from otel_gemini.pricing import engine
from otel_gemini.recording import Charge
from otel_gemini.usage import MODALITIES

_ZERO = Decimal(0)
_INPUT_TYPES = frozenset(("input", "cache_read", "tool_use"))
_INPUT_NAMES = {m: semconv.usage_input_of(m) for m in MODALITIES}
_OUTPUT_NAMES = {m: semconv.usage_output_of(m) for m in MODALITIES}
_CACHE_NAMES = {m: semconv.usage_cache_read_of(m) for m in MODALITIES}


def error_type_of(error: BaseException) -> str:
    """The HTTP status for API errors ("429"), as the official instrumentation does; else the exception's class."""
    code = getattr(error, "code", None)
    if not isinstance(code, int):
        code = getattr(error, "status_code", None)  # the Interactions client's errors
    if isinstance(code, int) and type(error).__module__.startswith("google."):
        return str(code)
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _reason(reason: Any) -> str:
    """"stop" from google-genai's str enum and from the legacy protos' IntEnum (value 1) alike."""
    value = getattr(reason, "value", reason)
    return str(value if isinstance(value, str) else getattr(reason, "name", value)).lower()


def span_attributes(
    charges: list[Charge], status: str, response_model: str, result: Any, ttfc: float | None, requests: int,
    plain_cost: bool = False,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {semconv.PRICING_STATUS: status}
    if response_model:
        attributes[semconv.RESPONSE_MODEL] = response_model
    if requests > 1:
        attributes[semconv.HTTP_REQUEST_COUNT] = requests
    if result is not None:
        response_id = getattr(result, "response_id", None)
        if response_id:
            attributes[semconv.RESPONSE_ID] = response_id
        reasons = [
            _reason(c.finish_reason)
            for c in (getattr(result, "candidates", None) or ())
            if c.finish_reason is not None
        ]
        if reasons:
            attributes[semconv.FINISH_REASONS] = reasons
    if ttfc is not None:
        attributes[semconv.TIME_TO_FIRST_CHUNK] = ttfc
    # One pass over the charges (this runs once per recorded span, on the call path): usage per modality, the
    # priced total (summed from Decimal(0) in charge order, as before: the same exact figure), tiers, sources.
    used = long_context = False
    input_tokens = output_tokens = cache_read = reasoning = tool_use = 0
    per_modality: dict[str, int] = {}
    priced = 0
    total = paid = _ZERO
    paid_seen = False
    tiers: set[str] = set()
    sources: set[str] = set()
    units = 0
    grounded = False
    for charge in charges:
        usage = charge.usage
        if usage is not None:
            used = True
            for token_type, modality, count in usage.token_classes():
                if token_type in _INPUT_TYPES:
                    input_tokens += count
                    name = _INPUT_NAMES[modality]
                    if token_type == "tool_use":
                        tool_use += count
                    elif token_type == "cache_read":
                        cache_read += count
                        cache_name = _CACHE_NAMES[modality]
                        per_modality[cache_name] = per_modality.get(cache_name, 0) + count
                else:
                    output_tokens += count
                    name = _OUTPUT_NAMES[modality]
                    if token_type == "reasoning":
                        reasoning += count
                per_modality[name] = per_modality.get(name, 0) + count
        cost = charge.cost
        if cost.status == engine.PRICED:
            priced += 1
            total += cost.total
            tiers.add(cost.service_tier)
            if cost.source:
                sources.add(cost.source)
            if cost.long_context:
                long_context = True
        if cost.list_price is not None:
            paid += cost.list_price
            paid_seen = True
        for _tool, _unit, count in charge.grounding:
            units += count
            grounded = True
    if used:
        attributes[semconv.USAGE_INPUT] = input_tokens
        attributes[semconv.USAGE_OUTPUT] = output_tokens
        attributes[semconv.USAGE_CACHE_READ] = cache_read
        attributes[semconv.USAGE_REASONING] = reasoning
        if tool_use:
            attributes[semconv.USAGE_TOOL_USE] = tool_use
        attributes.update(per_modality)
    if status != engine.UNPRICED and (priced or status in (engine.UNBILLED, engine.FREE)):
        attributes[semconv.COST_AMOUNT] = float(total)
        if plain_cost:
            attributes[semconv.COST_PLAIN] = attributes[semconv.COST_AMOUNT]
        attributes[semconv.COST_CURRENCY] = "USD"
        attributes[semconv.COST_SOURCE] = semconv.COST_SOURCE_LOCAL
        attributes[semconv.COST_USD_EXACT] = format(total.normalize(), "f")
        if len(tiers) == 1:
            attributes[semconv.SERVICE_TIER] = tiers.pop()
        if sources:
            attributes[semconv.PRICING_SOURCE] = sorted(sources)
        if long_context:
            attributes[semconv.PRICING_LONG_CONTEXT] = True
    if paid_seen:
        attributes[semconv.COST_PAID_TIER_EQUIVALENT] = float(paid)
    if grounded:
        attributes[semconv.GROUNDING_UNIT_COUNT] = units
    return attributes

