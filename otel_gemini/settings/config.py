"""Settings: ``instrument()`` keyword arguments first, then ``OTEL_GEMINI_*`` variables, then defaults.

Zero-code users (``opentelemetry-instrument``) can only use the environment, so every option has a variable;
docs/configuration.md lists them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from otel_gemini import attribution, semconv
from otel_gemini.pricing import whatif
from otel_gemini.pricing.specs import (  # noqa: F401 - re-exported: config is where settings are parsed
    BILLING_TIERS,
    parse_billing_tier,
    parse_grounding_allowance,
    parse_tuned_models,
)
from otel_gemini.settings import limits


@dataclass(frozen=True)
class Settings:
    prometheus_port: int | None = None
    prometheus_host: str = "0.0.0.0"
    prices_path: str | None = None
    prices_url: str | None = None
    """Where ``otel-gemini prices update`` fetches from when given no --url/--file
    (None: pricing.updates.DEFAULT_URL)."""
    prices_cache_dir: str | None = None
    """Installed tables (None: $XDG_CACHE_HOME/otel-gemini/prices, else ~/.cache/otel-gemini/prices)."""
    prices_reload_seconds: float = 60.0
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
    span_cost_attribute: bool = False
    """Also put the call's dollars on spans as ``gen_ai.usage.cost`` (the name other LLM tools read)."""
    whatif: str = ""
    whatif_models: str = ""
    whatif_cache_ratio: str = "0.5"


_ENV = {
    "prometheus_port": "OTEL_GEMINI_PROMETHEUS_PORT",
    "prometheus_host": "OTEL_GEMINI_PROMETHEUS_HOST",
    "prices_path": "OTEL_GEMINI_PRICES",
    "prices_url": "OTEL_GEMINI_PRICES_URL",
    "prices_cache_dir": "OTEL_GEMINI_PRICES_CACHE_DIR",
    "prices_reload_seconds": "OTEL_GEMINI_PRICES_RELOAD_SECONDS",
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
    "span_cost_attribute": "OTEL_GEMINI_SPAN_COST_ATTRIBUTE",
    "capture_content": "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "content_max_length": "OTEL_GEMINI_CONTENT_MAX_LENGTH",
    "spans": "OTEL_GEMINI_SPANS",
    "whatif": "OTEL_GEMINI_WHATIF",
    "whatif_models": "OTEL_GEMINI_WHATIF_MODELS",
    "whatif_cache_ratio": "OTEL_GEMINI_WHATIF_CACHE_RATIO",
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
        if name in ("attributes_from_baggage", "span_cost_attribute"):
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
        if name == "prices_reload_seconds":
            seconds = float(value)
            if not 0 <= seconds < float("inf"):
                raise ValueError("expected seconds >= 0 (0: never reload)")
            return seconds
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


_PARSERS: dict[str, Callable[[str], object]] = {
    "metric_labels": parse_metric_labels,
    "project": _project,
    "limits": limits.parse_limits,
    "limits_file": _limits_file,
    "spend_cap_usd": limits.parse_cap,
    "billing_tier": parse_billing_tier,
    "tuned_models": parse_tuned_models,
    "grounding_allowance": parse_grounding_allowance,
    "whatif": whatif.parse,
    "whatif_models": lambda models: whatif.parse("", models),
    "whatif_cache_ratio": whatif.parse_ratio,
}


def load_settings(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    values: dict[str, Any] = {}
    for name, variable in _ENV.items():
        if options.get(name) is not None:
            values[name] = _convert(name, options[name])
        elif environ.get(variable, "").strip():
            values[name] = _convert(name, environ[variable].strip())
    return Settings(**values)
