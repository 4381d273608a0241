"""Usage extracted: one billed Gemini response's ``usageMetadata`` turned into disjoint token classes.

Google reports overlapping counts (``cachedContentTokenCount`` is inside ``promptTokenCount``; some backends put
thoughts inside ``candidatesTokenCount``). Pricing and the ``gemini_tokens_total`` counter both need classes that
never overlap and add up to ``totalTokenCount``, so the overlap is resolved here, once, for every surface:

* ``input``      uncached prompt tokens, per modality (prompt detail minus cache detail of the same modality)
* ``cache_read`` cached prompt tokens, per modality
* ``tool_use``   tool results fed back to the model (``toolUsePromptTokenCount``), per modality
* ``output``     candidate tokens without thoughts, per modality (IMAGE/AUDIO output bill at their own rates)
* ``reasoning``  thinking tokens (``thoughtsTokenCount``)

Counts come from outside (a response body, an OTLP span, a file) and are validated here, once, for every door:
a count must be a whole number between 0 and :data:`MAX_TOKENS`. A usage with any other count is *refused* for
pricing (the response prices as unmetered: no tokens, no dollars), counted on
``otel_gemini_refused_total{what="usage", reason}`` and logged once (docs/validation.md): a negative count would
move a counter backwards, and an impossible one would book spend nobody incurred.

This module knows nothing of the SDK or of OpenTelemetry: it reads camelCase dicts (the wire format, OTLP
agents, ``otel-gemini price --usage``), snake_case dicts, and the SDK's pydantic objects alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_gemini import _guard

MODALITIES = ("text", "image", "audio", "video", "document")

_MODALITY_NAMES = {
    "TEXT": "text",
    "IMAGE": "image",
    "AUDIO": "audio",
    "VIDEO": "video",
    "DOCUMENT": "document",
    "MODALITY_UNSPECIFIED": "text",  # Google: "treated as TEXT"
}


@dataclass(slots=True)
class Usage:
    """Token counts of one billed HTTP response, split into disjoint classes."""

    input: Mapping[str, int] = field(default_factory=dict)
    cache_read: Mapping[str, int] = field(default_factory=dict)
    tool_use: Mapping[str, int] = field(default_factory=dict)
    output: Mapping[str, int] = field(default_factory=dict)
    reasoning: int = 0
    prompt_tokens: int = 0
    """``promptTokenCount`` as reported (cached included): what the >200k long-context cliff compares."""
    service_tier: str | None = None
    """``usageMetadata.serviceTier`` when the API sent it (the SDK drops it; the header carries it too)."""

    @property
    def input_total(self) -> int:
        return sum(self.input.values())

    @property
    def cache_read_total(self) -> int:
        return sum(self.cache_read.values())

    @property
    def tool_use_total(self) -> int:
        return sum(self.tool_use.values())

    @property
    def output_total(self) -> int:
        return sum(self.output.values())

    @property
    def total(self) -> int:
        return self.input_total + self.cache_read_total + self.tool_use_total + self.output_total + self.reasoning

    def token_classes(self) -> Iterable[tuple[str, str, int]]:
        """(token type, modality, count) for every non-zero class: the rows of ``gemini_tokens_total``."""
        for token_type, counts in (
            ("input", self.input),
            ("cache_read", self.cache_read),
            ("tool_use", self.tool_use),
            ("output", self.output),
        ):
            for modality, count in counts.items():
                if count:
                    yield token_type, modality, count
        if self.reasoning:
            yield "reasoning", "text", self.reasoning


_FIELDS = {
    # snake_case attribute / key  ->  camelCase wire key
    "prompt_token_count": "promptTokenCount",
    "cached_content_token_count": "cachedContentTokenCount",
    "candidates_token_count": "candidatesTokenCount",
    "response_token_count": "responseTokenCount",  # Live API's name for candidates
    "thoughts_token_count": "thoughtsTokenCount",
    "tool_use_prompt_token_count": "toolUsePromptTokenCount",
    "total_token_count": "totalTokenCount",
    "prompt_tokens_details": "promptTokensDetails",
    "prompt_token_details": "promptTokenDetails",  # embeddings' spelling (the SDK drops it; raw bodies carry it)
    "cache_tokens_details": "cacheTokensDetails",
    "candidates_tokens_details": "candidatesTokensDetails",
    "response_tokens_details": "responseTokensDetails",
    "tool_use_prompt_tokens_details": "toolUsePromptTokensDetails",
    "service_tier": "serviceTier",
}


MAX_TOKENS = 10_000_000
"""The largest token count one response may report: five times the largest context window any Gemini model has
had (2,097,152, Gemini 1.5 Pro) plus its output limit. Above it a count is not a bill but an error or an attack."""

NEGATIVE, NOT_INTEGER, TOO_LARGE = "negative", "not_integer", "too_large"
"""The ``reason`` label of ``otel_gemini_refused_total{what="usage"}``."""


class RefusedUsage(ValueError):
    """A usage whose counts cannot be a bill; ``reason`` is one of NEGATIVE, NOT_INTEGER, TOO_LARGE."""

    def __init__(self, reason: str, field_name: str) -> None:
        where = field_name if "." in field_name else f"usageMetadata.{field_name}"  # a wire field, or a dialect's key
        super().__init__(f"{where} is {reason.replace('_', ' ')}")
        self.reason = reason


def validated_count(value: Any, name: str) -> int:
    """A validated token count: ints, integral floats and the decimal strings of proto3 JSON int64 pass."""
    if type(value) is not int:  # the fast path: the SDK's and JSON's counts are ints
        if value is None:
            return 0
        if isinstance(value, bool):
            raise RefusedUsage(NOT_INTEGER, name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            if len(value.strip().lstrip("-")) > 12:  # int() of a huge string costs time (and past 4,300 digits fails)
                raise RefusedUsage(TOO_LARGE, name)
            value = int(value)
        elif isinstance(value, int):
            value = int(value)
        else:
            raise RefusedUsage(NOT_INTEGER, name)
    if value < 0:
        raise RefusedUsage(NEGATIVE, name)
    if value > MAX_TOKENS:
        raise RefusedUsage(TOO_LARGE, name)
    return value


_MODEL_FIELDS: dict[type, frozenset[str]] = {}
"""Per pydantic usage type, which of ``_FIELDS`` it declares: ``getattr`` with a default on a name pydantic lacks
raises and catches inside pydantic's ``__getattr__`` (a few µs per call on the hot path)."""


def _declared(cls: type) -> frozenset[str] | None:
    """The ``_FIELDS`` names a pydantic model class declares, cached per class; None for any other class."""
    known = _MODEL_FIELDS.get(cls)
    if known is None:
        fields = getattr(cls, "model_fields", None)
        if not isinstance(fields, dict) or len(_MODEL_FIELDS) >= 64:  # bounded: a handful of SDK usage types
            return None
        known = _MODEL_FIELDS[cls] = frozenset(name for name in _FIELDS if name in fields)
    return known


def _getter(usage_metadata: Any) -> Any:
    if isinstance(usage_metadata, (dict, Mapping)):  # dict first: a C check; the ABC check costs a microsecond
        def get(name: str) -> Any:
            value = usage_metadata.get(_FIELDS[name])
            return usage_metadata.get(name) if value is None else value
        return get
    declared = _declared(type(usage_metadata))
    if declared is not None and not getattr(usage_metadata, "__pydantic_extra__", None):
        def get_declared(name: str) -> Any:
            return getattr(usage_metadata, name, None) if name in declared else None
        return get_declared

    def get_any(name: str) -> Any:
        return getattr(usage_metadata, name, None)
    return get_any


def _modality_counts(details: Any) -> dict[str, int]:
    if not details:  # most responses lack some of the four detail lists: no dict built, no loop entered
        return {}
    counts: dict[str, int] = {}
    for item in details:
        if isinstance(item, (dict, Mapping)):
            modality, count = item.get("modality"), item.get("tokenCount", item.get("token_count"))
        else:
            modality, count = getattr(item, "modality", None), getattr(item, "token_count", None)
        count = validated_count(count, "tokenCount")
        name = getattr(modality, "value", modality)
        key = _MODALITY_NAMES.get(str(name).upper(), "text") if name is not None else "text"
        if count:
            counts[key] = counts.get(key, 0) + count
    return counts


def _fit(details: dict[str, int], total: int) -> dict[str, int]:
    """Make per-modality details add up to the reported total.

    Details can be missing or partial (older models, agents' dialects); the remainder is text, and details that
    exceed the total are trusted over it only modality by modality, never inventing tokens.
    """
    if total <= 0:
        return {}
    known = sum(details.values())
    if known == total:
        return details
    if known < total:
        fitted = dict(details)
        fitted["text"] = fitted.get("text", 0) + (total - known)
        return fitted
    # Details claim more than the total: scale nothing, take them in order until the total is used up.
    fitted, left = {}, total
    for modality, count in details.items():
        take = min(count, left)
        if take:
            fitted[modality] = take
        left -= take
    return fitted


def _fit_within(details: dict[str, int], total: int, bounds: dict[str, int]) -> dict[str, int]:
    """Cached tokens by modality: reported ones first, unreported ones where the prompt still has room (text first).

    Google does not say which modality unreported cached tokens are; giving them to a modality the prompt did not
    have (or had fewer of) would bill them at the wrong cache rate.
    """
    if total <= 0:  # no cached tokens (most calls): what the steps below return, without sorting the bounds
        return {}
    fitted = {m: c for m, c in _fit(details, total).items() if m in details}
    left = total - sum(fitted.values())
    for modality in sorted(bounds, key=lambda m: m != "text"):
        if left <= 0:
            break
        take = min(left, bounds[modality] - fitted.get(modality, 0))
        if take > 0:
            fitted[modality] = fitted.get(modality, 0) + take
            left -= take
    if left > 0:
        fitted["text"] = fitted.get("text", 0) + left
    return fitted


def _subtract(whole: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    """Uncached = prompt minus cache, per modality; a cache count larger than its modality spills into others."""
    rest = dict(whole)
    overflow = 0
    for modality, count in part.items():
        have = rest.get(modality, 0)
        take = min(have, count)
        rest[modality] = have - take
        overflow += count - take
    for modality in list(rest):
        if not overflow:
            break
        take = min(rest[modality], overflow)
        rest[modality] -= take
        overflow -= take
    return {m: c for m, c in rest.items() if c}


def extract_usage(usage_metadata: Any, *, strict: bool = False) -> Usage | None:
    """Split one response's usage into disjoint classes; ``None`` when the response carried no usage, or carried
    counts that cannot be a bill (refused: counted and logged once; ``strict`` raises :class:`RefusedUsage`)."""
    if usage_metadata is None:
        return None
    try:
        return _extract(usage_metadata)
    except RefusedUsage as refused:
        if strict:
            raise
        _guard.refuse("usage", refused.reason, str(refused))
        return None


def _extract(usage_metadata: Any) -> Usage | None:
    get = _getter(usage_metadata)
    prompt = validated_count(get("prompt_token_count"), "promptTokenCount")
    cached = min(validated_count(get("cached_content_token_count"), "cachedContentTokenCount"), prompt)
    candidates = validated_count(get("candidates_token_count"), "candidatesTokenCount") or validated_count(
        get("response_token_count"), "responseTokenCount")
    thoughts = validated_count(get("thoughts_token_count"), "thoughtsTokenCount")
    tool_use = validated_count(get("tool_use_prompt_token_count"), "toolUsePromptTokenCount")
    raw_total = get("total_token_count")
    total = None if raw_total is None else validated_count(raw_total, "totalTokenCount")
    if not (prompt or candidates or thoughts or tool_use or total):
        return None
    # Some backends count thoughts inside candidates; the identity tells which (billing reference §1.1).
    if thoughts and total is not None and prompt + candidates + tool_use == total and candidates >= thoughts:
        candidates -= thoughts

    prompt_details = _fit(_modality_counts(get("prompt_tokens_details") or get("prompt_token_details")), prompt)
    cache_details = _fit_within(_modality_counts(get("cache_tokens_details")), cached, prompt_details)
    output_details = _fit(
        _modality_counts(get("candidates_tokens_details") or get("response_tokens_details")), candidates
    )
    tool_details = _fit(_modality_counts(get("tool_use_prompt_tokens_details")), tool_use)
    tier = get("service_tier")
    return Usage(
        input=_subtract(prompt_details, cache_details),
        cache_read=cache_details,
        tool_use=tool_details,
        output=output_details,
        reasoning=thoughts,
        prompt_tokens=prompt,
        service_tier=str(getattr(tier, "value", tier)).lower() if tier else None,
    )
