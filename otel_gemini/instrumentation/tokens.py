"""``models.count_tokens`` and ``models.compute_tokens`` (sync and async): spans and request counts, never a cost.

Token counting is not billed and does not count against inference quota (billing reference §2.12), so these calls
carry no charge and are counted with ``gemini_pricing_status="unbilled"``. Apps that count before every request
still see how often and how slowly they do it. The count the API returns describes the *input*, not tokens used,
so it goes on the span as ``gemini.count_tokens.total`` and never into ``gen_ai.usage.*`` or the token counters.
"""

from __future__ import annotations

from typing import Any

from otel_gemini import semconv
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, wrap
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine

TOTAL_ATTRIBUTE = semconv.COUNT_TOKENS_TOTAL


def _count_result(state: CallState, result: Any) -> None:
    total = getattr(result, "total_tokens", None)
    if total is not None:
        state.span.set_attribute(TOTAL_ATTRIBUTE, int(total))


def _compute_result(state: CallState, result: Any) -> None:
    """compute_tokens returns the token ids per content; their number is the same fact as count_tokens' total."""
    infos = getattr(result, "tokens_info", None)
    if infos is not None:
        state.span.set_attribute(TOTAL_ATTRIBUTE, sum(len(info.token_ids or ()) for info in infos))


OPERATIONS = {
    "count_tokens": Operation(semconv.OP_COUNT_TOKENS, on_result=_count_result, unmetered_status=engine.UNBILLED),
    "compute_tokens": Operation(semconv.OP_COMPUTE_TOKENS, on_result=_compute_result, unmetered_status=engine.UNBILLED),
}


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap both methods on ``Models`` and ``AsyncModels``."""
    wrapped = (
        wrap(telemetry, "google.genai.models", f"{cls}.{method}", op, is_async=is_async)
        for method, op in OPERATIONS.items()
        for cls, is_async in (("Models", False), ("AsyncModels", True))
    )
    return [pair for pair in wrapped if pair is not None]
