"""The account facts a price depends on, as users write them: a billing tier per model, what a tuned model bills
as, a grounding allowance.

They are parsed here, inside pricing/, so the pricer needs nothing of the settings layer (config.py re-exports
them for ``instrument()`` and the agent) and pricing stays importable without OpenTelemetry or the SDK.
"""

from __future__ import annotations

BILLING_TIERS = ("free", "tier1", "tier2", "tier3")


def _pairs(spec: str) -> dict[str, str]:
    """``a=b,c=d`` (commas or semicolons) as a dict; the shape of every mapping variable here."""
    pairs: dict[str, str] = {}
    for item in spec.replace(";", ",").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected key=value, got {item.strip()!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_billing_tier(spec: str) -> tuple[str, dict[str, str]]:
    """``free`` | ``tier1`` | ``tier2`` | ``tier3``, then optional ``model=tier`` overrides:
    ``tier1,gemini-2.5-flash=free``."""
    default, overrides = "tier1", {}
    for item in spec.replace(";", ",").split(","):
        item = item.strip().lower()
        if not item:
            continue
        if "=" in item:
            overrides.update(_pairs(item))
        else:
            default = item
    for tier in (default, *overrides.values()):
        if tier not in BILLING_TIERS:
            raise ValueError(f"billing tier {tier!r} is not one of {', '.join(BILLING_TIERS)}")
    return default, overrides


def parse_tuned_models(spec: str) -> dict[str, str]:
    """``tunedModels/abc=gemini-2.5-flash,projects/p/locations/l/endpoints/123=gemini-2.5-flash``."""
    return _pairs(spec)


def parse_grounding_allowance(spec: str) -> tuple[str, dict[str, int]]:
    """``none`` (every unit at list price) | ``table`` (the price table's allowances, per process), then
    optional ``group=N`` overrides; see docs/configuration.md for why ``none`` is the default."""
    mode, groups = "none", {}
    for item in spec.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            groups.update({k: int(v) for k, v in _pairs(item).items()})
        elif item.lower() in ("none", "table"):
            mode = item.lower()
        else:
            raise ValueError("expected none, table or group=N")
    if any(n < 0 for n in groups.values()):
        raise ValueError("allowances are >= 0")
    return mode, groups

