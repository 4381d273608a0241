"""Never break the user's app: every piece of otel-gemini runs inside a guard that catches, counts and logs once.

The count goes to ``otel_gemini_internal_errors_total{component}`` so a failure that is logged only once is still
visible on a dashboard; the log line names the component and the exception type, never its arguments (which
could carry a request and so a key or prompt).
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Callable

logger = logging.getLogger("otel_gemini")

_lock = threading.Lock()
_logged: set[tuple[str, str]] = set()
_counter: Callable[[str], None] | None = None


def set_error_counter(counter: Callable[[str], None] | None) -> None:
    global _counter
    _counter = counter


def report(component: str, error: BaseException) -> None:
    """Count an internal failure and log it the first time this component fails this way."""
    try:
        if _counter is not None:
            _counter(component)
        key = (component, type(error).__name__)
        with _lock:
            first = key not in _logged
            _logged.add(key)
        if first:
            # The traceback's frames, not the exception's message: a message can quote a request, and so a key.
            logger.warning(
                "otel-gemini: %s failed (%s); the Gemini call was not affected. Further %s errors are counted in "
                "otel_gemini_internal_errors_total and not logged.\n%s",
                component, type(error).__name__, component, "".join(traceback.format_tb(error.__traceback__)),
            )
    except Exception:  # pragma: no cover - the guard itself must never raise
        pass


def warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning once per process per key (an unknown model, a stale price table)."""
    with _lock:
        if ("warn", key) in _logged:
            return
        _logged.add(("warn", key))
    logger.warning(message, *args)
