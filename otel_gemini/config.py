"""Settings: ``instrument()`` keyword arguments first, then ``OTEL_GEMINI_*`` variables, then defaults.

Zero-code users (``opentelemetry-instrument``) can only use the environment, so every option has a variable;
docs/configuration.md lists them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from otel_gemini import attribution, limits, semconv


@dataclass(frozen=True)
class Settings:
    prometheus_port: int | None = None
    prometheus_host: str = "0.0.0.0"
    prices_path: str | None = None
    markup: Decimal = Decimal(1)
    model_label_limit: int = 50
    billing_tier: str = "tier1"
    tuned_models: str = ""
    grounding_allowance: str = "none"
    project: str = "default"
    limits: str = ""
    limits_file: str | None = None
    spend_cap_usd: str | None = None
    capture_content: str = "NO_CONTENT"
    content_max_length: int = 16384
    spans: str = "auto"
    metric_labels: str = "feature,tenant"
    label_value_limit: int = 100
    label_combination_limit: int = 1000
    attributes_from_baggage: bool = False


_ENV = {
    "prometheus_port": "OTEL_GEMINI_PROMETHEUS_PORT",
    "prometheus_host": "OTEL_GEMINI_PROMETHEUS_HOST",
    "prices_path": "OTEL_GEMINI_PRICES",
    "markup": "OTEL_GEMINI_PRICE_MARKUP",
    "model_label_limit": "OTEL_GEMINI_MODEL_LABEL_LIMIT",
    "billing_tier": "OTEL_GEMINI_BILLING_TIER",
    "tuned_models": "OTEL_GEMINI_TUNED_MODELS",
    "grounding_allowance": "OTEL_GEMINI_GROUNDING_ALLOWANCE",
    "project": "OTEL_GEMINI_PROJECT",
    "limits": "OTEL_GEMINI_LIMITS",
    "limits_file": "OTEL_GEMINI_LIMITS_FILE",
    "spend_cap_usd": "OTEL_GEMINI_SPEND_CAP_USD",
    "metric_labels": "OTEL_GEMINI_METRIC_LABELS",
    "label_value_limit": "OTEL_GEMINI_LABEL_VALUE_LIMIT",
    "label_combination_limit": "OTEL_GEMINI_LABEL_COMBINATION_LIMIT",
    "attributes_from_baggage": "OTEL_GEMINI_ATTRIBUTES_FROM_BAGGAGE",
    "capture_content": "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "content_max_length": "OTEL_GEMINI_CONTENT_MAX_LENGTH",
    "spans": "OTEL_GEMINI_SPANS",
}


class ConfigError(ValueError):
    """A setting that cannot be used; raised at instrument() time, never during a Gemini call."""


def _convert(name: str, value: Any) -> Any:
    try:
        if name == "spans":  # normalised here, once: the call path compares it as is
            _spans(str(value))
            return str(value).strip().lower()
        if name == "capture_content":
            return str(value).strip().upper()
        if name == "attributes_from_baggage":
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError("expected true or false")
            return str(value).strip().lower() in ("true", "1", "yes")
        if name in ("prometheus_port", "model_label_limit", "label_value_limit", "label_combination_limit",
                    "content_max_length"):
            number = int(value)
            if number < 0:
                raise ValueError
            return number
        if name == "markup":
            markup = Decimal(str(value))
            if not markup.is_finite() or markup <= 0:
                raise InvalidOperation
            return markup
        if name in _PARSERS:
            _PARSERS[name](str(value))  # fail at instrument() time, not on the first call
    except (ValueError, InvalidOperation) as problem:
        raise ConfigError(f"{name} ({_ENV[name]}): invalid value {value!r} ({problem})") from None
    return str(value)


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
    """``free`` | ``tier1`` | ``tier2`` | ``tier3``, then optional ``model=tier`` overrides: ``tier1,gemini-2.5-flash=free``."""
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


BILLING_TIERS = ("free", "tier1", "tier2", "tier3")
def _project(value: str) -> str:
    if not value.strip() or len(value) > 100:
        raise ValueError("a project label is 1 to 100 characters")
    return value


def _limits_file(path: str) -> None:
    try:
        limits.load_file(path)
    except OSError as problem:
        raise ValueError(str(problem)) from None
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as problem:
        raise ValueError(f"not a limits file ({problem})") from None


def parse_metric_labels(spec: str) -> tuple[str, ...]:
    """``feature,tenant``: attribute keys that become metric labels (everything else stays on spans only)."""
    keys = tuple(key.strip() for key in spec.split(",") if key.strip())
    reserved = {semconv.prometheus_label(label) for label in semconv.ALL_LABELS}
    for key in keys:
        if not attribution.KEY.match(key) or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid Prometheus label name")
        if key in reserved:
            raise ValueError(f"{key!r} is already one of otel-gemini's own labels")
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return keys


def _spans(value: str) -> None:
    if value.strip().lower() not in ("auto", "always", "never"):
        raise ValueError("expected auto, always or never (docs/coexistence.md)")


_PARSERS = {
    "metric_labels": parse_metric_labels,
    "project": _project,
    "limits": limits.parse_limits,
    "limits_file": _limits_file,
    "spend_cap_usd": limits.parse_cap,
    "billing_tier": parse_billing_tier,
    "tuned_models": parse_tuned_models,
    "grounding_allowance": parse_grounding_allowance,
}


def load_settings(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    values: dict[str, Any] = {}
    for name, variable in _ENV.items():
        if options.get(name) is not None:
            values[name] = _convert(name, options[name])
        elif environ.get(variable, "").strip():
            values[name] = _convert(name, environ[variable].strip())
    return Settings(**values)
