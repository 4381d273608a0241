"""The library side of "today, Pacific": day-keyed request counters, month-keyed dollars and the calendar gauge.

A Recorder with an injected clock crosses Pacific midnight in winter (08:00 UTC) and the night PDT ends
(2026-11-01 is 25 hours long: 07:00 UTC to 08:00 UTC the next day); prometheus/rules.yaml selects today's
series by the calendar gauge's label, so the label must turn at exactly those instants.
"""

from __future__ import annotations

import calendar
from decimal import Decimal

from prometheus_client import CollectorRegistry, generate_latest

from otel_gemini import semconv
from otel_gemini.exporters import prometheus
from otel_gemini.pricing.engine import Cost, CostLine
from otel_gemini.recording import CallRecord, Charge, Recorder

MODEL = "gemini-2.5-flash"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recorder_at(now: float) -> tuple[Recorder, Clock]:
    clock = Clock(now)
    recorder = Recorder()
    recorder.clock = clock
    recorder.project = "acme"
    return recorder, clock


def call(recorder: Recorder, operation: str = semconv.OP_GENERATE_CONTENT, dollars: str = "0") -> None:
    charges = [Charge(Cost("priced", (CostLine("input", "text", Decimal(dollars)),)))] if dollars != "0" else []
    recorder.record_call(CallRecord(operation, semconv.PROVIDER_GEMINI, MODEL, MODEL, 0.1, "", "priced", charges))


def days(recorder: Recorder) -> dict[str, int]:
    return {key[-1]: int(value) for key, value in recorder.counter_values(semconv.REQUESTS_PACIFIC_DAY)}


def months(recorder: Recorder) -> dict[str, Decimal]:
    return {key[-1]: Decimal(str(value)) for key, value in recorder.counter_values(semconv.COST_PACIFIC_MONTH)}


def today(recorder: Recorder) -> tuple[str, ...]:
    recorder.before_read()
    (key,) = [key for key, _ in recorder.gauge_values(semconv.PACIFIC_CALENDAR)]
    return key


def test_midnight_pacific_in_winter_is_0800_utc() -> None:
    recorder, clock = recorder_at(utc(2026, 11, 23, 7, 59, 59))  # 23:59:59 PST on the 22nd
    call(recorder)
    call(recorder)
    assert today(recorder) == ("2026-11-22", "2026-11")
    clock.now = utc(2026, 11, 23, 8)  # 00:00 PST
    assert today(recorder) == ("2026-11-23", "2026-11")  # an idle process turns the page at scrape time too
    call(recorder)
    call(recorder, operation=semconv.OP_COUNT_TOKENS)  # spends no quota: not in the day's count
    assert days(recorder) == {"2026-11-22": 2, "2026-11-23": 1}


def test_the_25_hour_day_when_pdt_ends_and_old_days_are_dropped() -> None:
    recorder, clock = recorder_at(utc(2026, 11, 1, 6, 59, 59))  # 23:59:59 PDT, 2026-10-31
    call(recorder, dollars="1.25")
    assert today(recorder) == ("2026-10-31", "2026-10")

    clock.now = utc(2026, 11, 1, 7)  # 00:00 PDT: a new day and a new month
    call(recorder, dollars="0.5")
    assert today(recorder) == ("2026-11-01", "2026-11")
    clock.now = utc(2026, 11, 1, 9, 30)  # 01:30 PST, the second 01:30 of the night: same day
    call(recorder)
    clock.now = utc(2026, 11, 2, 7, 59, 59)  # 23:59:59 PST: 24 h 59 min 59 s into the day, still 2026-11-01
    call(recorder, dollars="0.25")
    assert today(recorder) == ("2026-11-01", "2026-11")
    assert days(recorder) == {"2026-10-31": 1, "2026-11-01": 3}  # yesterday kept for its last scrape
    assert months(recorder) == {"2026-10": Decimal("1.25"), "2026-11": Decimal("0.75")}

    clock.now = utc(2026, 11, 2, 8)  # 00:00 PST, 2026-11-02
    assert today(recorder) == ("2026-11-02", "2026-11")
    call(recorder, dollars="2")
    # 2026-10-31 is older than yesterday: dropped; October too (yesterday, 2026-11-01, is in November).
    assert days(recorder) == {"2026-11-01": 3, "2026-11-02": 1}
    assert months(recorder) == {"2026-11": Decimal("2.75")}


def test_prometheus_exposition_of_the_calendar() -> None:
    recorder, clock = recorder_at(utc(2026, 11, 2, 7, 30))  # 23:30 PST, 2026-11-01 (00:30 if it were PDT)
    call(recorder)
    registry = CollectorRegistry()
    prometheus.register(recorder, registry)
    text = generate_latest(registry).decode()
    assert (
        'gemini_pacific_calendar_info{gemini_pacific_day="2026-11-01",gemini_pacific_month="2026-11",'
        'gemini_project="acme"} 1.0'
    ) in text
    assert (
        'gemini_requests_pacific_day_total{gemini_pacific_day="2026-11-01",gemini_project="acme",'
        f'gen_ai_provider_name="gcp.gemini",gen_ai_request_model="{MODEL}"}} 1.0'
    ) in text
    clock.now = utc(2026, 11, 2, 8)
    text = generate_latest(registry).decode()  # the scrape itself rolls the calendar
    assert 'gemini_pacific_day="2026-11-02"' in text.split("gemini_pacific_calendar_info{", 1)[1].split("}")[0]


def test_month_end_for_projections() -> None:
    """The month ends at Pacific midnight: 08:00 UTC in November (PST), 07:00 UTC at the end of October (PDT)."""
    recorder, _clock = recorder_at(utc(2026, 11, 30, 23))
    call(recorder)
    assert recorder.gauge_values(semconv.PACIFIC_MONTH_END) == [((), utc(2026, 12, 1, 8))]
    recorder, _clock = recorder_at(utc(2026, 10, 31, 12))
    call(recorder)
    assert recorder.gauge_values(semconv.PACIFIC_MONTH_END) == [((), utc(2026, 11, 1, 7))]
    registry = CollectorRegistry()
    prometheus.register(recorder, registry)
    line = next(
        line for line in generate_latest(registry).decode().splitlines()
        if line.startswith("gemini_pacific_month_end_timestamp_seconds{")
    )
    assert float(line.split()[-1]) == utc(2026, 11, 1, 7)
