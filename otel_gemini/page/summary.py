"""One JSON document of a recorder's aggregates, computed when the page asks (the scrape side, never a call).

Dollars are exact Decimal strings, the same sums ``/metrics`` exposes per series. Label values go out as data;
the page writes them with ``textContent`` only (a tenant named ``<script>`` stays text).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from otel_gemini import semconv
from otel_gemini.page.history import History
from otel_gemini.pricing import engine
from otel_gemini.recording import Recorder

TOP = 12
"""Rows per breakdown; the rest are summed into one ``(other N)`` row, so a page stays small."""


def _series(recorder: Recorder, metric: semconv.MetricDef) -> list[tuple[dict[str, str], Decimal]]:
    names = recorder.labels_of(metric)
    return [(dict(zip(names, key, strict=True)), Decimal(value)) for key, value in recorder.exact_values(metric)]


def totals(recorder: Recorder) -> tuple[Decimal, int]:
    """(dollars, calls) so far: what the history samples."""
    cost = sum((v for _labels, v in _series(recorder, semconv.COST)), Decimal(0))
    calls = sum((v for _labels, v in _series(recorder, semconv.REQUESTS)), Decimal(0))
    return cost, int(calls)


def by(rows: list[tuple[dict[str, str], Decimal]], label: str, blank: str = "(none)") -> list[list[str]]:
    """Rows summed by one label, largest first, as [value, amount] string pairs (top TOP, then the rest)."""
    sums: dict[str, Decimal] = {}
    for labels, value in rows:
        key = labels.get(label) or blank
        sums[key] = sums.get(key, Decimal(0)) + value
    ordered = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    out = [[key, str(value)] for key, value in ordered[:TOP]]
    rest = ordered[TOP:]
    if rest:
        out.append([f"(other {len(rest)})", str(sum((v for _k, v in rest), Decimal(0)))])
    return out


def _gauge(recorder: Recorder, metric: semconv.MetricDef) -> list[tuple[dict[str, str], float]]:
    names = recorder.labels_of(metric)
    return [(dict(zip(names, key, strict=True)), value) for key, value in recorder.gauge_values(metric)]


def summary(recorder: Recorder, history: History) -> dict[str, Any]:
    """Everything the page shows. ``history`` is sampled first, so its last point is this document's totals."""
    recorder.before_read()
    history.sample()
    now = recorder.clock()
    cost = _series(recorder, semconv.COST)
    requests = _series(recorder, semconv.REQUESTS)
    total = sum((v for _l, v in cost), Decimal(0))
    calendar = _gauge(recorder, semconv.PACIFIC_CALENDAR)
    day_label, month_label = semconv.PACIFIC_CALENDAR.labels
    day, month = (calendar[0][0].get(day_label, ""), calendar[0][0].get(month_label, "")) if calendar else ("", "")
    month_spend = sum((v for labels, v in _series(recorder, semconv.COST_PACIFIC_MONTH)
                       if labels.get(month_label) == month), Decimal(0))
    points = history.snapshot()
    month_end = next((v for _l, v in _gauge(recorder, semconv.PACIFIC_MONTH_END)), None)
    rate = _rate(points)
    projection = None
    if rate is not None and month_end is not None:
        projection = month_spend + rate * Decimal(str(max(0.0, month_end - now)))
    window, scope = semconv.SPEND_LIMIT.labels
    budget = next((v for labels, v in _gauge(recorder, semconv.SPEND_LIMIT)
                   if labels.get(window) == "month" and labels.get(scope) == "project"), None)
    status = by(requests, semconv.PRICING_STATUS)
    table = next((labels for labels, _v in _gauge(recorder, semconv.PRICE_TABLE_INFO)), {})
    return {
        "project": recorder.project,
        "now": now,
        "pacific_day": day,
        "pacific_month": month,
        "spend": {
            "total": str(total),
            "today": str(max(Decimal(0), total - history.day_baseline)),
            "month": str(month_spend),
            "per_hour": None if rate is None else str(rate * 3600),
            "projection": None if projection is None else str(projection),
            "budget": None if budget is None else repr(budget),
        },
        "by_model": by(cost, semconv.REQUEST_MODEL),
        "by_cost_type": by(cost, semconv.COST_TYPE),
        "by_tier": by(cost, semconv.SERVICE_TIER),
        "by_attribution": {key: by(cost, key) for key in recorder.attribution_keys},
        "tokens": by(_series(recorder, semconv.TOKENS), semconv.TOKEN_TYPE),
        "calls": str(sum((v for _l, v in requests), Decimal(0))),
        "errors": by([(labels, v) for labels, v in requests if labels.get(semconv.ERROR_TYPE)], semconv.ERROR_TYPE),
        "quota": by(_series(recorder, semconv.QUOTA_EXCEEDED), semconv.QUOTA_ID),
        "pricing_status": status,
        "unpriced": _count(status, engine.UNPRICED),
        "unmetered": _count(status, engine.UNMETERED),
        "whatif": by(_series(recorder, semconv.WHATIF_COST), semconv.WHATIF),
        "price_table": {key: table.get(key, "") for key in ("checked_on", "digest", "origin")},
        "history": [[ts, str(dollars), calls] for ts, dollars, calls in points],
    }


def _count(rows: list[list[str]], status: str) -> str:
    return next((amount for key, amount in rows if key == status), "0")


def _rate(points: list[tuple[float, Decimal, int]]) -> Decimal | None:
    """Dollars per second over the history (up to the last hour); None with under a minute of it."""
    if len(points) < 2 or points[-1][0] - points[0][0] < 60:
        return None
    return (points[-1][1] - points[0][1]) / Decimal(str(points[-1][0] - points[0][0]))
