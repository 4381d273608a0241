"""The 429 and 503 bodies Gemini really sends, in every shape seen (gemini-billing.md §4.3), for the fake endpoint.

A parser tested only on the tidy example would break on the next body: details come in varying order, a 429
can list several violations, ``quotaValue`` and RetryInfo are sometimes absent, some 429s carry no details at
all, 2024 bodies used ErrorInfo, and 503s say UNAVAILABLE with no details. Each builder returns the full
``{"error": {...}}`` dict the API serialises; :func:`otel_gemini.testing.bodies.quota_exceeded` is the one-
violation 2026 form these generalise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_gemini.testing.bodies import error

PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
INPUT_TPM = "GenerateContentInputTokensPerModelPerMinute-FreeTier"
FREE_REQUESTS = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
FREE_INPUT_TOKENS = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count"
PAID_REQUESTS_PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel"
PAID_REQUESTS = "generativelanguage.googleapis.com/generate_content_requests"

_INTRO = ("You exceeded your current quota, please check your plan and billing details. For more information on "
          "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, "
          "head to: https://ai.dev/rate-limit. ")
HELP = {"@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas",
                   "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}


def violation(quota_id: str = PER_DAY, metric: str = FREE_REQUESTS, *, model: str = "gemini-3.5-flash",
              value: str | None = "20", location: str = "global") -> dict[str, Any]:
    """One QuotaFailure violation; ``value=None`` omits ``quotaValue`` as some real bodies do."""
    out: dict[str, Any] = {"quotaMetric": metric, "quotaId": quota_id,
                           "quotaDimensions": {"location": location, "model": model}}
    if value is not None:
        out["quotaValue"] = value
    return out


def quota_failure(violations: Iterable[dict[str, Any]] | None = None, *, retry_delay: str | None = "38s",
                  message_delay: str | None = "38.90923309s", order: str = "help,quota,retry") -> dict[str, Any]:
    """A 2026 429: Help, QuotaFailure and RetryInfo in ``order`` (comma-separated; leave a name out to drop it).

    The message lists each violation as "* Quota exceeded for metric: …" and ends "Please retry in
    {message_delay}." -- the more precise figure the RetryInfo rounds down (``message_delay=None`` drops it).
    """
    items = list(violations) if violations is not None else [violation()]
    message = _INTRO + "".join(
        f"\n* Quota exceeded for metric: {v['quotaMetric']}"
        + (f", limit: {v['quotaValue']}" if "quotaValue" in v else "")
        + f", model: {v['quotaDimensions']['model']}"
        for v in items
    )
    if message_delay is not None:
        message += f"\nPlease retry in {message_delay}."
    parts = {
        "help": HELP,
        "quota": {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": items},
        "retry": {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    }
    details = [parts[name.strip()] for name in order.split(",") if name.strip()]
    if retry_delay is None:
        details = [d for d in details if not d["@type"].endswith("RetryInfo")]
    return error(429, "RESOURCE_EXHAUSTED", message, details)


def several_violations(model: str = "gemini-2.5-flash") -> dict[str, Any]:
    """Per-day and per-minute requests plus input tokens per minute in one 429 (python-genai#2044's shape)."""
    return quota_failure([
        violation(PER_DAY, FREE_REQUESTS, model=model, value="20"),
        violation(PER_MINUTE, FREE_REQUESTS, model=model, value="5"),
        violation(INPUT_TPM, FREE_INPUT_TOKENS, model=model, value="250000"),
    ], retry_delay="55.846891726s", message_delay=None, order="quota,help,retry")


def no_quota_value(model: str = "gemini-2.5-flash") -> dict[str, Any]:
    """A paid-tier per-minute violation without ``quotaValue``, RetryInfo first."""
    return quota_failure([violation(PAID_REQUESTS_PER_MINUTE, PAID_REQUESTS, model=model, value=None)],
                         retry_delay="12s", message_delay=None, order="retry,quota,help")


def no_details(model: str = "gemini-3.5-flash") -> dict[str, Any]:
    """The 2026 message with no ``details`` list at all: only the message says how long to wait."""
    message = (_INTRO + f"\n* Quota exceeded for metric: {FREE_REQUESTS}, limit: 20, model: {model}"
               "\nPlease retry in 7.5s.")
    return error(429, "RESOURCE_EXHAUSTED", message)


def error_info_2024(model: str = "gemini-1.5-flash") -> dict[str, Any]:
    """The 2024 (v1) form: the quota named by ErrorInfo metadata, reason RATE_LIMIT_EXCEEDED."""
    return error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "service": "generativelanguage.googleapis.com",
            "consumer": "projects/123456789",
            "quota_limit": "GenerateContentRequestsPerMinutePerProjectPerRegion",
            "quota_limit_value": "15",
            "quota_metric": "generativelanguage.googleapis.com/generate_content_requests",
            "quota_location": "us-central1",
        },
    }])


def resource_exhausted() -> dict[str, Any]:
    """The bare 429 that names no quota: status and a generic message only."""
    return error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")


def bare_message() -> dict[str, Any]:
    """The message-only 429 seen in 2026, pointing at the usage page."""
    return error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing "
                 "details. For more information, see https://ai.dev/usage?tab=rate-limit.")


def unavailable() -> dict[str, Any]:
    """A 503: the model is overloaded (retried by the SDK's HttpRetryOptions)."""
    return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


ALL_429 = {
    "2026 help,quota,retry": quota_failure,
    "2026 quota,retry,help": lambda: quota_failure(order="quota,retry,help"),
    "2026 retry,help,quota": lambda: quota_failure(order="retry,help,quota"),
    "several violations": several_violations,
    "no quotaValue": no_quota_value,
    "no details": no_details,
    "2024 ErrorInfo": error_info_2024,
    "resource exhausted": resource_exhausted,
    "bare message": bare_message,
}
"""Every 429 shape by name, for parametrised tests."""
