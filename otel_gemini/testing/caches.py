"""cachedContents routes for FakeGemini: a small in-memory store, so create/get/update/delete/list round-trip.

Storage metering depends on the server's ``createTime`` and ``expireTime``; a test that moves a clock must have
the fake stamp caches with that same clock, so the store takes one (``install(fake, clock=...)``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from otel_gemini.testing.bodies import error

__all__ = ["CacheStore", "install", "rfc3339"]

_DEFAULT_TTL_S = 3600.0  # "If not set, the TTL defaults to 1 hour"


def rfc3339(instant: float) -> str:
    """The wire form of a timestamp, with microseconds, as Google sends it."""
    return datetime.fromtimestamp(instant, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str) -> float:
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _text_chars(node: Any) -> int:
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_chars(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(_text_chars(v) for v in node)
    return 0


class CacheStore:
    """The fake's caches by name; ``tokens`` (when set) overrides the chars/4 estimate of the next creates."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.tokens: int | None = None
        self.caches: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _expiry(self, body: dict[str, Any], now: float) -> float | None:
        if body.get("expireTime"):
            return _parse_time(str(body["expireTime"]))
        if body.get("ttl"):
            return now + float(str(body["ttl"]).rstrip("s"))
        return None

    def _alive(self, name: str) -> dict[str, Any] | None:
        """A cache past its expireTime is gone, as on the real service."""
        cache = self.caches.get(name)
        if cache is not None and _parse_time(cache["expireTime"]) <= self.clock():
            del self.caches[name]
            return None
        return cache

    def create(self, rec: Any) -> tuple[int, dict[str, Any]]:
        body = rec.body or {}
        now = self.clock()
        tokens = self.tokens if self.tokens is not None else max(1, _text_chars(body) // 4)
        with self._lock:
            name = f"{self._name(rec)}/fake-cache-{next(self._ids)}"
            cache = {
                "name": name,
                "model": str(body.get("model", "")),
                "displayName": str(body.get("displayName", "")),
                "createTime": rfc3339(now),
                "updateTime": rfc3339(now),
                "expireTime": rfc3339(self._expiry(body, now) or now + _DEFAULT_TTL_S),
                "usageMetadata": {"totalTokenCount": tokens},
            }
            self.caches[name] = cache
        return 200, dict(cache)

    def add(self, model: str, tokens: int, ttl_s: float = _DEFAULT_TTL_S, collection: str = "cachedContents") -> str:
        """A cache that exists on the server but was not created through this process (another replica, or this
        one before a restart); returns its name."""
        now = self.clock()
        with self._lock:
            name = f"{collection}/fake-cache-{next(self._ids)}"
            self.caches[name] = {
                "name": name, "model": f"models/{model}", "createTime": rfc3339(now), "updateTime": rfc3339(now),
                "expireTime": rfc3339(now + ttl_s), "usageMetadata": {"totalTokenCount": tokens},
            }
        return name

    @staticmethod
    def _name(rec: Any) -> str:
        """The resource name in a path: "/v1beta/cachedContents/x" -> "cachedContents/x" (Vertex: "projects/…")."""
        return str(rec.path).split("/", 2)[-1]

    def get(self, rec: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            cache = self._alive(self._name(rec))
            return (200, dict(cache)) if cache else (404, error(404, "NOT_FOUND", "Cached content not found"))

    def update(self, rec: Any) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        with self._lock:
            cache = self._alive(self._name(rec))
            if cache is None:
                return 404, error(404, "NOT_FOUND", "Cached content not found")
            expiry = self._expiry(rec.body or {}, now)
            if expiry is not None:
                cache["expireTime"] = rfc3339(expiry)
            cache["updateTime"] = rfc3339(now)
            return 200, dict(cache)

    def delete(self, rec: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            cache = self._alive(self._name(rec))
            if cache is None:
                return 404, error(404, "NOT_FOUND", "Cached content not found")
            del self.caches[cache["name"]]
            return 200, {}

    def list(self, rec: Any) -> tuple[int, dict[str, Any]]:
        """Pages of ``pageSize`` (default 2, small so paging is exercised), token = the next start index."""
        size = int(rec.query.get("pageSize", 2))
        start = int(rec.query.get("pageToken") or 0)
        with self._lock:
            names = [name for name in list(self.caches) if self._alive(name) is not None]
            page = [dict(self.caches[name]) for name in names[start : start + size]]
        body: dict[str, Any] = {"cachedContents": page}
        if start + size < len(names):
            body["nextPageToken"] = str(start + size)
        return 200, body


def install(fake: Any, clock: Callable[[], float] = time.time) -> CacheStore:
    """Add the cachedContents routes to ``fake`` (later routes win, so a second install replaces the first)."""
    store = CacheStore(clock)
    fake.route(r"^POST /[^ ]*/cachedContents$", store.create)
    fake.route(r"^GET /[^ ]*/cachedContents$", store.list)
    fake.route(r"^GET /[^ ]*/cachedContents/[^/]+$", store.get)
    fake.route(r"^PATCH /[^ ]*/cachedContents/[^/]+$", store.update)
    fake.route(r"^DELETE /[^ ]*/cachedContents/[^/]+$", store.delete)
    return store
