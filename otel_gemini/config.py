"""Settings: ``instrument()`` keyword arguments first, then ``OTEL_GEMINI_*`` variables, then defaults.

Zero-code users (``opentelemetry-instrument``) can only use the environment, so every option has a variable;
docs/configuration.md lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping


@dataclass(frozen=True)
class Settings:
    prometheus_port: int | None = None
    prometheus_host: str = "0.0.0.0"
    prices_path: str | None = None
    markup: Decimal = Decimal(1)
    model_label_limit: int = 50


_ENV = {
    "prometheus_port": "OTEL_GEMINI_PROMETHEUS_PORT",
    "prometheus_host": "OTEL_GEMINI_PROMETHEUS_HOST",
    "prices_path": "OTEL_GEMINI_PRICES",
    "markup": "OTEL_GEMINI_PRICE_MARKUP",
    "model_label_limit": "OTEL_GEMINI_MODEL_LABEL_LIMIT",
}


class ConfigError(ValueError):
    """A setting that cannot be used; raised at instrument() time, never during a Gemini call."""


def _convert(name: str, value: Any) -> Any:
    try:
        if name in ("prometheus_port", "model_label_limit"):
            number = int(value)
            if number < 0:
                raise ValueError
            return number
        if name == "markup":
            markup = Decimal(str(value))
            if not markup.is_finite() or markup <= 0:
                raise InvalidOperation
            return markup
    except (ValueError, InvalidOperation):
        raise ConfigError(f"{name} ({_ENV[name]}): invalid value {value!r}") from None
    return str(value)


def load_settings(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    values: dict[str, Any] = {}
    for name, variable in _ENV.items():
        if options.get(name) is not None:
            values[name] = _convert(name, options[name])
        elif environ.get(variable, "").strip():
            values[name] = _convert(name, environ[variable].strip())
    return Settings(**values)
