"""Who a Gemini call was for: ``with otel_gemini.attributes(feature="search", tenant="acme"):``.

A bill per model says what was spent; a bill per feature and tenant says who spent it. The values live in a
context variable, so they follow the code that makes the call — across ``await``, into ``asyncio`` tasks
created inside the block and into threads started with ``contextvars.copy_context().run`` — and never leak into
calls made elsewhere. Every value goes on the call's span; only allow-listed keys become metric labels, each
capped in distinct values per process (recording.py), because tenant ids are unbounded.

Optionally the same keys are read from OpenTelemetry baggage (``OTEL_GEMINI_ATTRIBUTES_FROM_BAGGAGE=true``), for
apps that already propagate a tenant in baggage; an explicit ``attributes()`` value wins.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

from otel_gemini import semconv

_EMPTY: Mapping[str, str] = MappingProxyType({})
_current: ContextVar[Mapping[str, str]] = ContextVar("otel_gemini_attributes", default=_EMPTY)
KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
"""Keys become Prometheus label names when allow-listed, so they follow Prometheus's label-name rule."""
MAX_VALUE_LENGTH = 256
SPAN_ATTRIBUTE_PREFIX = semconv.ATTRIBUTION_PREFIX
"""Each value goes on the call's span as ``gemini.attribution.<key>``; the agent reads the same names from spans
that apps in other languages export."""

F = TypeVar("F", bound=Callable[..., Any])


class attributes:  # noqa: N801 - used like a function: ``with otel_gemini.attributes(...)`` / ``@otel_gemini.attributes(...)``
    """Tag every Gemini call made inside the block (or the decorated function) with these key/values."""

    def __init__(self, **values: Any) -> None:
        for key in values:
            if not KEY.match(key):
                raise ValueError(f"otel_gemini.attributes: {key!r} is not a valid attribute key ({KEY.pattern})")
        self._values = {key: str(value)[:MAX_VALUE_LENGTH] for key, value in values.items() if value is not None}
        self._tokens: list[Token[Mapping[str, str]]] = []

    def __enter__(self) -> attributes:
        merged = {**_current.get(), **self._values}
        self._tokens.append(_current.set(MappingProxyType(merged)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _current.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        """As a decorator: a fresh context per call, so recursion and concurrency nest correctly."""
        values = self._values
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with attributes(**values):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with attributes(**values):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def current(baggage_keys: tuple[str, ...] = ()) -> Mapping[str, str]:
    """The attributes in force for a call starting now; ``baggage_keys`` are filled from OTel baggage if unset."""
    values = _current.get()
    if not baggage_keys:
        return values
    from opentelemetry import baggage

    found = {}
    for key in baggage_keys:
        if key not in values:
            value = baggage.get_baggage(key)
            if value is not None:
                found[key] = str(value)[:MAX_VALUE_LENGTH]
    return {**found, **values} if found else values
