"""google-genai ``models.generate_content*`` (sync and async; chats go through these too).

Two layers are wrapped, on both SDK lines (2.x and 3.x share the shape):

* the public methods (``Models.generate_content``, ``generate_content_stream`` and the ``AsyncModels`` pair)
  open a :class:`CallState` and its span, which covers the whole logical call;
* the per-request methods (``_generate_content``, ``_generate_content_stream``) run once per billed HTTP
  request — automatic continuation, automatic function calling and stream reconnects each send another — and
  hand each response to the call in flight, found through a context variable.

The caller always gets the SDK's own object back (a stream is proxied, never replaced or consumed) and the
SDK's own exception, raised unchanged.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from wrapt import wrap_function_wrapper

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import coexist, content
from otel_gemini.instrumentation._call import CallState, Hop, body_tier, current_call
from otel_gemini.instrumentation._operation import Active, endpoint_of
from otel_gemini.instrumentation._streams import AsyncStreamProxy, SyncStreamProxy, observe_hop, observe_hop_async
from otel_gemini.instrumentation._telemetry import Telemetry

_MODULE = "google.genai.models"

PUBLIC = (
    ("Models", "generate_content", "sync"),
    ("Models", "generate_content_stream", "sync_stream"),
    ("AsyncModels", "generate_content", "async"),
    ("AsyncModels", "generate_content_stream", "async_stream"),
)
PER_REQUEST = (
    ("Models", "_generate_content", "sync"),
    ("Models", "_generate_content_stream", "sync_stream"),
    ("AsyncModels", "_generate_content", "async"),
    ("AsyncModels", "_generate_content_stream", "async_stream"),
)


def _model_name(model: Any) -> str:
    return str(model) if model else "unknown"


def request_attributes(config: Any) -> dict[str, Any]:
    """Semconv request attributes from a GenerateContentConfig or its dict form (only for recording spans)."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name, None)
    attributes = {}
    for field, attribute in semconv.REQUEST_CONFIG_ATTRIBUTES.items():
        value = get(field)
        if value is not None:
            attributes[attribute] = list(value) if isinstance(value, (list, tuple)) else value
    return attributes


def requested_tier(config: Any) -> str | None:
    """The config's ``service_tier`` (a ServiceTier enum or its string), to count priority→standard downgrades."""
    if isinstance(config, dict):
        tier = config.get("service_tier", config.get("serviceTier"))
    else:
        tier = getattr(config, "service_tier", None)
    if tier is None:
        return None
    return str(getattr(tier, "value", tier)).lower()


def _start(
    telemetry: Telemetry, instance: Any, kwargs: dict[str, Any], args: tuple[Any, ...], stream: bool, outside: bool,
) -> CallState | None:
    try:
        model = kwargs.get("model", args[0] if args else None)
        state = CallState(
            telemetry, semconv.OP_GENERATE_CONTENT, _model_name(model), endpoint_of(instance._api_client), stream,
            span=coexist.span_for_call(telemetry.settings, outside),
        )
        content.request(state, kwargs)
        state.on_raw = functools.partial(body_tier, state)  # the tier in usageMetadata when no header says
        state.on_raw.needle = '"serviceTier"'  # type: ignore[attr-defined]
        config = kwargs.get("config")
        if config is not None:
            state.requested_tier = requested_tier(config)
            if state.span.is_recording():
                state.span.set_attributes(request_attributes(config))
        return state
    except Exception as failure:
        _guard.report("start", failure)
        return None


def _complete(state: CallState, value: Any, stream: bool, is_async: bool) -> Any:
    if not stream:
        state.finish(result=value)
        return value
    try:
        return AsyncStreamProxy(value, state) if is_async else SyncStreamProxy(value, state)
    except Exception as failure:
        _guard.report("stream", failure)
        return value


def _public(telemetry: Telemetry, stream: bool, is_async: bool, method: str) -> Callable[..., Any]:
    """The span-owning wrapper of a public method; the sync and async bodies differ only by ``await``.

    When another instrumentation's wrapper lies beneath ours, ours runs inside it instead (coexist.py).
    """
    settings = telemetry.settings
    if is_async:

        async def async_body(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                             outside: bool = False) -> Any:
            state = _start(telemetry, instance, kwargs, args, stream, outside or coexist.peer_above(instance, method))
            if state is None:
                return await wrapped(*args, **kwargs)
            with Active(state):
                value = await wrapped(*args, **kwargs)
            return _complete(state, value, stream, is_async=True)

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            peer = coexist.peer_beneath(settings, wrapped)
            if peer is not None:
                return await coexist.call_beneath(
                    peer, wrapped, instance, args, kwargs, lambda w, i, a, k: async_body(w, i, a, k, True))
            return await async_body(wrapped, instance, args, kwargs)

        return async_wrapper

    def body(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             outside: bool = False) -> Any:
        state = _start(telemetry, instance, kwargs, args, stream, outside or coexist.peer_above(instance, method))
        if state is None:
            return wrapped(*args, **kwargs)
        with Active(state):
            value = wrapped(*args, **kwargs)
        return _complete(state, value, stream, is_async=False)

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        peer = coexist.peer_beneath(settings, wrapped)
        if peer is not None:
            return coexist.call_beneath(peer, wrapped, instance, args, kwargs, lambda w, i, a, k: body(w, i, a, k, True))
        return body(wrapped, instance, args, kwargs)

    return wrapper


class _Request:
    """Around one billed HTTP request: a failure marks its hop unbilled and propagates unchanged."""

    __slots__ = ("hop",)

    def __init__(self, hop: Hop) -> None:
        self.hop = hop

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        if error is not None:
            self.hop.failed = True


def _observed(hop: Hop, value: Any, stream: bool, is_async: bool) -> Any:
    if stream:
        return observe_hop_async(value, hop) if is_async else observe_hop(value, hop)
    try:
        hop.observe(value)
    except Exception as failure:
        _guard.report("response", failure)
    return value


def _per_request(telemetry: Telemetry, stream: bool, is_async: bool) -> Callable[..., Any]:
    """The wrapper of a per-request method: records the response as a hop of the call in flight, if any."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            state = current_call.get()
            if state is None:
                return await wrapped(*args, **kwargs)
            hop = state.new_hop()
            with _Request(hop):
                value = await wrapped(*args, **kwargs)
            return _observed(hop, value, stream, is_async=True)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state = current_call.get()
        if state is None:
            return wrapped(*args, **kwargs)
        hop = state.new_hop()
        with _Request(hop):
            value = wrapped(*args, **kwargs)
        return _observed(hop, value, stream, is_async=False)

    return wrapper


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap every method above; returns (class, name) pairs for uninstrument."""
    import google.genai.models as models

    wrapped: list[tuple[Any, str]] = []
    for layer, methods in (("public", PUBLIC), ("request", PER_REQUEST)):
        for class_name, method, kind in methods:
            cls = getattr(models, class_name, None)
            if cls is None or not hasattr(cls, method):
                _guard.warn_once(f"missing:{class_name}.{method}", "otel-gemini: google-genai has no %s.%s; not instrumented", class_name, method)
                continue
            if layer == "public":
                wrapper = _public(telemetry, "stream" in kind, "async" in kind, method)
            else:
                wrapper = _per_request(telemetry, "stream" in kind, "async" in kind)
            wrap_function_wrapper(_MODULE, f"{class_name}.{method}", wrapper)
            wrapped.append((cls, method))
    return wrapped
