"""google-genai Live API (``client.aio.live.connect``): one span per session, one charge per billed turn.

A Live session is one websocket (``BidiGenerateContent``) that lives as long as the caller's ``async with``;
Google bills it per *turn*, and every turn re-processes the whole session context ("tokens from past turns are
re-processed and charged in each new turn", billing reference §2.15). The server reports exactly that in the
turn's ``usageMetadata`` (prompt counts grow turn after turn; they are not deltas), so each ``usage_metadata``
received is priced as it stands, as one charge, never diffed against the previous turn.

Two SDK points are wrapped, the same on the 2.x and 3.x lines:

* ``AsyncLive.connect`` returns an async context manager; the caller gets that manager behind a
  ``wrapt.ObjectProxy`` whose ``__aenter__`` opens the call (span "live_session {model}", handshake included)
  and whose ``__aexit__`` finishes it — normal exit, an exception in the block (re-raised unchanged), or the
  manager dropped unfinished (``__del__``). The session object handed to the caller is the SDK's own.
* ``AsyncSession._receive`` is where every server message is read and parsed, whichever public method reads
  (``receive()``, the deprecated ``start_stream()``); the parsed message is returned untouched, after its usage
  (if any) is charged. Hooking here rather than proxying ``receive()``'s generator means a usage the server sends
  after ``turnComplete`` (read by the *next* ``receive()``) is still seen, and nothing the caller iterates is
  replaced. A dropped connection surfaces here (``APIError`` raised from ``websockets.ConnectionClosed``) and
  ends the session's span at once; the ``async with`` exit then finds it finished (``finish`` runs once).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import wrapt

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import _kit
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, start
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.usage import extract_usage

_MODULE = "google.genai.live"
OPERATION = Operation(semconv.OP_LIVE_SESSION)
_TURNS = semconv.LIVE_TURNS
"""Span attribute: model turns completed (each is billed; the session's cost is their sum)."""


class _Live:
    """What a session's messages update: its call, and the turns completed so far."""

    __slots__ = ("state", "turns")

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.turns = 0


_sessions: weakref.WeakKeyDictionary[Any, _Live] = weakref.WeakKeyDictionary()
"""The SDK's AsyncSession -> its call; weak, so a session dropped by the caller takes nothing with it."""


def _session_attributes(state: CallState, kwargs: dict[str, Any]) -> None:
    """Request attributes of the session's config; a per-session ``http_options.base_url`` moves server.*."""
    config = kwargs.get("config")
    if config is None or not state.span.is_recording():
        return
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name, None)
    attributes: dict[str, Any] = {}
    for field, attribute in semconv.REQUEST_CONFIG_ATTRIBUTES.items():
        value = get(field)
        if value is not None:
            attributes[attribute] = list(value) if isinstance(value, (list, tuple)) else value
    modalities = get("response_modalities")
    if modalities:
        attributes[semconv.LIVE_RESPONSE_MODALITIES] = [str(getattr(m, "value", m)).lower() for m in modalities]
    options = get("http_options")
    base_url = options.get("base_url") if isinstance(options, dict) else getattr(options, "base_url", None)
    if base_url:
        parts = urlsplit(str(base_url))
        if parts.hostname:
            attributes[semconv.SERVER_ADDRESS] = parts.hostname
            attributes[semconv.SERVER_PORT] = parts.port or 443
    state.span.set_attributes(attributes)


def _observe(live: _Live, message: Any) -> None:
    """One server message: a usage is one billed turn; turn ends are counted (a turn need not carry usage)."""
    state = live.state
    usage_metadata = getattr(message, "usage_metadata", None)
    if usage_metadata is not None:
        state.charge_tokens(state.request_model, extract_usage(usage_metadata))
    content = getattr(message, "server_content", None)
    if content is not None and content.turn_complete:
        live.turns += 1
        if state.span.is_recording():
            state.span.set_attribute(_TURNS, live.turns)
    setup = getattr(message, "setup_complete", None)
    if setup is not None and getattr(setup, "session_id", None) and state.span.is_recording():
        state.span.set_attribute(semconv.CONVERSATION_ID, setup.session_id)


def _dropped(error: BaseException) -> bool:
    """The connection is gone (the SDK raises APIError from websockets' ConnectionClosed): the session is over."""
    try:
        from websockets.exceptions import ConnectionClosed
    except ImportError:  # pragma: no cover - websockets is a google-genai dependency
        return False
    return isinstance(error, ConnectionClosed) or isinstance(error.__context__, ConnectionClosed)


def _finish(state: CallState, error: BaseException | None = None, abandoned: bool = False) -> None:
    try:
        state.finish(error, abandoned=abandoned)
    except Exception as failure:  # finish guards itself; this is belt and braces around the caller's exit
        _guard.report("live", failure)


class _SessionManager(wrapt.ObjectProxy):
    """The SDK's ``connect()`` context manager; the session's span lives from enter to exit."""

    def __init__(self, wrapped: Any, telemetry: Telemetry, instance: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_telemetry = telemetry
        self._self_instance = instance
        self._self_kwargs = kwargs
        self._self_state: CallState | None = None

    async def __aenter__(self) -> Any:
        state = start(self._self_telemetry, OPERATION, self._self_instance, (), self._self_kwargs)
        if state is not None:
            try:
                _session_attributes(state, self._self_kwargs)
            except Exception as failure:
                _guard.report("live", failure)
        self._self_state = state
        try:
            session = await self.__wrapped__.__aenter__()
        except BaseException as error:
            if state is not None:
                _finish(state, error)
            raise
        if state is not None:
            try:
                _sessions[session] = _Live(state)
                setup = getattr(session, "setup_complete", None)
                if setup is not None and getattr(setup, "session_id", None) and state.span.is_recording():
                    state.span.set_attribute(semconv.CONVERSATION_ID, setup.session_id)
            except Exception as failure:
                _guard.report("live", failure)
        return session

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        state = self._self_state
        try:
            suppressed = await self.__wrapped__.__aexit__(exc_type, exc, tb)
        except BaseException as error:
            if state is not None:
                _finish(state, error)
            raise
        if state is not None:
            _finish(state, exc if exc is not None and not suppressed else None)
        return suppressed

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None and not state.finished:
            _finish(state, abandoned=True)


def _connect(telemetry: Telemetry) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)  # builds the context manager only: nothing is sent yet
        try:
            return _SessionManager(manager, telemetry, instance, kwargs)
        except Exception as failure:
            _guard.report("live", failure)
            return manager

    return wrapper


def _live_of(session: Any) -> _Live | None:
    """The call of a session this instrumentation opened; None for others (opened before instrument())."""
    try:
        live = _sessions.get(session)
    except TypeError:
        return None
    return live if live is not None and not live.state.finished else None


async def _receive(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        message = await wrapped(*args, **kwargs)
    except BaseException as error:
        live = _live_of(instance)
        if live is not None and _dropped(error):
            _finish(live.state, error)
        raise
    live = _live_of(instance)
    if live is not None:
        try:
            _observe(live, message)
        except Exception as failure:
            _guard.report("live", failure)
    return message


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap ``AsyncLive.connect`` and ``AsyncSession._receive``; returns (class, name) pairs for uninstrument."""
    try:
        from google.genai import live  # noqa: F401 - only to know the Live API is there
    except ImportError:
        _guard.warn_once("missing:live", "otel-gemini: google.genai.live is missing; Live API not instrumented")
        return []
    return _kit.wrap_all([(_MODULE, "AsyncLive.connect", _connect(telemetry)),
                          (_MODULE, "AsyncSession._receive", _receive)])
