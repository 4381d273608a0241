"""``models.embed_content`` (sync and async): one span per call, priced from the usage the API itself reports.

Why the raw body: on the Developer API, gemini-embedding-2 reports a top-level ``usageMetadata`` whose per-modality
breakdown is spelled ``promptTokenDetails`` (not ``promptTokensDetails``) and the SDK drops it, so a text+image
embed would otherwise be billed as all text. Vertex reports ``usageMetadata`` on ``:embedContent`` and a per
instance ``statistics.token_count`` on ``:predict`` / ``:batchEmbedContents``. Every route the SDK takes
(``:embedContent``, ``:batchEmbedContents``, ``:predict``) is one HTTP request, so one call is one charge.

Where the API reports no usage (gemini-embedding-001 on the Developer API) nothing is charged: the call is counted
``unmetered``. Guessing from characters would be a made-up bill, and sending ``countTokens`` on the user's behalf
would be traffic they did not ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_gemini import semconv
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, wrap
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.usage import Usage, extract_usage

_EMBED_ACTIONS = (":embedContent", ":batchEmbedContents", ":predict")
DIMENSION_ATTRIBUTE = semconv.EMBEDDINGS_DIMENSION


def _embeddings(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The embedding objects of any of the three response shapes (embedContent, batchEmbedContents, predict)."""
    found: list[Any] = []
    single = body.get("embedding")
    if isinstance(single, Mapping):
        found.append(single)
    found.extend(body.get("embeddings") or ())
    for prediction in body.get("predictions") or ():
        if isinstance(prediction, Mapping):
            found.append(prediction.get("embeddings"))
    return [item for item in found if isinstance(item, Mapping)]


def usage_from_body(body: Mapping[str, Any]) -> Usage | None:
    """The billed usage of one embeddings response body; None when the API reported none.

    ``usageMetadata`` wins when present (it is the whole request's bill). Otherwise Vertex's per-instance
    ``statistics.token_count`` are summed; their ``tokensDetails`` give modalities when sent, else they are text.
    """
    metadata = body.get("usageMetadata")
    if isinstance(metadata, Mapping):
        usage = extract_usage(metadata)
        if usage is not None:
            return usage
    total, seen = 0, False
    details: list[Any] = []
    for embedding in _embeddings(body):
        statistics = embedding.get("statistics")
        if not isinstance(statistics, Mapping):
            continue
        count = statistics.get("token_count", statistics.get("tokenCount"))
        if count is None:
            continue
        seen = True
        total += int(count)
        details.extend(statistics.get("tokensDetails") or statistics.get("tokens_details") or ())
    if not seen:
        return None
    if total == 0:
        return Usage()  # the API said zero tokens: a real, free request, not a missing bill
    return extract_usage({"promptTokenCount": total, "promptTokensDetails": details})


def _on_raw(state: CallState, http_method: str, path: str, body: dict[str, Any]) -> None:
    if not path.split("?", 1)[0].endswith(_EMBED_ACTIONS):
        return
    usage = usage_from_body(body)
    if usage is not None:
        state.charge_tokens(None, usage)


def _on_result(state: CallState, result: Any) -> None:
    """The vector size is useful to tell configurations apart (semconv ``gen_ai.embeddings.dimension.count``)."""
    embeddings = getattr(result, "embeddings", None)
    if embeddings:
        values = getattr(embeddings[0], "values", None)
        if values:
            state.span.set_attribute(DIMENSION_ATTRIBUTE, len(values))


OPERATION = Operation(semconv.OP_EMBEDDINGS, on_raw=_on_raw, on_result=_on_result)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap ``Models.embed_content`` and ``AsyncModels.embed_content`` (every embeddings route goes through them)."""
    wrapped = (
        wrap(telemetry, "google.genai.models", f"{cls}.embed_content", OPERATION, is_async=is_async)
        for cls, is_async in (("Models", False), ("AsyncModels", True))
    )
    return [pair for pair in wrapped if pair is not None]
