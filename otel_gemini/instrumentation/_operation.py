"""Every SDK method other than generate_content: one wrapper factory, told by an :class:`Operation` what to bill.

Embeddings, token counting, caches, batches, Imagen/Veo, files, interactions: each is a public SDK method that
sends one or a few HTTP requests and returns a parsed object. They share the lifecycle of a generate call
(CallState: span, finish once, errors re-raised unchanged); what differs is only where the bill is found — in the
returned object (``on_result``), in the raw response body the SDK parses away (``on_raw``), or in a stream's
events (``on_chunk``). Those three hooks are the whole surface-specific part.
"""

from __future__ import annotations

import functools
import importlib
import json
import weakref
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from opentelemetry import context, trace
from wrapt import wrap_function_wrapper

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation._call import CallState, Endpoint, current_call
from otel_gemini.instrumentation import coexist
from otel_gemini.instrumentation._streams import AsyncStreamProxy, SyncStreamProxy
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine

_endpoints: "weakref.WeakKeyDictionary[Any, Endpoint]" = weakref.WeakKeyDictionary()


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
    """While the SDK runs: the call is current (for raw-response hooks and child spans); errors finish it."""

    __slots__ = ("state", "op", "_call_token", "_context_token")

    def __init__(self, state: CallState, op: Operation | None = None) -> None:
        self.state = state
        self.op = op

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


def _guarded(component: str, hook: Callable[..., None] | None, *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception as failure:
        _guard.report(component, failure)


def start(telemetry: Telemetry, op: Operation, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallState | None:
    """Open the call (span included); None when that failed, and the SDK call then runs untouched."""
    try:
        model = op.model(instance, args, kwargs) or "unknown"
        api_client = getattr(instance, "_api_client", None)
        state = CallState(telemetry, op.name, model, endpoint_of(api_client), op.stream, op.unmetered_status,
                          span=coexist.span_for_call(telemetry.settings))
        if op.on_raw is not None:
            state.on_raw = functools.partial(op.on_raw, state)
        if op.on_chunk is not None:
            state.chunk_hook = functools.partial(op.on_chunk, state)
    except Exception as failure:
        _guard.report("start", failure)
        return None
    _guarded(op.name, op.on_start, state, instance, args, kwargs)
    return state


def complete(op: Operation, state: CallState, value: Any, is_async: bool) -> Any:
    """After the SDK returned: bill the result, or hand back a proxied stream that finishes the call later."""
    if op.stream:
        try:
            return AsyncStreamProxy(value, state) if is_async else SyncStreamProxy(value, state)
        except Exception as failure:
            _guard.report("stream", failure)
            return value
    _guarded(op.name, op.on_result, state, value)
    state.finish(result=value)
    return value


def factory(telemetry: Telemetry, op: Operation, is_async: bool) -> Callable[..., Any]:
    """The wrapt wrapper of one method; the sync and async bodies differ only by ``await``."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            state = start(telemetry, op, instance, args, kwargs)
            if state is None:
                return await wrapped(*args, **kwargs)
            with Active(state, op):
                value = await wrapped(*args, **kwargs)
            return complete(op, state, value, is_async=True)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state = start(telemetry, op, instance, args, kwargs)
        if state is None:
            return wrapped(*args, **kwargs)
        with Active(state, op):
            value = wrapped(*args, **kwargs)
        return complete(op, state, value, is_async=False)

    return wrapper


def wrap(telemetry: Telemetry, module: str, qualname: str, op: Operation, is_async: bool) -> tuple[Any, str] | None:
    """Wrap ``module.qualname`` for ``op``; a method this SDK version lacks is skipped with one warning."""
    return wrap_function(module, qualname, factory(telemetry, op, is_async))


def wrap_function(module: str, qualname: str, wrapper: Callable[..., Any]) -> tuple[Any, str] | None:
    """Wrap ``module.qualname`` with a wrapt wrapper, or warn once when this SDK version has no such method."""
    class_name, _, method = qualname.rpartition(".")
    try:
        owner: Any = importlib.import_module(module)
        for part in class_name.split(".") if class_name else ():
            owner = getattr(owner, part)
        getattr(owner, method)
    except (ImportError, AttributeError):
        _guard.warn_once(f"missing:{module}.{qualname}", "otel-gemini: %s has no %s; not instrumented", module, qualname)
        return None
    wrap_function_wrapper(module, qualname, wrapper)
    return owner, method


# -- raw response bodies ------------------------------------------------------------------------------------


def _raw(state: CallState, http_method: Any, path: Any, response: Any) -> None:
    try:
        body = getattr(response, "body", None)
        needle = getattr(state.on_raw, "needle", None)  # a hook that reads one key skips bodies without it
        if needle is not None and isinstance(body, str) and needle not in body:
            return
        parsed = json.loads(body) if body else {}
        if isinstance(parsed, dict):
            state.on_raw(str(http_method).upper(), str(path), parsed)
    except Exception as failure:
        _guard.report("raw_response", failure)


def _raw_wrapper(is_async: bool) -> Callable[..., Any]:
    """Around the api client's one-shot request: hand the body to the call in flight when it asked for it."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            response = await wrapped(*args, **kwargs)
            state = current_call.get()
            if state is not None and state.on_raw is not None:
                _raw(state, kwargs.get("http_method", args[0] if args else ""), kwargs.get("path", args[1] if len(args) > 1 else ""), response)
            return response

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        response = wrapped(*args, **kwargs)
        state = current_call.get()
        if state is not None and state.on_raw is not None:
            _raw(state, kwargs.get("http_method", args[0] if args else ""), kwargs.get("path", args[1] if len(args) > 1 else ""), response)
        return response

    return wrapper


def _args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    return kwargs.get("http_method", args[0] if args else ""), kwargs.get("path", args[1] if len(args) > 1 else "")


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


def _streamed_wrapper(is_async: bool) -> Callable[..., Any]:
    """Around the api client's streamed request: chunk bodies carry what the parsed chunks drop (serviceTier)."""
    if is_async:

        async def async_wrapper(
            wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        ) -> Any:
            stream = await wrapped(*args, **kwargs)
            state = current_call.get()
            if state is None or state.on_raw is None:
                return stream
            return _tap_async(state, *_args(args, kwargs), stream)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        stream = wrapped(*args, **kwargs)
        state = current_call.get()
        if state is None or state.on_raw is None:
            return stream
        return _tap(state, *_args(args, kwargs), stream)

    return wrapper


def instrument_raw(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """The raw-body hook on google-genai's api client: one-shot bodies, and each chunk of a streamed one."""
    wrapped = []
    for method, is_async in (("request", False), ("async_request", True), ("request_streamed", False),
                             ("async_request_streamed", True)):
        try:
            from google.genai import _api_client

            getattr(_api_client.BaseApiClient, method)
        except (ImportError, AttributeError):
            _guard.warn_once(f"missing:BaseApiClient.{method}", "otel-gemini: google-genai has no BaseApiClient.%s", method)
            continue
        make = _streamed_wrapper if method.endswith("streamed") else _raw_wrapper
        wrap_function_wrapper("google.genai._api_client", f"BaseApiClient.{method}", make(is_async))
        wrapped.append((_api_client.BaseApiClient, method))
    return wrapped
