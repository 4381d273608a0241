"""The wrapper kit: every sync, async and streaming wrapper of the instrumentation, written once.

A wrapped SDK method always does the same four things — decide whether this call is ours, run the SDK inside
some scope (the call made current, a hop that a failure marks unbilled, a retry loop), let the scope see the
SDK's exception (re-raised unchanged), and turn the SDK's return value into what the caller gets (the value
itself, or its stream behind a proxy). A surface describes only the middle: an *opener* that returns a
:class:`Scope` for the call, or None to leave the call alone. The kit turns one opener into the wrapt wrapper of
the sync or the async method; a :class:`Flavor` tells the scope which stream proxy and chunk watcher fit, so
a sync and an async stream need no code of their own either.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from wrapt import wrap_function_wrapper

from otel_gemini import _guard
from otel_gemini.instrumentation import coexist
from otel_gemini.instrumentation._call import CallState, Hop, current_call
from otel_gemini.instrumentation._streams import AsyncStreamProxy, SyncStreamProxy, observe, watch, watch_async

Args = tuple[Any, ...]
Wrapper = Callable[[Callable[..., Any], Any, Args, dict[str, Any]], Any]
"""A wrapt wrapper: ``(wrapped, instance, args, kwargs)``."""


class Flavor(NamedTuple):
    """What differs between a sync and an async method once the wrapper is written: how a stream is proxied
    (the proxy finishes the call with the stream) and how one HTTP request's chunks are watched."""

    is_async: bool
    proxy: Callable[[Any, CallState], Any]
    watch: Callable[[Any, Hop, Callable[[Hop, Any], None]], Any]


SYNC = Flavor(False, SyncStreamProxy, watch)
ASYNC = Flavor(True, AsyncStreamProxy, watch_async)


class Scope(Protocol):
    """Around one SDK call: entered before it, exited after it (told its exception, which is never swallowed),
    then ``done`` makes what the caller gets from what the SDK returned."""

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> Any: ...

    def done(self, value: Any, flavor: Flavor) -> Any: ...


Opener = Callable[[Any, Args, dict[str, Any]], "Scope | None"]
"""``opener(instance, args, kwargs)``: the scope of this call, or None to call the SDK untouched."""


def wrapper(opener: Opener, is_async: bool) -> Wrapper:
    """The wrapt wrapper of one method: the sync and async bodies are the only place that differ by ``await``."""
    return (_async_wrapper if is_async else _sync_wrapper)(opener)


def _sync_wrapper(opener: Opener) -> Wrapper:
    def sync_wrapper(wrapped: Callable[..., Any], instance: Any, args: Args, kwargs: dict[str, Any]) -> Any:
        scope = opener(instance, args, kwargs)
        if scope is None:
            return wrapped(*args, **kwargs)
        with scope:
            value = wrapped(*args, **kwargs)
        return scope.done(value, SYNC)

    return sync_wrapper


def _async_wrapper(opener: Opener) -> Wrapper:
    async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: Args, kwargs: dict[str, Any]) -> Any:
        scope = opener(instance, args, kwargs)
        if scope is None:
            return await wrapped(*args, **kwargs)
        with scope:
            value = await wrapped(*args, **kwargs)
        return scope.done(value, ASYNC)

    return async_wrapper


def beside_peers(settings: Any, make: Callable[[bool], Wrapper]) -> Wrapper:
    """Our wrapper, run inside another instrumentation's wrapper of the same method when one lies beneath ours.

    ``make(outside)`` builds our wrapper; ``outside`` says it runs within a peer's (coexist.py). One plain
    function serves sync and async methods: for an async method it hands back the coroutine of ours (or of the
    peer's wrapper around ours) for the caller to await, which also spares the call one coroutine layer.
    """
    alone, inside = make(False), make(True)

    def peer_aware(wrapped: Callable[..., Any], instance: Any, args: Args, kwargs: dict[str, Any]) -> Any:
        peer = coexist.peer_beneath(settings, wrapped)
        if peer is not None:
            return coexist.call_beneath(peer, wrapped, instance, args, kwargs, inside)
        return alone(wrapped, instance, args, kwargs)

    return peer_aware


def wrap_or_warn(module: str, qualname: str, wrapper: Wrapper, *, own: bool = False) -> tuple[Any, str] | None:
    """Wrap ``module.qualname``, or warn once when this SDK version has no such method (then None).

    ``own``: only a method the class defines itself; wrapping an inherited one would wrap its base class.
    Returns (owner, name) for uninstrument.
    """
    class_name, _, method = qualname.rpartition(".")
    try:
        owner: Any = importlib.import_module(module)
        for part in class_name.split(".") if class_name else ():
            owner = getattr(owner, part)
        if own and method not in vars(owner):
            raise AttributeError(method)
        getattr(owner, method)
    except (ImportError, AttributeError):
        _guard.warn_once(f"missing:{module}.{qualname}", "otel-gemini: %s has no %s; not instrumented",
                         module, qualname)
        return None
    wrap_function_wrapper(module, qualname, wrapper)
    return owner, method


def wrap_all(plan: list[tuple[str, str, Wrapper]], *, own: bool = False) -> list[tuple[Any, str]]:
    """``wrap_or_warn`` each (module, qualname, wrapper); the (owner, name) pairs of those wrapped."""
    return [pair for module, qualname, made in plan if (pair := wrap_or_warn(module, qualname, made, own=own))]


# -- one billed HTTP request of the call in flight --------------------------------------------------------------


class Plain:
    """A scope with nothing to do around the call; subclasses say what they do with its outcome."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        return None

    def done(self, value: Any, flavor: Flavor) -> Any:
        return value


class HopScope(Plain):
    """One billed HTTP request inside the call in flight: a failure marks its hop unbilled and propagates
    unchanged; its response, or each chunk of its stream (the last running usage wins), is observed."""

    __slots__ = ("state", "hop", "keep", "stream", "proxied")

    def __init__(self, state: CallState, keep: Callable[[Hop, Any], None], stream: bool, proxied: bool) -> None:
        self.state = state
        self.hop = state.new_hop()
        self.keep = keep
        """What one response (or chunk) leaves on the hop: ``Hop.observe``, or the legacy SDK's reader."""
        self.stream = stream
        self.proxied = proxied
        """The request's stream is where the call ends (legacy SDK): it is proxied, not only watched."""

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        if error is not None:
            self.hop.failed = True

    def done(self, value: Any, flavor: Flavor) -> Any:
        if not self.stream:
            observe(self.keep, self.hop, value)
            return value
        watched = flavor.watch(value, self.hop, self.keep)
        if not self.proxied:
            return watched
        try:
            return flavor.proxy(watched, self.state)
        except Exception as failure:
            _guard.report("stream", failure)
            self.state.finish()
            return value


def hop_opener(keep: Callable[[Hop, Any], None], stream: bool, *, proxied: bool = False,
               when: Callable[[], bool] | None = None) -> Opener:
    """Per-request methods: a hop of the call in flight, if any (``when``: and only if this also holds)."""

    def open_hop(instance: Any, args: Args, kwargs: dict[str, Any]) -> HopScope | None:
        state = current_call.get()
        if state is None or (when is not None and not when()):
            return None
        return HopScope(state, keep, stream, proxied)

    return open_hop


class After(Plain):
    """A scope that only looks at what the SDK returned (``seen(value)``, guarded), the value itself unchanged."""

    __slots__ = ("seen", "component")

    def __init__(self, seen: Callable[[Any], None], component: str) -> None:
        self.seen = seen
        self.component = component

    def done(self, value: Any, flavor: Flavor) -> Any:
        try:
            self.seen(value)
        except Exception as failure:
            _guard.report(self.component, failure)
        return value
