"""Gemini response bodies as the API serialises them: usage, responses, SSE chunks, google.rpc errors.

Kept apart from the server so tests can build the exact wire shapes (camelCase, proto3 JSON with zero counts
absent) for the fake endpoint, for OTLP agents' fixtures, or for ``otel-gemini price --usage``.
"""

from __future__ import annotations

from typing import Any


def usage(prompt: int = 10, candidates: int = 5, thoughts: int = 0, cached: int = 0, tool_use: int = 0,
          prompt_details: dict[str, int] | None = None, cache_details: dict[str, int] | None = None,
          candidates_details: dict[str, int] | None = None, tool_use_details: dict[str, int] | None = None,
          total: int | None = None, service_tier: str | None = None) -> dict[str, Any]:
    """Build `usageMetadata` the way Gemini serialises it (proto3 JSON: zero counts are simply absent).

    `prompt_details`, `cache_details` and `tool_use_details` default to all-TEXT when their count is non-zero,
    because the real API sends those breakdowns; pass `{}` to leave one out.
    """
    out: dict[str, Any] = {"promptTokenCount": prompt}
    for key, value in (("candidatesTokenCount", candidates), ("cachedContentTokenCount", cached),
                       ("toolUsePromptTokenCount", tool_use), ("thoughtsTokenCount", thoughts)):
        if value:
            out[key] = value
    out["totalTokenCount"] = prompt + candidates + thoughts + tool_use if total is None else total
    for key, given, count in (("promptTokensDetails", prompt_details, prompt),
                              ("cacheTokensDetails", cache_details, cached),
                              ("candidatesTokensDetails", candidates_details, 0),
                              ("toolUsePromptTokensDetails", tool_use_details, tool_use)):
        details = given if given is not None else ({"TEXT": count} if count else {})
        if details:
            out[key] = [{"modality": modality, "tokenCount": n} for modality, n in details.items()]
    if service_tier is not None:
        out["serviceTier"] = service_tier
    return out


def response(text: str | None = None, *, model_version: str = "gemini-2.5-flash",
             usage_metadata: dict[str, Any] | None = None, finish_reason: str = "STOP",
             response_id: str = "fake-resp-1", web_search_queries: list[str] | None = None,
             function_call: dict[str, Any] | None = None, continuation: bool = False) -> dict[str, Any]:
    """Build a full GenerateContentResponse body.

    `text` defaults to "ok" unless a `function_call` is given: a tool-call turn normally carries no text, and
    a stray text part would make `response.text` warn in the SDK. `usage_metadata=None` gives a small
    realistic usage; `{}` omits the field (the shape of some error/blocked responses).
    `continuation=True` ends the hop with finishReason CONTINUATION and a token, which makes the SDK (both
    2.34 and 3.4 do it) send a follow-up request: one SDK call, several billed requests.
    """
    if text is None and function_call is None:
        text = "ok"
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += [{"functionCall": function_call}] if function_call is not None else []
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0,
                                 "finishReason": "CONTINUATION" if continuation else finish_reason}
    if continuation:
        candidate["continuationToken"] = "ZmFrZS1jb250aW51YXRpb24="  # base64 of b"fake-continuation"
    if web_search_queries is not None:
        candidate["groundingMetadata"] = {"webSearchQueries": list(web_search_queries)}
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage_metadata is None:
        usage_metadata = usage(prompt=8, candidates=max(1, len(text or "") // 4))
    if usage_metadata:
        body["usageMetadata"] = usage_metadata
    return {**body, "modelVersion": model_version, "responseId": response_id}


def stream(texts: list[str], *, model_version: str = "gemini-2.5-flash", final_usage: dict[str, Any] | None = None,
           response_id: str = "fake-resp-1") -> list[dict[str, Any]]:
    """Build SSE chunks whose usage is a running total, as Gemini sends it.

    Input-side counts (prompt, cached, tool use, thoughts) are known from the first chunk; the candidate count
    grows; the last chunk carries `final_usage` verbatim. A consumer that sums chunks instead of keeping the
    last one will therefore over-count -- exactly the bug these chunks are meant to expose.
    """
    final = final_usage if final_usage is not None else usage(prompt=8, candidates=max(1, len("".join(texts)) // 4))
    n = len(texts)
    chunks: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if i == n - 1:
            candidate["finishReason"] = "STOP"
            running = dict(final)
        else:
            running = {k: v for k, v in final.items() if k != "candidatesTokensDetails"}
            final_c = int(final.get("candidatesTokenCount", 0))
            running["candidatesTokenCount"] = partial = final_c * (i + 1) // n
            if not partial:
                del running["candidatesTokenCount"]
            running["totalTokenCount"] = int(final.get("totalTokenCount", 0)) - (final_c - partial)
        chunks.append({"candidates": [candidate], "usageMetadata": running, "modelVersion": model_version,
                       "responseId": response_id})
    return chunks


def error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build a google.rpc error body, the shape the SDK parses into `APIError.code/.status/.details`."""
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def quota_exceeded(quota_id: str = "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                   metric: str = "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                   model: str = "gemini-3.5-flash", value: str | None = "20", retry_delay: str | None = "38s",
                   location: str = "global") -> dict[str, Any]:
    """Build the 429 RESOURCE_EXHAUSTED body captured from the free tier (gemini-billing.md section 4.3).

    `value=None` drops `quotaValue` and `retry_delay=None` drops RetryInfo, since real bodies omit both at times.
    """
    limit = f", limit: {value}" if value is not None else ""
    message = ("You exceeded your current quota, please check your plan and billing details. For more information "
               "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current "
               f"usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}{limit}, "
               f"model: {model}")
    violation: dict[str, Any] = {"quotaMetric": metric, "quotaId": quota_id,
                                 "quotaDimensions": {"location": location, "model": model}}
    violation.update({"quotaValue": value} if value is not None else {})
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
    ]
    if retry_delay is not None:
        message += f"\nPlease retry in {retry_delay}."
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return error(429, "RESOURCE_EXHAUSTED", message, details)
