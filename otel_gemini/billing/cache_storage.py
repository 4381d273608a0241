"""Explicit context-cache storage: tokens × real lifetime × the model's storage rate, metered while caches live.

Storage is not part of any call's usage: Google bills a cache resource for every hour it exists, from creation
until it is deleted or its TTL runs out, and a TTL can be changed while it lives (billing reference §2.5). No
response ever says "this much storage was used", so the bill has to be derived from what we saw happen to each
cache: created (tokens, create_time, expire_time), read or updated (a new expire_time), deleted.

Storage is recorded in *settled slices*: each cache remembers the instant up to which it has been charged, and
every settlement charges ``[charged_to, until)`` and moves ``charged_to`` to ``until``. Settlement happens when a
cache is deleted (up to that instant), when its TTL changes (up to now), at every metrics collection (live caches
up to now, so a long-lived cache shows its cost as it accrues; expired ones exactly up to their expire_time,
after which they are forgotten). Because slices never overlap, no second is counted twice by one process, and the
slices of a cache add up to tokens × lifetime × rate. Slices are also cut at Pacific midnights, the only instants
at which a price-table row or adjustment can change, so a rate change mid-life is priced exactly.

Instants are kept as integer microseconds so that slice lengths telescope exactly (a float's Decimal expansion
would be rounded at every subtraction). This module knows nothing of google-genai or OpenTelemetry: names, model
ids, token counts and Unix instants in; :class:`~otel_gemini.recording.Charge` objects out to the recorder. The
agent reuses it. What one process cannot know (another replica's deletes, storage before a restart) is described
in docs/caches.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from otel_gemini import _guard, semconv
from otel_gemini.pricing import pacific
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.recording import Charge, Recorder

_US = 1_000_000
_US_DECIMAL = Decimal(_US)
DEFAULT_MAX_CACHES = 10_000
OVERFLOW_COMPONENT = "cache_meter_full"
"""``otel_gemini_internal_errors_total{component=...}`` counts caches not metered because the table was full."""


def _us(instant: float) -> int:
    return round(instant * _US)


def cache_key(name: str) -> str:
    """The part of a cache's resource name that identifies it on both the Developer API and Vertex.

    ``cachedContents/abc`` and ``projects/p/locations/l/cachedContents/abc`` are the same cache to a Vertex
    client (the SDK expands the short form), so the key is the ``cachedContents/…`` tail.
    """
    index = name.find("cachedContents/")
    return name[index:] if index >= 0 else name


@dataclass(slots=True)
class TrackedCache:
    """What this process knows about one live cache; ``charged_to`` only ever moves forward."""

    model: str
    tokens: int
    provider: str
    platform: str
    location: str | None
    charged_to: int
    """Microseconds since the epoch up to which storage has been recorded."""
    expire_at: int | None
    """Microseconds since the epoch when the cache expires (None: unknown, it is charged until deleted)."""


class CacheStorageMeter:
    """Per-cache storage bookkeeping for one process; every method is thread-safe and never raises."""

    def __init__(
        self, pricer: Pricer, recorder: Recorder, clock: Callable[[], float] = time.time, *,
        max_caches: int = DEFAULT_MAX_CACHES, adopt_seen: bool = True,
    ) -> None:
        self.pricer = pricer
        self.recorder = recorder
        self.clock = clock
        """Seconds since the epoch; tests replace it (the fake endpoint must stamp caches with the same clock)."""
        self.max_caches = max_caches
        self.adopt_seen = adopt_seen
        """Whether a cache first seen through get/list/update (created before a restart, or by another replica)
        is metered from the moment it is seen. See docs/caches.md for what either choice does to the meter."""
        self.overflow = 0
        self._caches: dict[str, TrackedCache] = {}
        self._lock = threading.Lock()

    # -- what happened to a cache ----------------------------------------------------------------------------

    def created(
        self, name: str, model: str, tokens: int, create_time: float | None, expire_time: float | None, *,
        provider: str = semconv.PROVIDER_GEMINI, platform: str = "gemini", location: str | None = None,
    ) -> None:
        """A cache this process created: storage is owed from its ``create_time`` (the server's clock)."""
        start = create_time if create_time is not None else self.clock()
        self._guarded(self._track, name, model, tokens, _us(start), expire_time, provider, platform, location)

    def seen(
        self, name: str, model: str, tokens: int | None, expire_time: float | None, *,
        provider: str = semconv.PROVIDER_GEMINI, platform: str = "gemini", location: str | None = None,
    ) -> None:
        """A cache read by get/list or returned by update: refresh its expiry (a TTL change settles up to now).

        A cache this process does not know yet is adopted from now on (never from its create_time: the process
        that created it, or this one before a restart, may already have counted that time).
        """
        self._guarded(self._seen, name, model, tokens, expire_time, provider, platform, location)

    def deleted(self, name: str) -> None:
        """The cache is gone: settle exactly up to the deletion instant (capped at its expiry) and forget it."""
        self._guarded(self._deleted, name)

    def settle_expired(self) -> None:
        """Settle every cache whose expire_time has passed exactly up to that expiry, and forget it."""
        self._guarded(self._settle, False)

    def collect(self) -> None:
        """The recorder's collect hook: expired caches end at their expiry, live ones are charged up to now."""
        self._guarded(self._settle, True)

    # -- reading --------------------------------------------------------------------------------------------

    def model_of(self, name: str | None) -> str | None:
        """The model of a cache this process knows (spans of get/update/delete are named after it)."""
        if not name:
            return None
        cache = self._caches.get(cache_key(str(name)))
        return cache.model if cache is not None else None

    def tracked(self) -> dict[str, TrackedCache]:
        with self._lock:
            return dict(self._caches)

    # -- internals ------------------------------------------------------------------------------------------

    def _guarded(self, method: Callable[..., list[tuple[str, Charge]]], *args: object) -> None:
        try:
            charges = method(*args)
            for provider, charge in charges:
                self.recorder.record_charges(provider, (charge,))
        except Exception as failure:  # metering must never reach the caller's code path
            _guard.report("cache_storage", failure)

    def _gauge(self, cache: TrackedCache, sign: int) -> None:
        self.recorder.add_gauge(semconv.CACHED_TOKENS, (cache.provider, cache.model), sign * cache.tokens)

    def _track(
        self, name: str, model: str, tokens: int, start_us: int, expire_time: float | None, provider: str,
        platform: str, location: str | None,
    ) -> list[tuple[str, Charge]]:
        key = cache_key(name)
        with self._lock:
            cache = self._caches.get(key)
            if cache is not None:  # already known (seen before the create returned): only refresh
                return self._refresh(cache, tokens, expire_time)
            if len(self._caches) >= self.max_caches:
                self.overflow += 1
                full = True
            else:
                full = False
                cache = self._caches[key] = TrackedCache(
                    model, int(tokens), provider, platform, location, start_us,
                    _us(expire_time) if expire_time is not None else None,
                )
        if full:
            self.recorder.count(semconv.INTERNAL_ERRORS, (OVERFLOW_COMPONENT,))
            _guard.warn_once(
                "cache-meter-full", "otel-gemini: %d context caches are already metered; storage of further "
                "caches is not counted (otel_gemini_internal_errors_total{component=%r}).", self.max_caches,
                OVERFLOW_COMPONENT,
            )
            return []
        assert cache is not None
        self._gauge(cache, +1)
        return []

    def _seen(
        self, name: str, model: str, tokens: int | None, expire_time: float | None, provider: str, platform: str,
        location: str | None,
    ) -> list[tuple[str, Charge]]:
        with self._lock:
            cache = self._caches.get(cache_key(name))
            if cache is not None:
                return self._refresh(cache, tokens, expire_time)
        if tokens is None or not self.adopt_seen:
            return []
        now = _us(self.clock())
        if expire_time is not None and _us(expire_time) <= now:
            return []  # already over by our clock: nothing left for this process to charge
        return self._track(name, model, tokens, now, expire_time, provider, platform, location)

    def _refresh(self, cache: TrackedCache, tokens: int | None, expire_time: float | None) -> list[tuple[str, Charge]]:
        """Under the lock: a new expiry settles what was owed under the old one first."""
        charges: list[tuple[str, Charge]] = []
        new_expiry = _us(expire_time) if expire_time is not None else None
        if new_expiry is not None and new_expiry != cache.expire_at:
            charges = self._slices(cache, min(_us(self.clock()), cache.expire_at or new_expiry))
            cache.expire_at = new_expiry
        if tokens is not None and int(tokens) != cache.tokens:  # contents are immutable, but trust the server
            now = _us(self.clock())
            charges += self._slices(cache, now if cache.expire_at is None else min(now, cache.expire_at))
            self.recorder.add_gauge(semconv.CACHED_TOKENS, (cache.provider, cache.model), int(tokens) - cache.tokens)
            cache.tokens = int(tokens)
        return charges

    def _deleted(self, name: str) -> list[tuple[str, Charge]]:
        with self._lock:
            cache = self._caches.pop(cache_key(name), None)
            if cache is None:
                return []
            now = _us(self.clock())
            charges = self._slices(cache, now if cache.expire_at is None else min(now, cache.expire_at))
        self._gauge(cache, -1)
        return charges

    def _settle(self, live_too: bool) -> list[tuple[str, Charge]]:
        now = _us(self.clock())
        charges: list[tuple[str, Charge]] = []
        ended: list[TrackedCache] = []
        with self._lock:
            for key, cache in list(self._caches.items()):
                if cache.expire_at is not None and cache.expire_at <= now:
                    charges += self._slices(cache, cache.expire_at)
                    ended.append(self._caches.pop(key))
                elif live_too:
                    charges += self._slices(cache, now)
        for cache in ended:
            self._gauge(cache, -1)
        return charges

    def _slices(self, cache: TrackedCache, until: int) -> list[tuple[str, Charge]]:
        """Under the lock: charge ``[charged_to, until)``, cut at Pacific midnights, and advance ``charged_to``."""
        charges: list[tuple[str, Charge]] = []
        start = cache.charged_to
        while start < until:
            end = min(until, _next_pacific_midnight_us(start))
            seconds = Decimal(end - start) / _US_DECIMAL
            cost = self.pricer.cache_storage(
                cache.model, cache.tokens, seconds, at=start / _US, platform=cache.platform, location=cache.location,
            )
            charges.append((cache.provider, Charge(cost, None, semconv.OP_CACHE_STORAGE, cache.model)))
            start = end
        if until > cache.charged_to:
            cache.charged_to = until
        return charges


def _next_pacific_midnight_us(instant_us: int) -> int:
    """The first Pacific midnight after an instant: price rows and adjustments only change there."""
    day = pacific.pacific_date(instant_us / _US) + timedelta(days=1)
    return _us(pacific.day_start_epoch(day))
