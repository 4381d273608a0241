"""Interactions API usage blocks, read as the generateContent ``usageMetadata`` they mirror (no SDK, no OTel).

An Interactions ``usage`` block (``total_input_tokens``, ``total_cached_tokens``, ``total_output_tokens``,
``total_thought_tokens``, ``total_tool_use_tokens``, ``total_tokens``, ``*_tokens_by_modality``,
``grounding_tool_count``) carries the same counts as ``usageMetadata`` under other names, so it is renamed and
handed to :func:`otel_gemini.usage.extract_usage`, which resolves the overlaps once for every surface.

``total_input_tokens`` is taken to *include* ``total_cached_tokens``: the SDK documents the two with the words of
``promptTokenCount`` / ``cachedContentTokenCount`` ("Number of tokens in the prompt (context)", "Number of tokens
in the cached part of the prompt (the cached content)"). Whether ``total_output_tokens`` includes thoughts is
decided by ``extract_usage`` from ``total_tokens``, as for generateContent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_gemini.billing.once import OncePerKey
from otel_gemini.usage import Usage, extract_usage

__all__ = ["BilledIds", "grounding_units", "interaction_usage", "usage_metadata"]

_TOTALS = (
    ("total_input_tokens", "promptTokenCount"),
    ("total_cached_tokens", "cachedContentTokenCount"),
    ("total_output_tokens", "candidatesTokenCount"),
    ("total_thought_tokens", "thoughtsTokenCount"),
    ("total_tool_use_tokens", "toolUsePromptTokenCount"),
    ("total_tokens", "totalTokenCount"),
)
_DETAILS = (
    ("input_tokens_by_modality", "promptTokensDetails"),
    ("cached_tokens_by_modality", "cacheTokensDetails"),
    ("output_tokens_by_modality", "candidatesTokensDetails"),
    ("tool_use_tokens_by_modality", "toolUsePromptTokensDetails"),
)


def get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def usage_metadata(block: Any) -> dict[str, Any] | None:
    """An Interactions ``usage`` block (dict or SDK object) as the generateContent ``usageMetadata`` it mirrors."""
    if block is None:
        return None
    out: dict[str, Any] = {}
    for name, wire in _TOTALS:
        value = get(block, name)
        if value is not None:
            out[wire] = int(value)
    for name, wire in _DETAILS:
        items = get(block, name) or ()
        details = [
            {"modality": str(get(item, "modality") or "text").upper(), "tokenCount": int(get(item, "tokens") or 0)}
            for item in items
        ]
        if details:
            out[wire] = details
    return out


def interaction_usage(block: Any) -> Usage | None:
    """Disjoint token classes of one Interactions usage block (None when it reports no tokens)."""
    return extract_usage(usage_metadata(block))


def grounding_units(block: Any) -> dict[str, int]:
    """``grounding_tool_count`` of a usage block as {tool type: count}: google_search counts are search queries."""
    units: dict[str, int] = {}
    for item in (get(block, "grounding_tool_count") if block is not None else None) or ():
        kind, count = get(item, "type"), get(item, "count")
        if kind and count:
            units[str(kind)] = units.get(str(kind), 0) + int(count)
    return units


class BilledIds(OncePerKey):
    """Interaction ids already billed by this process."""

    def add(self, interaction_id: str | None) -> bool:
        """Remember ``interaction_id``; False when it was already there (its bill must not be counted again)."""
        return True if not interaction_id else self.claim(interaction_id)
