"""google.rpc error bodies → the rpc status, the quotas a 429 says were exceeded, and how long to wait.

Plain dicts in, plain data out: no SDK and no OpenTelemetry here, so the instrumentation (which gets the body
from the SDK's ``APIError.details``) and anything reading captured bodies share one parser.

What Gemini sends (docs/quota.md, gemini-billing.md §4.3) is loosely shaped, so nothing is assumed about order
or presence: ``details`` entries come in any order (Help, QuotaFailure, RetryInfo in 2026; QuotaFailure first
in 2025), a QuotaFailure can list several violations (per day, per minute, input tokens per minute), any
violation field can be missing, 2024 bodies used ``ErrorInfo`` metadata instead, and many 429s carry no
details at all. The labels derived here (unit, window, tier) come from Google's own quota names
(``GenerateRequestsPerDayPerProjectPerModel-FreeTier``); a name we do not recognise maps to ``other``, never
to a guess.

Retry delay: ``RetryInfo.retryDelay`` is a protobuf Duration string ("38s", "55.846891726s"), but Gemini
rounds it down to whole seconds while the message says "Please retry in 38.90923309s.". The message's figure
is used when there is no RetryInfo, or when it agrees with RetryInfo to the second (it is then the same figure,
more precisely); when they disagree the structured field wins, because free text is not a contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_gemini.semconv import RPC_STATUSES

OTHER_STATUS = "OTHER"
REQUESTS, INPUT_TOKENS, OTHER = "requests", "input_tokens", "other"
MINUTE, DAY = "minute", "day"
FREE, PAID = "free", "paid"

_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_KNOWN_STATUSES = frozenset(RPC_STATUSES)
_STATUS_NAME = re.compile(r"^[A-Z][A-Z_]*$")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d*)?|-?\.\d+)s\s*$")
_MESSAGE_DELAY = re.compile(r"[Pp]lease retry in ((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Violation:
    """One exceeded quota, as Google names it, with the bounded labels derived from those names."""

    quota_id: str
    metric: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    """``quotaDimensions`` as sorted (key, value) pairs (``location``, ``model``)."""
    value: str | None = None
    """``quotaValue``, the limit, as Google sends it (a decimal string), or None when the body omits it."""
    unit: str = OTHER
    window: str = OTHER
    tier: str = PAID


@dataclass(frozen=True)
class RpcError:
    """What one google.rpc error body says."""

    code: int | None
    status: str
    """Bounded: a google.rpc.Code name, ``OTHER`` for an unknown name, "" when the body has no rpc status."""
    message: str = ""
    violations: tuple[Violation, ...] = ()
    retry_delay_s: float | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)
    """``ErrorInfo.reason`` values (``RATE_LIMIT_EXCEEDED``, ``API_KEY_INVALID``), in body order."""


def rpc_status(status: Any) -> str:
    """Bound a body's ``status`` to the closed label set.

    A google.rpc.Code name outside the set is ``OTHER``; anything that is not such a name at all -- the SDK puts
    the HTTP reason phrase ("Too Many Requests") there when the body was not JSON -- means there was no
    google.rpc status, hence "".
    """
    if not isinstance(status, str) or not _STATUS_NAME.match(status):
        return ""
    return status if status in _KNOWN_STATUSES else OTHER_STATUS


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in its JSON form ("38s", "55.846891726s") or as {"seconds", "nanos"}; None if neither."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, Mapping):
        try:
            return float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def message_delay(message: str) -> float | None:
    """The "Please retry in 38.90923309s." figure of a message (Go duration syntax: "1m2.5s", "590.1ms")."""
    match = _MESSAGE_DELAY.search(message)
    if match is None:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PART.findall(match.group(1)))


def classify(quota_id: str, metric: str = "") -> tuple[str, str, str]:
    """(unit, window, tier) from Google's quota id and metric names; unrecognised parts are ``other``."""
    names = f"{quota_id} {metric}".lower()
    if "inputtoken" in names or "input_token" in names:
        unit = INPUT_TOKENS
    elif "request" in names:
        unit = REQUESTS
    else:
        unit = OTHER
    if "perminute" in names or "per_minute" in names:
        window = MINUTE
    elif "perday" in names or "per_day" in names:
        window = DAY
    else:
        window = OTHER
    free = quota_id.lower().endswith("-freetier") or "free_tier" in metric.lower()
    return unit, window, FREE if free else PAID


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _violation(quota_id: str, metric: str, dimensions: Any, value: Any) -> Violation:
    pairs = tuple(sorted((str(k), _text(v)) for k, v in dimensions.items())) if isinstance(dimensions, Mapping) else ()
    unit, window, tier = classify(quota_id, metric)
    limit = None if value is None else _text(value)
    return Violation(quota_id or metric or "unknown", metric, pairs, limit, unit, window, tier)


def _detail_type(detail: Mapping[str, Any]) -> str:
    kind = _text(detail.get("@type"))
    return kind[len(_TYPE_PREFIX):] if kind.startswith(_TYPE_PREFIX) else kind.rpartition(".")[2]


def _envelope(body: Any) -> Mapping[str, Any] | None:
    """The inner error dict of ``{"error": {...}}``, of the inner dict itself, or of a one-element list of them."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else body


def parse(body: Any) -> RpcError | None:
    """Parse a google.rpc error body; None when ``body`` is not one (not a dict, or no code/status/message)."""
    error = _envelope(body)
    if error is None or not any(key in error for key in ("code", "status", "message", "details")):
        return None
    code = error.get("code")
    message = _text(error.get("message"))
    violations: list[Violation] = []
    seen: set[str] = set()
    retry_info: float | None = None
    reasons: list[str] = []
    legacy: list[Violation] = []
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, Mapping):
            continue
        kind = _detail_type(detail)
        if kind == "QuotaFailure":
            for item in detail.get("violations") or ():
                if not isinstance(item, Mapping):
                    continue
                violation = _violation(
                    _text(item.get("quotaId") or item.get("quota_id")),
                    _text(item.get("quotaMetric") or item.get("quota_metric") or item.get("subject")),
                    item.get("quotaDimensions", item.get("quota_dimensions")),
                    item.get("quotaValue", item.get("quota_value")),
                )
                violations.append(violation)
                seen.add(violation.quota_id)
        elif kind == "RetryInfo":
            delay = parse_duration(detail.get("retryDelay", detail.get("retry_delay")))
            retry_info = delay if delay is not None else retry_info
        elif kind == "ErrorInfo":
            reason = _text(detail.get("reason"))
            if reason:
                reasons.append(reason)
            metadata = detail.get("metadata")
            if isinstance(metadata, Mapping) and (metadata.get("quota_limit") or metadata.get("quota_metric")):
                dimensions = {k[6:]: v for k, v in metadata.items() if k in ("quota_location", "quota_model")}
                legacy.append(_violation(
                    _text(metadata.get("quota_limit")), _text(metadata.get("quota_metric")), dimensions,
                    metadata.get("quota_limit_value"),
                ))
    # The 2024 form names the quota in ErrorInfo; when a body also has a QuotaFailure, that one is the record.
    violations += [v for v in legacy if v.quota_id not in seen]
    return RpcError(
        code=code if isinstance(code, int) else None,
        status=rpc_status(error.get("status")),
        message=message,
        violations=tuple(violations),
        retry_delay_s=_retry_delay(retry_info, message_delay(message) if message else None),
        reasons=tuple(reasons),
    )


def _retry_delay(structured: float | None, from_message: float | None) -> float | None:
    """RetryInfo, or the message's more precise figure when it is the same delay (see the module docstring)."""
    if from_message is None:
        return structured
    if structured is None or abs(from_message - structured) < 1.0:
        return from_message
    return structured
