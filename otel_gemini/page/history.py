"""The last hour of total spend and calls, one point per minute, kept in memory for the page's time series.

Sampled by a daemon timer (every ``interval_s``) and on every page request, never on a Gemini call. Bounded: 61
points (an hour and the minute in progress), so a process that runs for months holds the same few kilobytes.
The first point of each Pacific day is the baseline of "spent today" (the process keeps no per-day dollar series).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal

from otel_gemini.pricing import pacific

POINTS = 61


class History:
    """Per-minute (epoch, dollars so far, calls so far) of one recorder, and today's baseline."""

    def __init__(self, read: Callable[[], tuple[Decimal, int]], clock: Callable[[], float]) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self.points: deque[tuple[float, Decimal, int]] = deque(maxlen=POINTS)
        self._day = ""
        self.day_baseline = Decimal(0)
        """Dollars already counted when this Pacific day's first sample was taken (0 on the process's first)."""
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()

    def sample(self) -> None:
        total, calls = self._read()
        now = self._clock()
        day = pacific.pacific_date(now).isoformat()
        with self._lock:
            if day != self._day:
                self.day_baseline = self.points[-1][1] if self.points else Decimal(0)
                self._day = day
            if self.points and now < self.points[-1][0] - 60:  # the clock stepped back: a rate would be nonsense
                self.points.clear()
            if self.points and int(self.points[-1][0] // 60) == int(now // 60):
                self.points[-1] = (now, total, calls)
            else:
                self.points.append((now, total, calls))

    def snapshot(self) -> list[tuple[float, Decimal, int]]:
        with self._lock:
            return list(self.points)

    def start(self, interval_s: float = 10.0) -> History:
        """Sample every ``interval_s`` on a daemon thread (once; a second start is a no-op)."""
        if self._timer is None:
            self._timer = threading.Thread(target=self._run, args=(interval_s,), name="otel-gemini-page", daemon=True)
            self._timer.start()
        return self

    def _run(self, interval_s: float) -> None:
        from otel_gemini import _guard

        while not self._stop.wait(interval_s):
            try:
                self.sample()
            except Exception as failure:  # the page's history must never take a thread down noisily
                _guard.report("page_history", failure)

    def stop(self) -> None:
        self._stop.set()
