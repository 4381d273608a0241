"""A newer price table without a restart: a daemon thread that looks at the cache directory and the override file.

Every ``prices_reload_seconds`` it compares their file names, sizes and modification times with the last look;
only when something changed does it load (off the call path, in this thread) and, if the resulting table differs,
hand it to ``on_change``, which swaps it in with one reference assignment. A call in flight keeps the table it
already holds. A file that cannot be used leaves the table in force as it is (reported once, counted). The thread
never fetches anything: installing from the network is ``otel-gemini prices update``'s job, when a user asks.
Shared by the library and the agent; it knows nothing of either.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from otel_gemini import _guard
from otel_gemini.pricing import cache

_Signature = tuple[tuple[str, int, int], ...]
_running: weakref.WeakSet[TableWatcher] = weakref.WeakSet()


def _stat(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


class TableWatcher:
    """Polls ``directory`` and ``override_path``; calls ``on_change`` with each new :class:`cache.Loaded`."""

    def __init__(
        self, directory: str | Path | None, override_path: str | Path | None, interval_s: float,
        current: cache.Loaded, on_change: Callable[[cache.Loaded], None],
    ) -> None:
        self.directory = Path(directory) if directory else None
        self.override_path = Path(override_path) if override_path else None
        self.interval_s = interval_s
        self.current = current
        self.on_change = on_change
        self._seen: _Signature | None = None  # the first look always loads: a file may have landed since start-up
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def signature(self) -> _Signature:
        found = []
        if self.directory is not None:
            try:
                found = [s for p in sorted(self.directory.glob("prices-*.json")) if (s := _stat(p)) is not None]
            except OSError:
                found = []
        if self.override_path is not None:
            found.append(_stat(self.override_path) or (str(self.override_path), -1, -1))
        return tuple(found)

    def check(self) -> bool:
        """One look; True when a new table was swapped in."""
        seen = self.signature()
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            loaded = cache.resolve(self.directory, self.override_path)
        except Exception as failure:  # a half-written or broken override: keep pricing with the table in force
            _guard.warn_once(
                f"price-reload:{seen}", "otel-gemini: the price files changed but could not be used (%s: %s); still "
                "pricing with %s.", type(failure).__name__, failure, self.current.describe(),
            )
            _guard.report("price_reload", failure)
            return False
        if loaded.digest == self.current.digest:
            return False
        self.on_change(loaded)
        _guard.logger.info("otel-gemini: now pricing with %s (was %s).", loaded.describe(), self.current.describe())
        self.current = loaded
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as failure:  # never let the thread die: the next look may succeed
                _guard.report("price_reload", failure)

    def start(self) -> TableWatcher:
        if self.interval_s > 0 and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="otel-gemini-price-reload", daemon=True)
            self._thread.start()
            _running.add(self)
        return self

    def stop(self) -> None:
        self._stop.set()
        _running.discard(self)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _after_fork(self) -> None:
        """A forked worker (gunicorn, uwsgi) inherits the watcher but not its thread: start its own."""
        self._thread = None
        self.start()


def _restart_in_child() -> None:
    for watcher in list(_running):
        try:
            watcher._after_fork()
        except Exception as failure:  # pragma: no cover - a worker must start even if this fails
            _guard.report("price_reload", failure)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_child)
