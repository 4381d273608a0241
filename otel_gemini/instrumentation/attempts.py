"""Every HTTP attempt inside an SDK call: the SDK's own retries, continuation hops, and what each error said.

One span covers one SDK call, but the SDK may send many HTTP requests for it: ``HttpRetryOptions`` makes
google-genai retry 408/429/5xx inside ``BaseApiClient._request`` (a tenacity loop around ``_request_once``;
``_async_request`` / ``_async_request_once`` for asyncio; streams go through the same methods with
``stream=True``), and automatic continuation or function calling sends further requests, each with its own loop.
A retry storm is invisible on the span; it is visible here.

Two layers are wrapped on google-genai 2.x and 3.x alike:

* the loop (``_request`` / ``_async_request``): marks one logical request, so an attempt followed by another in
  the same loop is known to have been ``retried``, and the loop's last one is ``final``;
* the attempt (``_request_once`` / ``_async_request_once``): appends (HTTP status, rpc status, outcome) to the
  call in flight (``current_call``) and, for an error, parses the google.rpc body the SDK already read into its
  exception (``APIError.details``) with :mod:`otel_gemini.quota`. No body is ever read here, so nothing the
  SDK still needs is consumed; the SDK's return value and exception pass through untouched.

The SDK returns from an attempt only on HTTP 200 (anything else raises ``APIError``), so a returned attempt is
"200"; a transport failure (connection reset, timeout) is an attempt with no status ("").
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Callable

from opentelemetry.trace import Span

from otel_gemini import _guard, quota
from otel_gemini.instrumentation._call import CallState, current_call
from otel_gemini.instrumentation._operation import wrap_function
from otel_gemini.instrumentation._telemetry import Telemetry

_MODULE = "google.genai._api_client"
FINAL, RETRIED = "final", "retried"
ATTEMPTS = (("BaseApiClient._request_once", False), ("BaseApiClient._async_request_once", True))
LOOPS = (("BaseApiClient._request", False), ("BaseApiClient._async_request", True))


class _Loop:
    """One SDK retry loop: where its previous attempt sits in ``state.attempts``."""

    __slots__ = ("state", "last")

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.last: int | None = None


_loop: ContextVar[_Loop | None] = ContextVar("otel_gemini_retry_loop", default=None)


def _record(state: CallState, error: BaseException | None) -> None:
    """Append this attempt; the loop's previous attempt, if any, was therefore retried."""
    loop = _loop.get()
    attempts = state.attempts
    if loop is not None and loop.state is state and loop.last is not None and loop.last < len(attempts):
        status, rpc, _outcome = attempts[loop.last]
        attempts[loop.last] = (status, rpc, RETRIED)
    parsed: quota.RpcError | None = None
    if error is None:
        status, rpc = "200", ""
    else:
        code = getattr(error, "code", None)
        status = str(code) if isinstance(code, int) and type(error).__module__.startswith("google.") else ""
        parsed = quota.parse(getattr(error, "details", None)) if status else None
        rpc = parsed.status if parsed is not None else ""
    attempts.append((status, rpc, FINAL))
    if loop is not None and loop.state is state:
        loop.last = len(attempts) - 1
    before = state.rpc_status
    state.rpc_status = rpc  # the last attempt's: "" once a retry succeeded
    for violation in parsed.violations if parsed is not None else ():
        state.quota.append((violation.quota_id, violation.unit, violation.window, violation.tier))
    span = state.span
    if span.is_recording():
        _annotate(span, state, parsed, rpc or ("OK" if before and error is None else ""))


def _annotate(span: Span, state: CallState, parsed: quota.RpcError | None, rpc: str) -> None:
    """The attempt count, the latest error's rpc status and retry delay, and each exceeded quota's details."""
    span.set_attribute("gemini.http.attempts", len(state.attempts))
    if rpc:
        span.set_attribute("gemini.rpc.status", rpc)
    if parsed is None:
        return
    if parsed.retry_delay_s is not None:
        span.set_attribute("gemini.retry.delay_s", float(parsed.retry_delay_s))
    if parsed.violations:
        span.set_attribute("gemini.quota.violations", list(dict.fromkeys(q[0] for q in state.quota)))
    for violation in parsed.violations:
        attributes: dict[str, Any] = {
            "gemini.quota.id": violation.quota_id, "gemini.quota.metric": violation.metric,
            "gemini.quota.unit": violation.unit, "gemini.quota.window": violation.window,
            "gemini.quota.tier": violation.tier,
        }
        if violation.value is not None:
            attributes["gemini.quota.value"] = violation.value
        for key, value in violation.dimensions:
            attributes[f"gemini.quota.dimensions.{key}"] = value
        span.add_event("gemini.quota.exceeded", attributes)


def _guarded_record(state: CallState, error: BaseException | None) -> None:
    try:
        _record(state, error)
    except Exception as failure:
        _guard.report("attempts", failure)


def _attempt(is_async: bool) -> Callable[..., Any]:
    """Around one HTTP attempt: record it in the call in flight, whatever it returned or raised."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            state = current_call.get()
            if state is None:
                return await wrapped(*args, **kwargs)
            try:
                response = await wrapped(*args, **kwargs)
            except Exception as error:
                _guarded_record(state, error)
                raise
            _guarded_record(state, None)
            return response

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state = current_call.get()
        if state is None:
            return wrapped(*args, **kwargs)
        try:
            response = wrapped(*args, **kwargs)
        except Exception as error:
            _guarded_record(state, error)
            raise
        _guarded_record(state, None)
        return response

    return wrapper


def _retry_loop(is_async: bool) -> Callable[..., Any]:
    """Around the SDK's retry loop: attempts inside it belong to one logical request."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            state = current_call.get()
            if state is None:
                return await wrapped(*args, **kwargs)
            token = _loop.set(_Loop(state))
            try:
                return await wrapped(*args, **kwargs)
            finally:
                _loop.reset(token)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state = current_call.get()
        if state is None:
            return wrapped(*args, **kwargs)
        token = _loop.set(_Loop(state))
        try:
            return wrapped(*args, **kwargs)
        finally:
            _loop.reset(token)

    return wrapper


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap the api client's retry loops and attempts; returns (class, name) pairs for uninstrument."""
    wrapped = []
    for methods, factory in ((LOOPS, _retry_loop), (ATTEMPTS, _attempt)):
        for qualname, is_async in methods:
            done = wrap_function(_MODULE, qualname, factory(is_async))
            if done is not None:
                wrapped.append(done)
    return wrapped
