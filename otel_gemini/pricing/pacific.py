"""Pacific calendar days, without a time-zone database.

Google resets RPD quotas at midnight Pacific time and states price changes as bare dates, so the price table's
dates are Pacific days. ``zoneinfo`` needs the system's tz data, which slim containers lack; the US rule
(DST from the second Sunday of March, 02:00 local, to the first Sunday of November, 02:00 local) is short
enough to state here and test.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone

_HOUR = 3600


def _nth_sunday(year: int, month: int, n: int) -> int:
    first_weekday, _ = calendar.monthrange(year, month)  # Monday == 0
    first_sunday = 1 + (6 - first_weekday) % 7
    return first_sunday + 7 * (n - 1)


def utc_offset_hours(epoch: float) -> int:
    """-7 during Pacific daylight time, -8 otherwise."""
    year = datetime.fromtimestamp(epoch, tz=timezone.utc).year
    # DST starts 02:00 PST (10:00 UTC) and ends 02:00 PDT (09:00 UTC).
    start = calendar.timegm((year, 3, _nth_sunday(year, 3, 2), 10, 0, 0))
    end = calendar.timegm((year, 11, _nth_sunday(year, 11, 1), 9, 0, 0))
    return -7 if start <= epoch < end else -8


def pacific_date(epoch: float) -> date:
    """The Pacific calendar day an instant falls on."""
    return datetime.fromtimestamp(epoch + utc_offset_hours(epoch) * _HOUR, tz=timezone.utc).date()


def day_start_epoch(day: date) -> float:
    """The instant a Pacific calendar day begins."""
    midnight_utc = calendar.timegm((day.year, day.month, day.day, 0, 0, 0))
    # Midnight is never inside a DST switch (they happen at 02:00), so one correction is exact.
    guess = midnight_utc + 8 * _HOUR
    return midnight_utc - utc_offset_hours(guess) * _HOUR


def noon(day: date) -> float:
    """Noon Pacific of a day: the instant a ``--at DAY`` prices at, clear of either midnight (and of DST)."""
    return day_start_epoch(day) + 12 * 3600
