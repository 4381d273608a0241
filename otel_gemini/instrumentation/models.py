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

from typing import Any

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import _kit, coexist, content
from otel_gemini.instrumentation._call import CallState, Hop, body_tier
from otel_gemini.instrumentation._operation import Active, endpoint_of
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
        state.api_key = getattr(instance._api_client, "api_key", None)
        if content.mode(telemetry.settings) == "NO_CONTENT":
            state.request_contents = kwargs.get("contents")
        content.request(state, kwargs)
        state.on_raw = body_tier  # the tier in usageMetadata when no header says
        config = kwargs.get("config")
        if config is not None:
            state.requested_tier = requested_tier(config)
            if state.span.is_recording():
                try:
                    state.span.set_attributes(request_attributes(config))
                except Exception as failure:  # a failing span costs its attributes, never the call's count
                    _guard.report("span", failure)
        return state
    except Exception as failure:
        _guard.report("start", failure)
        return None


def _public(telemetry: Telemetry, stream: bool, is_async: bool, method: str) -> _kit.Wrapper:
    """The span-owning wrapper of a public method.

    When another instrumentation's wrapper lies beneath ours, ours runs inside it instead (coexist.py).
    """

    def make(outside: bool) -> _kit.Wrapper:
        def open_call(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Active | None:
            state = _start(telemetry, instance, kwargs, args, stream, outside or coexist.peer_above(instance, method))
            return None if state is None else Active(state, stream=stream)

        return _kit.wrapper(open_call, is_async)

    return _kit.beside_peers(telemetry.settings, make)


def _per_request(stream: bool, is_async: bool) -> _kit.Wrapper:
    """The wrapper of a per-request method: records the response as a hop of the call in flight, if any."""
    return _kit.wrapper(_kit.hop_opener(Hop.observe, stream), is_async)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap every method above; returns (class, name) pairs for uninstrument."""
    plan: list[tuple[str, str, _kit.Wrapper]] = []
    for class_name, method, kind in PUBLIC:
        plan.append((_MODULE, f"{class_name}.{method}", _public(telemetry, "stream" in kind, "async" in kind, method)))
    for class_name, method, kind in PER_REQUEST:
        plan.append((_MODULE, f"{class_name}.{method}", _per_request("stream" in kind, "async" in kind)))
    return _kit.wrap_all(plan)
