"""``caches.create/get/update/delete/list`` (sync and async): the cache write, and the storage meter's inputs.

Creating an explicit cache bills its tokens once at the input rate (``gemini_cost_type="cache_write"`` on the
``create_cache`` call); the returned ``CachedContent.usage_metadata.total_token_count`` is that count, as no
``usageMetadata`` of a generate call ever carries it (billing reference §1.4, §2.5). Storage is billed for the
cache's real lifetime, which no single call knows: every call here only *tells* the process-wide
:class:`~otel_gemini.billing.cache_storage.CacheStorageMeter` what happened (created, seen with an expiry, deleted), and
the meter settles storage as ``operation="cache_storage"`` charges, also at every metrics collection.

The other calls are free API calls: counted with ``gemini_pricing_status="unbilled"``. ``list`` is wrapped at the
SDK's per-page ``_list`` so that caches on pages fetched lazily while iterating the Pager are seen too.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from otel_gemini import semconv
from otel_gemini.billing.cache_storage import CacheStorageMeter
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, wrap
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine
from otel_gemini.recording import Charge
from otel_gemini.usage import extract_usage

_meter: CacheStorageMeter | None = None
_MODEL_PREFIX = re.compile(r"^(?:.*/)?models/")


def meter() -> CacheStorageMeter | None:
    """The meter of the current instrumentation (None before ``instrument``); tests and the demo set its clock."""
    return _meter


def short_model(model: str | None) -> str | None:
    """``models/gemini-2.5-pro`` and Vertex's ``projects/…/publishers/google/models/gemini-2.5-pro``: the id."""
    return _MODEL_PREFIX.sub("", model) if model else None


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return None


def _tokens(cached: Any) -> int | None:
    usage = getattr(cached, "usage_metadata", None)
    total = getattr(usage, "total_token_count", None) if usage is not None else None
    return int(total) if total is not None else None


def _place(state: CallState) -> dict[str, Any]:
    endpoint = state.endpoint
    return {"provider": endpoint.provider, "platform": endpoint.platform, "location": endpoint.location}


def operations(meter: CacheStorageMeter) -> dict[str, Operation]:
    """The five operations, bound to one meter (a re-instrument builds new ones around a new meter)."""

    def cache_model(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        return meter.model_of(kwargs.get("name"))

    def no_model(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        return None

    def on_create(state: CallState, result: Any) -> None:
        tokens = _tokens(result)
        if tokens is None:  # no count, no bill: the call is "unmetered", never $0
            state.charge_tokens(None, None)
            return
        usage = extract_usage({"promptTokenCount": tokens, "totalTokenCount": tokens})
        assert usage is not None
        endpoint = state.endpoint
        cost = state.telemetry.pricer.cache_write(
            state.request_model, usage, at=state.wall_started, platform=endpoint.platform, location=endpoint.location,
        )
        state.add_charge(Charge(cost, usage))
        if result.name:
            model = short_model(state.request_model) or short_model(result.model) or "unknown"
            meter.created(
                result.name, model, tokens, _epoch(result.create_time), _epoch(result.expire_time), **_place(state),
            )

    def seen(state: CallState, cached: Any) -> None:
        name = getattr(cached, "name", None)
        if name:
            model = short_model(getattr(cached, "model", None)) or meter.model_of(name) or "unknown"
            meter.seen(name, model, _tokens(cached), _epoch(getattr(cached, "expire_time", None)), **_place(state))

    def on_list(state: CallState, result: Any) -> None:
        for cached in getattr(result, "cached_contents", None) or ():
            seen(state, cached)

    def on_delete_raw(state: CallState, http_method: str, path: str, body: dict[str, Any]) -> None:
        """The delete response is empty: the deleted name is the request path's (only 2xx responses get here)."""
        if http_method == "DELETE":
            meter.deleted(path.split("?", 1)[0])

    def remember_name(state: CallState, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        state.context = kwargs.get("name")

    def on_gone(state: CallState, error: BaseException) -> None:
        """404 for a cache this process meters: it ended elsewhere (another replica deleted it); stop now, not at
        its expiry, so the meter over-counts at most until this process next asks."""
        if getattr(error, "code", None) == 404 and state.context:
            meter.deleted(str(state.context))

    unbilled = engine.UNBILLED
    by_name = dict(model=cache_model, on_start=remember_name, on_error=on_gone, unmetered_status=unbilled)
    return {
        "create": Operation(semconv.OP_CREATE_CACHE, on_result=on_create),
        "get": Operation(semconv.OP_GET_CACHE, on_result=seen, **by_name),  # type: ignore[arg-type]
        "update": Operation(semconv.OP_UPDATE_CACHE, on_result=seen, **by_name),  # type: ignore[arg-type]
        "delete": Operation(semconv.OP_DELETE_CACHE, on_raw=on_delete_raw, **by_name),  # type: ignore[arg-type]
        "_list": Operation(semconv.OP_LIST_CACHES, model=no_model, on_result=on_list, unmetered_status=unbilled),
    }


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap the five methods on ``Caches`` and ``AsyncCaches``; a new process-wide meter joins the recorder."""
    global _meter
    meter = CacheStorageMeter(telemetry.pricer, telemetry.recorder)
    telemetry.recorder.collect_hooks.append(meter.collect)
    _meter = meter
    wrapped = (
        wrap(telemetry, "google.genai.caches", f"{cls}.{method}", op, is_async=is_async)
        for method, op in operations(meter).items()
        for cls, is_async in (("Caches", False), ("AsyncCaches", True))
    )
    return [pair for pair in wrapped if pair is not None]
