"""Streams: the caller gets the SDK's own stream behind a proxy that finishes the call exactly once.

The proxy (a ``wrapt.ObjectProxy``, so ``isinstance`` and every attribute still answer as the SDK's generator)
finishes the call when the stream is exhausted, fails, is closed, or is dropped unfinished (``__del__``), with
the last usage seen. It also makes the call current while the SDK works inside ``__next__``, because the SDK
sends its HTTP requests lazily, from inside the iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import wrapt

from otel_gemini import _guard
from otel_gemini.instrumentation._call import CallState, Hop, current_call


def _chunk(state: CallState, chunk: Any) -> None:
    try:
        state.on_chunk(chunk)
    except Exception as failure:
        _guard.report("stream", failure)


def _abandon(state: CallState | None) -> None:
    if state is not None and not state.finished:
        state.finish(abandoned=True)


class _Step:
    """One step of iteration: the call is current while the SDK works; the stream's end or failure finishes it."""

    __slots__ = ("state", "_token")

    def __init__(self, state: CallState) -> None:
        self.state = state

    def __enter__(self) -> None:
        self._token = current_call.set(self.state)

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        current_call.reset(self._token)
        if error is None:
            return
        if isinstance(error, (StopIteration, StopAsyncIteration)):
            self.state.finish()
        else:
            self.state.finish(error)


class _StreamProxy(wrapt.ObjectProxy):
    """What the sync and async proxies share: the call they finish, and finishing it when dropped unfinished."""

    def __init__(self, wrapped: Any, state: CallState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def __del__(self) -> None:
        _abandon(getattr(self, "_self_state", None))


class SyncStreamProxy(_StreamProxy):
    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        state = self._self_state
        with _Step(state):
            chunk = next(self.__wrapped__)
        _chunk(state, chunk)
        return chunk

    def close(self) -> Any:
        _abandon(self._self_state)
        return self.__wrapped__.close()

    def __enter__(self) -> SyncStreamProxy:
        """A stream that is also a context manager (the Interactions ``Stream``) must hand back the proxy."""
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        self.close()
        return None


class AsyncStreamProxy(_StreamProxy):
    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        state = self._self_state
        with _Step(state):
            chunk = await self.__wrapped__.__anext__()
        _chunk(state, chunk)
        return chunk

    async def aclose(self) -> Any:
        _abandon(self._self_state)
        return await self.__wrapped__.aclose()

    async def close(self) -> Any:
        """Some async streams spell it ``close`` (the Interactions ``AsyncStream``)."""
        _abandon(self._self_state)
        return await self.__wrapped__.close()

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        close = getattr(self.__wrapped__, "aclose", None)
        await (self.aclose() if close is not None else self.close())
        return None


def observe(keep: Callable[[Hop, Any], None], hop: Hop, response: Any) -> None:
    """``keep(hop, response)``, guarded: a response we cannot read is counted, never the caller's problem."""
    try:
        keep(hop, response)
    except Exception as failure:
        _guard.report("response", failure)


def watch(stream: Iterator[Any], hop: Hop, keep: Callable[[Hop, Any], None]) -> Iterator[Any]:
    """One streamed HTTP request inside the SDK: each chunk's running usage updates the hop (last one wins)."""
    try:
        for chunk in stream:
            observe(keep, hop, chunk)
            yield chunk
    except Exception:
        hop.failed = hop.usage_metadata is None  # cut mid-way: bill the last running total seen
        raise


async def watch_async(stream: AsyncIterator[Any], hop: Hop, keep: Callable[[Hop, Any], None]) -> AsyncIterator[Any]:
    try:
        async for chunk in stream:
            observe(keep, hop, chunk)
            yield chunk
    except Exception:
        hop.failed = hop.usage_metadata is None
        raise
