"""Kept so ``except otel_gemini.config.ConfigError`` (docs/configuration.md) keeps working; settings are parsed in
otel_gemini/settings/config.py."""

from otel_gemini.settings.config import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
