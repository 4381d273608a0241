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
  exception (``APIError.details``) with :mod:`otel_gemini.billing.quota`. No body is ever read here, so nothing the
  SDK still needs is consumed; the SDK's return value and exception pass through untouched.

The SDK returns from an attempt only on HTTP 200 (anything else raises ``APIError``), so a returned attempt is
"200"; a transport failure (connection reset, timeout) is an attempt with no status ("").
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry.trace import Span

from otel_gemini import _guard, semconv
from otel_gemini.billing import quota
from otel_gemini.instrumentation import _kit, scrub
from otel_gemini.instrumentation._call import CallState, current_call
from otel_gemini.instrumentation._telemetry import Telemetry

_MODULE = "google.genai._api_client"
FINAL, RETRIED = "final", "retried"
ATTEMPTS = (("BaseApiClient._request_once", False), ("BaseApiClient._async_request_once", True))
LOOPS = (("BaseApiClient._request", False), ("BaseApiClient._async_request", True))


class _Loop(_kit.Plain):
    """One SDK retry loop (the kit's scope around it): where its previous attempt sits in ``state.attempts``."""

    __slots__ = ("state", "last", "_token")

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.last: int | None = None

    def __enter__(self) -> None:
        self._token: Token[_Loop | None] = _loop.set(self)

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        _loop.reset(self._token)


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
        if parsed is not None:  # a body can echo the key (in a quota id, a dimension, a reason): never exported
            parsed = scrub.rpc_error(parsed, state.scrubber())
        rpc = parsed.status if parsed is not None else ""
    attempts.append((status, rpc, FINAL))
    if loop is not None and loop.state is state:
        loop.last = len(attempts) - 1
    before = state.rpc_status
    state.rpc_status = rpc  # the last attempt's: "" once a retry succeeded
    for violation in parsed.violations if parsed is not None else ():
        state.quota.append((violation.quota_id, violation.unit, violation.window, violation.tier))
    mark = rpc or ("OK" if before and error is None else "")
    if (mark or parsed is not None) and state.span.is_recording():  # a plain 200 has nothing to add
        _annotate(state.span, state, parsed, mark)


def _annotate(span: Span, state: CallState, parsed: quota.RpcError | None, rpc: str) -> None:
    """The latest error's rpc status and retry delay, and each exceeded quota's details (the attempt count goes on
    with the call's end attributes, in the one ``set_attributes`` of instrumentation/_call.py)."""
    if rpc:
        span.set_attribute(semconv.RPC_STATUS, rpc)
    if parsed is None:
        return
    if parsed.retry_delay_s is not None:
        span.set_attribute(semconv.RETRY_DELAY, float(parsed.retry_delay_s))
    if parsed.violations:
        span.set_attribute(semconv.QUOTA_VIOLATIONS, list(dict.fromkeys(q[0] for q in state.quota)))
    for violation in parsed.violations:
        attributes: dict[str, Any] = {
            semconv.QUOTA_ID: violation.quota_id, semconv.QUOTA_METRIC: violation.metric,
            semconv.QUOTA_UNIT: violation.unit, semconv.QUOTA_WINDOW: violation.window,
            semconv.QUOTA_TIER: violation.tier,
        }
        if violation.value is not None:
            attributes[semconv.QUOTA_VALUE] = violation.value
        for key, value in violation.dimensions:
            attributes[semconv.quota_dimension_of(key)] = value
        span.add_event(semconv.QUOTA_EXCEEDED_EVENT, attributes)


def _guarded_record(state: CallState, error: BaseException | None) -> None:
    try:
        _record(state, error)
    except Exception as failure:
        _guard.report("attempts", failure)


class _Attempt(_kit.Plain):
    """Around one HTTP attempt: record it in the call in flight, whatever it returned or raised."""

    __slots__ = ("state",)

    def __init__(self, state: CallState) -> None:
        self.state = state

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, Exception):  # not a cancellation: that is no attempt's outcome
            _guarded_record(self.state, error)

    def done(self, value: Any, flavor: _kit.Flavor) -> Any:
        _guarded_record(self.state, None)
        return value


def _open_attempt(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Attempt | None:
    state = current_call.get()
    return None if state is None else _Attempt(state)


def _open_loop(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Loop | None:
    """Attempts inside the SDK's retry loop belong to one logical request."""
    state = current_call.get()
    return None if state is None else _Loop(state)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap the api client's retry loops and attempts; returns (class, name) pairs for uninstrument."""
    return _kit.wrap_all([(_MODULE, qualname, _kit.wrapper(opener, is_async))
                          for methods, opener in ((LOOPS, _open_loop), (ATTEMPTS, _open_attempt))
                          for qualname, is_async in methods])
