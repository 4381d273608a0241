"""Never break the user's app: every piece of otel-gemini runs inside a guard that catches, counts and logs once.

The count goes to ``otel_gemini_internal_errors_total{component}`` so a failure that is logged only once is still
visible on a dashboard; the log line names the component and the exception type, never its arguments (which
could carry a request and so a key or prompt).

Warnings about values from outside (an unknown model id, a capture mode) are bounded per *family* (the key's part
before ``:``): whoever sends spans or proxies user-chosen model names chooses how many distinct values there are,
so only the first :data:`NAMED_PER_FAMILY` are named, the rest are counted into one summary line at most every
:data:`SUMMARY_INTERVAL_S`, and the memory of values already warned about is a bounded LRU per family.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable

logger = logging.getLogger("otel_gemini")

_lock = threading.Lock()
_logged: set[tuple[str, str]] = set()
_counter: Callable[[str], None] | None = None
_refusals: Callable[[str, str], None] | None = None

NAMED_PER_FAMILY = 5
"""Distinct values of one family named in full; after them, a summary with a count."""
SUMMARY_INTERVAL_S = 600.0
REMEMBERED_PER_FAMILY = 1000
"""Recently warned values per family (no duplicate line for a value seen again soon); the oldest are forgotten."""
CODE_FAMILIES = frozenset({"missing"})
"""Families whose values are names in our code or the SDK's (a method google-genai lacks): bounded by the code,
so each is named."""
MAX_FAMILIES = 256
"""Families are code constants; the cap only guards against a caller building them from data."""


class _Family:
    __slots__ = ("named", "recent", "unnamed", "last_summary")

    def __init__(self) -> None:
        self.named = 0
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.unnamed = 0
        self.last_summary = time.monotonic()


_families: OrderedDict[str, _Family] = OrderedDict()


def set_error_counter(counter: Callable[[str], None] | None) -> None:
    global _counter
    _counter = counter


def set_refusal_counter(counter: Callable[[str, str], None] | None) -> None:
    """Where :func:`refuse` counts (``otel_gemini_refused_total{what, reason}``): the process's Recorder."""
    global _refusals
    _refusals = counter


def refuse(what: str, reason: str, detail: str) -> None:
    """Count a value from outside refused as data (a negative token count, a negative amount) and log it once per
    (what, reason). ``detail`` names the field, never the value's context (a request, a key)."""
    try:
        if _refusals is not None:
            _refusals(what, reason)
        warn_once(
            f"refused_{what}:{reason}",
            "otel-gemini: refused a %s (%s); it is not priced or counted as tokens. Further refusals are counted in "
            "otel_gemini_refused_total{what=%r, reason=%r} and not logged.", what, detail, what, reason,
        )
    except Exception:  # pragma: no cover - the guard itself must never raise
        pass


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
    """Log a warning once per key (an unknown model, a stale price table), bounded per family (``family:value``).

    The first :data:`NAMED_PER_FAMILY` values of a family are logged with ``message``; later new values are only
    counted, and the count is logged (at most once per :data:`SUMMARY_INTERVAL_S`) when another one arrives.
    """
    family_name, _sep, value = key.partition(":")
    summary = 0
    with _lock:
        family = _families.get(family_name)
        if family is None:
            if len(_families) >= MAX_FAMILIES:
                _families.popitem(last=False)
            family = _families[family_name] = _Family()
        if value in family.recent:
            family.recent.move_to_end(value)
            return
        family.recent[value] = None
        if len(family.recent) > REMEMBERED_PER_FAMILY:
            family.recent.popitem(last=False)
        if family.named < NAMED_PER_FAMILY or family_name in CODE_FAMILIES:
            family.named += 1
            name = True
        else:
            name = False
            family.unnamed += 1
            now = time.monotonic()
            if now - family.last_summary >= SUMMARY_INTERVAL_S:
                summary, family.unnamed, family.last_summary = family.unnamed, 0, now
    if name:
        logger.warning(message, *args)
    elif summary:
        logger.warning(
            "otel-gemini: %d more distinct %r values since the last summary (the first %d were named; at most one "
            "such line every %ds).", summary, family_name, NAMED_PER_FAMILY, int(SUMMARY_INTERVAL_S),
        )


def warning_memory() -> dict[str, int]:
    """How many values each family remembers (bounded by :data:`REMEMBERED_PER_FAMILY`): the agent's and the
    tests' view of the guard's memory."""
    with _lock:
        return {name: len(family.recent) for name, family in _families.items()}


def forget_warnings() -> None:
    """Start over (each test begins with no warning already given)."""
    with _lock:
        _families.clear()
