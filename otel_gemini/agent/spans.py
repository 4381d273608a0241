"""One received span in, one Gemini call out: the agent's reading of every GenAI attribute dialect.

Apps in other languages, and frameworks we do not own, describe the same Gemini call with different attribute
names and different meanings (is thinking inside ``output_tokens``? are cached tokens inside ``input_tokens``?).
This module turns each dialect into the one shape the library already prices: a generateContent REST
``usageMetadata`` dict, fed to :func:`otel_gemini.usage.extract_usage` and the Pricer downstream. Where a dialect
lacks what a billing rule needs, the call is still read and the gap is named, so the series can say so instead of
being silently low. Spans are hostile input: a malformed attribute is ignored, never raised on.

Knows nothing of OTLP or protobuf (the receiver flattens spans first) and never imports the instrumentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from otel_gemini import _guard, semconv
from otel_gemini.agent import dialect_names
from otel_gemini.agent.dialect_names import (  # noqa: F401 - the dialect and gap names are public here too
    CACHE_KEYS,
    DETAIL_FIELDS,
    DEVELOPER,
    GAP_NO_MODALITY_SPLIT,
    GAP_NO_THINKING_SPLIT,
    GAP_PLATFORM_ASSUMED,
    GAP_REASONING_FROM_TOTAL,
    GOOGLE,
    HEX_TH,
    INPUT_KEYS,
    MAX_TEXT,
    MAX_TOKENS,
    MODALITY_KEY_INDEX,
    MODEL_REQUEST_KEYS,
    MODEL_RESPONSE_KEYS,
    NOT_INFERENCE_OPS,
    OPENINFERENCE,
    OPENINFERENCE_KINDS,
    OPENLIT,
    OPENLLMETRY,
    OTEL_GEMINI,
    OTEL_SEMCONV,
    OTEL_SEMCONV_LEGACY,
    OUTPUT_KEYS,
    PROVIDER_KEYS,
    REASONING_KEYS,
    TIER_KEYS,
    TIERS,
    TOTAL_KEYS,
    TRACELOOP_WRAPPERS,
    URL_KEYS,
    VERTEX,
)
from otel_gemini.agent.span_values import (  # noqa: F401 - sample_weight is public here too
    _bare_model,
    _count,
    _host,
    _host_platform,
    _mapping,
    _sane,
    _text,
    sample_weight,
)
from otel_gemini.usage import RefusedUsage


@dataclass(slots=True)
class GenAISpan:
    """What the agent prices and records for one Gemini call seen as a span."""

    operation: str
    provider: str  # "gcp.gemini" | "gcp.vertex_ai"
    platform: str  # "gemini" | "vertex_ai" (the Pricer's platform)
    request_model: str
    response_model: str
    usage_metadata: dict[str, Any] | None
    dialect: str
    gaps: tuple[str, ...]
    error_type: str
    duration_s: float
    service_tier: str | None
    provider_cost: Decimal | None
    already_priced: bool
    sample_weight: float
    grounded: bool
    search_queries: int
    server_address: str
    location: str | None = None
    """Vertex region from ``{region}-aiplatform.googleapis.com`` ("global" for the global host): the Pricer's
    regional surcharge needs it. Not in the contract's list; additive, defaulted."""


# -- classification -----------------------------------------------------------------------------------------------

def _is_genai(attributes: Mapping[str, Any], namespaces: frozenset[str]) -> bool:
    """GenAI instrumentation spans only: an HTTP client span to the same host would double-count the call."""
    if _text(attributes, (semconv.OPERATION,)) in NOT_INFERENCE_OPS:
        return False
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() not in OPENINFERENCE_KINDS:
        return False
    if _text(attributes, ("traceloop.span.kind",)) in TRACELOOP_WRAPPERS:
        return False
    return "gen_ai" in namespaces or "llm" in namespaces


def _dialect(
    attributes: Mapping[str, Any], namespaces: frozenset[str], resource: Mapping[str, Any], scope: str,
) -> str:
    if scope == "otel_gemini" or scope.startswith("otel_gemini."):
        return OTEL_GEMINI
    if "openinference.span.kind" in attributes or (
        "llm" in namespaces and any(k.startswith("llm.token_count.") for k in attributes)
    ):
        return OPENINFERENCE
    openlit_sdk = resource.get("telemetry.sdk.name") == "openlit"
    if scope.startswith("openlit") or openlit_sdk or dialect_names.OPENLIT_COST in attributes:
        return OPENLIT  # its own gen_ai.usage.cost is never adopted: only a provider's bill is
    if (
        scope.startswith("@traceloop/")
        or "traceloop" in namespaces or "llm" in namespaces
        or dialect_names.TOTAL_TOKENS in attributes
        or dialect_names.CACHE_READ_INPUT_TOKENS in attributes
    ):
        return OPENLLMETRY
    if semconv.PROVIDER not in attributes and (
        dialect_names.LEGACY_SYSTEM in attributes or dialect_names.LEGACY_PROMPT_TOKENS in attributes
    ):
        return OTEL_SEMCONV_LEGACY
    return OTEL_SEMCONV


def _platform(
    attributes: Mapping[str, Any], host: str, models: tuple[str, str], scope: str,
) -> tuple[str | None, str | None, bool]:
    """(platform, location, assumed) or (None, …) for a call that is not Gemini; the address wins over names."""
    by_host, location = _host_platform(host)
    if by_host:
        return by_host, location, False
    providers = {_text(attributes, (key,)).lower() for key in PROVIDER_KEYS} - {""}
    if providers & VERTEX or (providers & GOOGLE and "vertexai" in scope):  # OpenLLMetry's vertexai package
        return "vertex_ai", None, False
    if providers & DEVELOPER:
        return "gemini", None, False
    if providers & GOOGLE or any(_bare_model(m).startswith("gemini-") for m in models if m):
        return "gemini", None, True
    return None, None, False


# -- usage --------------------------------------------------------------------------------------------------------

def _details(attributes: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per-modality counts of each usage part, in one pass over the span's keys (not one lookup per name)."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for key, value in attributes.items():
        where = MODALITY_KEY_INDEX.get(key)
        if where is None:
            continue
        part, modality, rank = where
        count = _sane(value)
        if count is not None and ((part, modality) not in found or rank < found[part, modality][0]):
            found[part, modality] = (rank, count)
    parts: dict[str, dict[str, int]] = {part: {} for part in DETAIL_FIELDS}
    for (part, modality), (_rank, count) in found.items():
        if count:
            parts[part][modality] = count
    return parts


def _usage(attributes: Mapping[str, Any], dialect: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The span's counts in the REST usageMetadata shape, plus the gaps the dialect left."""
    gaps: list[str] = []
    input_tokens = _count(attributes, INPUT_KEYS)
    output_tokens = _count(attributes, OUTPUT_KEYS)
    reasoning = _count(attributes, REASONING_KEYS)
    if input_tokens is None and output_tokens is None and reasoning is None:
        return None, gaps
    prompt, output = input_tokens or 0, output_tokens or 0
    total = _count(attributes, TOTAL_KEYS)
    if reasoning is not None:
        # Semconv: output includes reasoning. Some emitters report candidates only; the total tells them apart.
        excluded = (total is not None and total == prompt + output + reasoning) or output < reasoning
        candidates = output if excluded else output - reasoning
    elif total is not None and total > prompt + output:
        reasoning, candidates = total - prompt - output, output
        gaps.append(GAP_REASONING_FROM_TOTAL)
    else:
        reasoning, candidates = 0, output
        gaps.append(GAP_NO_THINKING_SPLIT)
    tool_use = min(_count(attributes, (semconv.USAGE_TOOL_USE,)) or 0, prompt)  # otel-gemini's own spans
    prompt -= tool_use
    cached = min(_count(attributes, CACHE_KEYS) or 0, prompt)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": reasoning,
        "cachedContentTokenCount": cached,
    }
    if tool_use:
        usage["toolUsePromptTokenCount"] = tool_use
    parts = _details(attributes)
    if not (parts["prompt"] or parts["candidates"]):
        gaps.append(GAP_NO_MODALITY_SPLIT)
    # Modality outputs may hold thinking too (otel-gemini puts reasoning under text): take it off text first.
    excess = sum(parts["candidates"].values()) - candidates
    if excess > 0 and "text" in parts["candidates"]:
        parts["candidates"]["text"] -= min(excess, parts["candidates"]["text"])
    for part, field in DETAIL_FIELDS.items():
        rows = [{"modality": m.upper(), "tokenCount": c} for m, c in parts[part].items() if c]
        if rows:
            usage[field] = rows
    return usage, gaps


def _provider_cost(attributes: Mapping[str, Any]) -> Decimal | None:
    """A bill the provider (or a gateway) put on the span; costs tools computed themselves are repriced instead."""
    if attributes.get(semconv.COST_SOURCE) != "provider":
        return None
    currency = attributes.get(semconv.COST_CURRENCY)
    if currency is not None and (not isinstance(currency, str) or currency.upper() != "USD"):
        return None
    amount = attributes.get(semconv.COST_AMOUNT)
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)) or len(str(amount)) > 40:
        return None
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and 0 <= value < 10**9 else None


def _service_tier(attributes: Mapping[str, Any]) -> str | None:
    tier = _text(attributes, TIER_KEYS).lower()
    return tier if tier in TIERS else None


def _duration(span: Mapping[str, Any]) -> float:
    start, end = span.get("start_ns"), span.get("end_ns")
    if isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool) and not isinstance(end, bool):
        if 0 <= start <= end:
            return (end - start) / 1e9
    return 0.0


def _error_type(span: Mapping[str, Any], attributes: Mapping[str, Any]) -> str:
    error = _text(attributes, (semconv.ERROR_TYPE,))
    if error:
        return error
    return "_OTHER" if span.get("status_code") == "ERROR" else ""


def _already_priced(dialect: str, attributes: Mapping[str, Any]) -> bool:
    """Priced by otel-gemini in the app: its own span, or a peer's span carrying its exact cost (SPANS=auto)."""
    if attributes.get(semconv.COST_SOURCE) != semconv.COST_SOURCE_LOCAL:
        return False
    return dialect == OTEL_GEMINI or isinstance(attributes.get(semconv.COST_USD_EXACT), str)


def read(span: dict) -> GenAISpan | None:
    """The Gemini call a flattened span describes, or None for anything else (other providers, HTTP, agent spans).

    Never raises: the agent reads untrusted payloads, and one bad span must not cost the batch.
    """
    try:
        return _read(span)
    except Exception:  # noqa: BLE001 - last resort; every reader above is already defensive
        return None


_NAMESPACES: dict[tuple[str, ...], frozenset[str]] = {}  # one sender repeats its key set: walk each set once


def _namespaces(attributes: Mapping[str, Any]) -> frozenset[str]:
    """"gen_ai", "llm", "traceloop", ...: cached per key set, bounded (senders are hostile: past 1024, uncached)."""
    keys = tuple(attributes)
    found = _NAMESPACES.get(keys)
    if found is None:
        found = frozenset(key.partition(".")[0] for key in keys)
        if len(_NAMESPACES) < 1024 and len(keys) <= 256:
            _NAMESPACES[keys] = found
    return found


def _read(span: Any) -> GenAISpan | None:
    if not isinstance(span, (dict, Mapping)):
        return None
    attributes = _mapping(span.get("attributes"))
    namespaces = _namespaces(attributes)
    if not _is_genai(attributes, namespaces):
        return None
    resource = _mapping(span.get("resource"))
    scope_name = span.get("scope")
    scope = scope_name if isinstance(scope_name, str) else ""
    request_model = _text(attributes, MODEL_REQUEST_KEYS)
    response_model = _text(attributes, MODEL_RESPONSE_KEYS)
    host = _host(attributes)
    platform, location, assumed = _platform(attributes, host, (request_model, response_model), scope)
    if platform is None:
        return None
    dialect = _dialect(attributes, namespaces, resource, scope)
    try:
        usage, gaps = _usage(attributes, dialect)
        grounding_units = _count(attributes, (semconv.GROUNDING_UNIT_COUNT,)) or 0
        search_queries = _count(attributes, (semconv.GROUNDING_SEARCH_QUERIES,)) or 0
    except RefusedUsage as refused:  # counts that cannot be a bill: unmetered, counted, never half-priced
        _guard.refuse("usage", refused.reason, str(refused))
        usage, gaps, grounding_units, search_queries = None, [], 0, 0
    if assumed:
        gaps.append(GAP_PLATFORM_ASSUMED)
    operation = _text(attributes, (semconv.OPERATION, "llm.request.type")) or semconv.OP_GENERATE_CONTENT
    return GenAISpan(
        operation=operation,
        provider=semconv.PROVIDER_VERTEX if platform == "vertex_ai" else semconv.PROVIDER_GEMINI,
        platform=platform,
        request_model=request_model,
        response_model=response_model,
        usage_metadata=usage,
        dialect=dialect,
        gaps=tuple(gaps),
        error_type=_error_type(span, attributes),
        duration_s=_duration(span),
        service_tier=_service_tier(attributes),
        provider_cost=_provider_cost(attributes),
        already_priced=_already_priced(dialect, attributes),
        sample_weight=sample_weight(span.get("trace_state")),
        grounded=attributes.get(semconv.GROUNDED) is True or grounding_units > 0 or search_queries > 0,
        search_queries=search_queries or grounding_units,  # billable units: one per prompt (2.x) or per query
        server_address=host,
        location=location,
    )
