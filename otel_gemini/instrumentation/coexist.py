"""Living beside another GenAI instrumentation of the same SDK methods: one span per call, one cost.

The official ``opentelemetry-instrumentation-google-genai`` and OpenLLMetry's
``opentelemetry-instrumentation-google-generativeai`` wrap ``Models.generate_content*`` with wrapt, as we do.
Whichever instruments last runs outermost, so without care a call gets two CLIENT spans ("generate_content
gemini-…" twice, nested or side by side) and two token histograms. Only otel-gemini prices calls, so its metrics
always stay; what ``OTEL_GEMINI_SPANS`` decides is the span (docs/coexistence.md):

* ``always``: our own CLIENT span on every call, whatever else is installed (the behaviour before this module);
* ``auto`` (default): when another instrumentation wraps the same method, its span is the call's span. We run
  *inside* its wrapper whatever the instrument order (when we are outermost we hand our wrapper to theirs as
  the function to call), and when its span is the current span there (the official one makes it current) our
  cost, token and pricing attributes go on it; when it is not reachable (OpenLLMetry does not make its span
  current) we open no span and the cost is in metrics only. With no other instrumentation: our own span.
* ``never``: never a span of our own; attributes on a current peer span as in ``auto``; metrics always.

Detection is structural, not by package name: a wrapt wrapper whose wrapper function lives in an
instrumentation package (``opentelemetry.*``, ``openinference.*``, ``openlit.*``), and a recording span of
another instrumentation scope carrying ``gen_ai.operation.name``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from otel_gemini import semconv

SCOPE = "otel_gemini"
PEER_MODULES = ("opentelemetry.", "openinference.", "openlit.")
"""Where instrumentations' wrappers live; any other wrapt wrapper (a user's own) is left alone."""


def mode(settings: Any) -> str:
    """OTEL_GEMINI_SPANS, already validated and lower-cased by config.load_settings."""
    return str(settings.spans)


def _foreign_wrapper(function: Any) -> Any:
    """The wrapper function of a wrapt wrapper that is not ours, else None."""
    wrapper = getattr(function, "_self_wrapper", None)
    if wrapper is None or not hasattr(function, "__wrapped__"):
        return None
    module = getattr(wrapper, "__module__", "") or ""
    return wrapper if module.startswith(PEER_MODULES) else None


def peer_beneath(settings: Any, wrapped: Any) -> Callable[..., Any] | None:
    """Another instrumentation's wrapper that our wrapper is about to call (we are outermost), unless ``always``."""
    if mode(settings) == "always":
        return None
    return _foreign_wrapper(wrapped)


def call_beneath(peer: Callable[..., Any], wrapped: Any, instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any], ours: Callable[..., Any]) -> Any:
    """Run the peer's wrapper with ours inside it: ``ours(inner, instance, args, kwargs)`` is our wrapper body.

    The peer gets exactly the arguments it would have got; what it calls is our wrapper around the function it
    would have called. So the nesting is the same in either instrument order: theirs outside, ours inside.
    """
    inner = wrapped.__wrapped__

    def call(*call_args: Any, **call_kwargs: Any) -> Any:
        return ours(inner, instance, call_args, call_kwargs)

    return peer(call, instance, args, kwargs)


def peer_above(instance: Any, method: str) -> bool:
    """True when the method on the class is another instrumentation's wrapper, i.e. it runs outside ours."""
    cls = type(instance)
    found = cls.__dict__.get(method)  # the wrapped SDK class itself: a dict lookup on every call
    if found is None:
        try:  # a subclass of the SDK class: look along the MRO without triggering descriptors
            found = inspect.getattr_static(cls, method)
        except AttributeError:
            return False
    return _foreign_wrapper(found) is not None


def _peer_span() -> Any:
    """The current span when it is a recording GenAI span of another instrumentation, else None."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    attributes = getattr(span, "attributes", None) or {}
    if scope == SCOPE or semconv.OPERATION not in attributes:
        return None
    return span


def span_for_call(settings: Any, outside: bool = False) -> Any:
    """The span a new call reports on: None to open our own; a peer's span; or a non-recording stand-in.

    ``outside`` says another instrumentation runs around this call (we were called from inside its wrapper).
    The stand-in keeps the current trace context, so spans the SDK's HTTP layer opens keep their parent.
    """
    chosen = mode(settings)
    if chosen == "always":
        return None
    peer = _peer_span()
    if peer is not None:
        return peer
    if chosen == "never" or outside:
        return NonRecordingSpan(trace.get_current_span().get_span_context())
    return None
