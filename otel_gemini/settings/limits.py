"""The limits a team declares, exported as gauges so Prometheus can compute headroom across every replica.

Google publishes no per-model rate limits any more (a project's are on aistudio.google.com/rate-limit) and sends
no rate-limit headers, so RPM/TPM/RPD must be declared: ``OTEL_GEMINI_LIMITS`` or a JSON file
(``OTEL_GEMINI_LIMITS_FILE``). The billing tier's spend limits are Google's published ones (billing reference
§4.1): a rolling 10-minute spend rate limit and a monthly billing-account cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

# (unit, window) of each declarable limit.
KINDS = {"rpm": ("requests", "minute"), "tpm": ("input_tokens", "minute"), "rpd": ("requests", "day")}
# Billing tier -> (rolling 10-minute spend limit, monthly cap) in USD; Tier 3's cap is "$20,000 – $100,000+".
TIER_SPEND = {"tier1": ("10", "250"), "tier2": ("50", "2000"), "tier3": ("200", "20000")}


def parse_limits(spec: str) -> dict[str, dict[str, int]]:
    """``gemini-2.5-flash:rpm=1000,tpm=1000000,rpd=10000;gemini-3-flash-preview:rpm=500``."""
    limits: dict[str, dict[str, int]] = {}
    for entry in spec.split(";"):
        if not entry.strip():
            continue
        model, sep, rest = entry.partition(":")
        if not sep or not model.strip():
            raise ValueError(f"expected model:kind=N,..., got {entry.strip()!r}")
        limits[model.strip()] = _kinds(dict(item.split("=", 1) for item in rest.split(",") if "=" in item), entry)
    return limits


def _kinds(raw: Mapping[str, Any], where: str) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for kind, value in raw.items():
        kind = str(kind).strip().lower()
        if kind not in KINDS:
            raise ValueError(f"unknown limit {kind!r} in {where!r} (expected {', '.join(KINDS)})")
        number = int(str(value).strip())
        if number <= 0:
            raise ValueError(f"limits are positive, got {kind}={number}")
        kinds[kind] = number
    return kinds


def load_file(path: str) -> tuple[dict[str, dict[str, int]], Decimal | None]:
    """``{"models": {"gemini-2.5-flash": {"rpm": 1000, "tpm": 1000000, "rpd": 10000}}, "spend_cap_usd": "500"}``."""
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    models = {str(m): _kinds(k, str(m)) for m, k in (raw.get("models") or {}).items()}
    cap = raw.get("spend_cap_usd")
    return models, parse_cap(str(cap)) if cap is not None else None


def parse_cap(value: str) -> Decimal:
    try:
        cap = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not cap.is_finite() or cap <= 0:
        raise ValueError(f"a spend cap is a positive amount, got {value!r}")
    return cap


def gauges(
    limits: Mapping[str, Mapping[str, int]], billing_tier: str, project_cap: Decimal | None,
) -> Iterator[tuple[str, tuple[str, ...], float]]:
    """("quota" | "spend", label values, value) for every declared or published limit."""
    for model, kinds in limits.items():
        for kind, value in kinds.items():
            unit, window = KINDS[kind]
            yield "quota", (model, unit, window), float(value)
    if billing_tier in TIER_SPEND:
        ten_minutes, month = TIER_SPEND[billing_tier]
        yield "spend", ("10m", "billing_tier"), float(ten_minutes)
        yield "spend", ("month", "billing_tier"), float(month)
    if project_cap is not None:
        yield "spend", ("month", "project"), float(project_cap)
