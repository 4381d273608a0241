"""The shapes of one series: histogram buckets, and the cap on the distinct values a user-controlled label takes.

Kept apart from the Recorder (recording.py), which folds calls into these, so each stays small and can be read
(and tested) on its own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable


class Histogram:
    """Cumulative-ready bucket counts with a sum, the shape Prometheus and OTLP both export."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1


class LabelLimiter:
    """Caps the distinct values a user-controlled label takes in one process; the rest become ``_other``.

    Values ``allowed`` says are known (priced models) never use the budget of unknown ones, yet are bounded too
    (``known_limit``): a known model can be spelled many ways (case, ``models/`` prefix, version suffix).
    """

    def __init__(
        self, limit: int, allowed: Callable[[str], bool] = lambda value: False, known_limit: int = 1000,
    ) -> None:
        self.limit = limit
        self.known_limit = known_limit
        self._allowed = allowed
        self._seen: set[str] = set()
        self._known: set[str] = set()

    def __call__(self, value: str) -> str | None:
        """The value to use, or None when it overflowed (the caller counts that and uses ``_other``)."""
        if value in self._seen or value in self._known:
            return value
        if self._allowed(value):
            if len(self._known) < self.known_limit:
                self._known.add(value)
                return value
            return None
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        return None

    def known(self, value: str) -> bool:
        """True for a value admitted as known (it is not user-controlled, so no combination cap applies)."""
        return value in self._known
