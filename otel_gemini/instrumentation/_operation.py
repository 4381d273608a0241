"""Every SDK method other than generate_content: one wrapper factory, told by an :class:`Operation` what to bill.

Embeddings, token counting, caches, batches, Imagen/Veo, files, interactions: each is a public SDK method that
sends one or a few HTTP requests and returns a parsed object. They share the lifecycle of a generate call
(CallState: span, finish once, errors re-raised unchanged); what differs is only where the bill is found — in the
returned object (``on_result``), in the raw response body the SDK parses away (``on_raw``), or in a stream's
events (``on_chunk``). Those three hooks are the whole surface-specific part.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context, trace

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import _kit, coexist, content
from otel_gemini.instrumentation._call import CallState, Endpoint, current_call
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine

_endpoints: weakref.WeakKeyDictionary[Any, Endpoint] = weakref.WeakKeyDictionary()


def endpoint_of(api_client: Any) -> Endpoint:
    """Provider, server and Vertex location of a client, computed once per client object."""
    try:
        return _endpoints[api_client]
    except (KeyError, TypeError):
        pass
    vertex = bool(getattr(api_client, "vertexai", False))
    options = getattr(api_client, "_http_options", None)
    parts = urlsplit(str(getattr(options, "base_url", "") or ""))
    location = getattr(api_client, "location", None) if vertex else None
    endpoint = Endpoint(
        provider=semconv.PROVIDER_VERTEX if vertex else semconv.PROVIDER_GEMINI,
        platform="vertex_ai" if vertex else "gemini",
        address=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None),
        location=str(location) if location else None,
    )
    try:
        _endpoints[api_client] = endpoint
    except TypeError:
        pass
    return endpoint


def model_argument(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The ``model=`` of a call (keyword-only in google-genai, first positional in older code)."""
    model = kwargs.get("model", args[0] if args else None)
    return str(model) if model else None


@dataclass(frozen=True)
class Operation:
    """What one SDK method is, for billing: its operation name and where its bill is found."""

    name: str
    model: Callable[[Any, tuple[Any, ...], dict[str, Any]], str | None] = model_argument
    on_start: Callable[[CallState, Any, tuple[Any, ...], dict[str, Any]], None] | None = None
    on_result: Callable[[CallState, Any], None] | None = None
    on_raw: Callable[[CallState, str, str, dict[str, Any]], None] | None = None
    on_chunk: Callable[[CallState, Any], None] | None = None
    on_error: Callable[[CallState, BaseException], None] | None = None
    """Told the SDK's exception before it propagates (unchanged): a 404 can mean a resource ended elsewhere."""
    unmetered_status: str = engine.UNMETERED
    stream: bool = False
    """The method returns an iterator of events: it is proxied and the call ends with the stream."""


class Active:
    """While the SDK runs: the call is current (for raw-response hooks and child spans); errors finish it.

    The kit's scope of every span-owning call (instrumentation/_kit.py): ``done`` bills the returned object, or
    hands back the stream behind a proxy that finishes the call with the stream.
    """

    __slots__ = ("state", "op", "stream", "_call_token", "_context_token")

    def __init__(self, state: CallState, op: Operation | None = None, stream: bool = False) -> None:
        self.state = state
        self.op = op
        self.stream = stream or (op is not None and op.stream)

    def __enter__(self) -> None:
        self._call_token = current_call.set(self.state)
        self._context_token = context.attach(trace.set_span_in_context(self.state.span))

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        context.detach(self._context_token)
        current_call.reset(self._call_token)
        if error is not None:
            if self.op is not None:
                _guarded(self.op.name, self.op.on_error, self.state, error)
            self.state.finish(error)

    def done(self, value: Any, flavor: _kit.Flavor) -> Any:
        """After the SDK returned: bill the result, or hand back a proxied stream that finishes the call later."""
        if self.stream:
            try:
                return flavor.proxy(value, self.state)
            except Exception as failure:
                _guard.report("stream", failure)
                return value
        if self.op is not None:
            _guarded(self.op.name, self.op.on_result, self.state, value)
        self.state.finish(result=value)
        return value


def _guarded(component: str, hook: Callable[..., None] | None, *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception as failure:
        _guard.report(component, failure)


def start(
    telemetry: Telemetry, op: Operation, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> CallState | None:
    """Open the call (span included); None when that failed, and the SDK call then runs untouched."""
    try:
        model = op.model(instance, args, kwargs) or "unknown"
        api_client = getattr(instance, "_api_client", None)
        state = CallState(telemetry, op.name, model, endpoint_of(api_client), op.stream, op.unmetered_status,
                          span=coexist.span_for_call(telemetry.settings))
        state.api_key = getattr(api_client, "api_key", None)
        if content.mode(telemetry.settings) == "NO_CONTENT":
            state.request_contents = kwargs.get("contents", args[0] if args else None)
        state.on_raw = op.on_raw  # called with the state (_raw): no per-call partial
        if op.on_chunk is not None:
            state.chunk_hook = functools.partial(op.on_chunk, state)
    except Exception as failure:
        _guard.report("start", failure)
        return None
    _guarded(op.name, op.on_start, state, instance, args, kwargs)
    return state


def opener(telemetry: Telemetry, op: Operation) -> _kit.Opener:
    """The kit's opener of one operation: start the call (None: it runs untouched), current while the SDK runs."""

    def open_call(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Active | None:
        state = start(telemetry, op, instance, args, kwargs)
        return None if state is None else Active(state, op)

    return open_call


def factory(telemetry: Telemetry, op: Operation, is_async: bool) -> Callable[..., Any]:
    """The wrapt wrapper of one method for ``op``."""
    return _kit.wrapper(opener(telemetry, op), is_async)


def wrap(telemetry: Telemetry, module: str, qualname: str, op: Operation, is_async: bool) -> tuple[Any, str] | None:
    """Wrap ``module.qualname`` for ``op``; a method this SDK version lacks is skipped with one warning."""
    return _kit.wrap_or_warn(module, qualname, factory(telemetry, op, is_async))


# -- raw response bodies ------------------------------------------------------------------------------------


def _raw(state: CallState, http_method: Any, path: Any, response: Any) -> None:
    try:
        body = getattr(response, "body", None)
        needle = getattr(state.on_raw, "needle", None)  # a hook that reads one key skips bodies without it
        if needle is not None and isinstance(body, str) and needle not in body:
            return
        parsed = json.loads(body) if body else {}
        if isinstance(parsed, dict):
            state.on_raw(state, str(http_method).upper(), str(path), parsed)
    except Exception as failure:
        _guard.report("raw_response", failure)


def _tap(state: CallState, method: Any, path: Any, stream: Any) -> Any:
    """A streamed response's chunks, each body shown to the call's raw hook on its way to the SDK, unchanged."""
    try:
        for item in stream:
            _raw(state, method, path, item)
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _tap_async(state: CallState, method: Any, path: Any, stream: Any) -> Any:
    try:
        async for item in stream:
            _raw(state, method, path, item)
            yield item
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


class _Raw(_kit.Plain):
    """Around the api client's request of a call that asked for raw bodies: hand it the body, or each chunk's
    body of a streamed request (chunk bodies carry what the parsed chunks drop: serviceTier)."""

    __slots__ = ("state", "http_method", "path", "streamed")

    def __init__(self, state: CallState, http_method: Any, path: Any, streamed: bool) -> None:
        self.state = state
        self.http_method = http_method
        self.path = path
        self.streamed = streamed

    def done(self, response: Any, flavor: _kit.Flavor) -> Any:
        if self.streamed:
            return (_tap_async if flavor.is_async else _tap)(self.state, self.http_method, self.path, response)
        _raw(self.state, self.http_method, self.path, response)
        return response


def _raw_opener(streamed: bool) -> _kit.Opener:
    def open_raw(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Raw | None:
        state = current_call.get()
        if state is None or state.on_raw is None:
            return None
        return _Raw(state, kwargs.get("http_method", args[0] if args else ""),
                    kwargs.get("path", args[1] if len(args) > 1 else ""), streamed)

    return open_raw


def instrument_raw(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """The raw-body hook on google-genai's api client: one-shot bodies, and each chunk of a streamed one."""
    return _kit.wrap_all([("google.genai._api_client", f"BaseApiClient.{method}",
                           _kit.wrapper(_raw_opener(method.endswith("streamed")), is_async))
                          for method, is_async in (("request", False), ("async_request", True),
                                                   ("request_streamed", False), ("async_request_streamed", True))])
