"""Defensive readers of one span's attribute values: a wrong type or an absurd value is "absent", never raised on.

Spans are hostile input (docs/validation.md); these are the only places a received value becomes a count, a
string or a host, so each bound is written once. Used by agent/spans.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from otel_gemini import semconv
from otel_gemini.agent.dialect_names import HEX_TH, MAX_TEXT, MAX_TOKENS, URL_KEYS
from otel_gemini.usage import validated_count


def _sane(value: Any) -> int | None:
    """A token count: int, integral float or digit string, 0 … MAX_TOKENS; bools and non-numbers are absent.

    A number that cannot be a count (negative, fractional, beyond any context window) is not absent but refused
    (usage.RefusedUsage): the span is then unmetered and the refusal counted, never priced on the other counts.
    """
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case first: OTLP int_value
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        digits = value.strip()
        if not (digits.isascii() and digits.lstrip("-").isdigit()):
            return None
    elif not isinstance(value, (int, float)):
        return None
    return validated_count(value, "a gen_ai.usage.* span attribute")


def _count(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first key holding a sane token count."""
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            number = _sane(value)
            if number is not None:
                return number
    return None


def _text(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str):
            value = value.strip()
            if 0 < len(value) <= MAX_TEXT:
                return value
    return ""


def _mapping(value: Any) -> Mapping[str, Any]:
    if type(value) is dict and all(type(key) is str for key in value):  # flattened OTLP and JSON, no copy
        return value
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if isinstance(k, str)}
    return {}


def _bare_model(model: str) -> str:
    """"projects/p/locations/l/publishers/google/models/gemini-x", "models/gemini-x", "google/gemini-x": gemini-x."""
    name = model.lower().rsplit("models/", 1)[-1]
    return name[len("google/"):] if name.startswith("google/") else name


def _host(attributes: Mapping[str, Any]) -> str:
    host = _text(attributes, (semconv.SERVER_ADDRESS, "net.peer.name"))
    if not host:
        url = _text(attributes, URL_KEYS)
        try:
            host = (urlsplit(url).hostname or "") if url else ""
        except ValueError:
            host = ""
    return host.lower().rstrip(".")


def _host_platform(host: str) -> tuple[str | None, str | None]:
    """(platform, location) from the address the request went to: the most reliable fact a span carries."""
    if host == "generativelanguage.googleapis.com":
        return "gemini", None
    if host == "aiplatform.googleapis.com":
        return "vertex_ai", "global"
    if host.endswith("-aiplatform.googleapis.com"):
        region = host[: -len("-aiplatform.googleapis.com")]
        return "vertex_ai", region if re.fullmatch(r"[a-z0-9-]{1,40}", region) else None
    return None, None


def sample_weight(trace_state: Any) -> float:
    """1/p from the W3C tracestate ``ot=th:<hex>`` (OTel probability sampling); 1.0 when absent or malformed.

    The threshold's hex digits are right-padded with zeros to 14 (56 bits); spans are kept when their randomness
    is ≥ th, so p = 1 − th/2^56 (th:0 keeps all, th:8 keeps half).
    """
    if not trace_state or not isinstance(trace_state, str) or len(trace_state) > 1024 or "ot=" not in trace_state:
        return 1.0  # (W3C caps the header at 512 bytes)
    for member in trace_state.split(","):
        key, sep, value = member.strip().partition("=")
        if key != "ot" or not sep:
            continue
        for field in value.split(";"):
            name, sep, hex_digits = field.partition(":")
            if name != "th" or not sep:
                continue
            if not HEX_TH.fullmatch(hex_digits):
                return 1.0
            threshold = int(hex_digits.ljust(14, "0"), 16)
            return float(2**56) / float(2**56 - threshold)
        return 1.0
    return 1.0
