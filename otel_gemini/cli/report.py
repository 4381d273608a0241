"""``otel-gemini report``: a period's spend from a Prometheus, by project, model, feature and tenant, with what-ifs.

For the people who pay the bill: one self-contained HTML file (inline SVG bars, no script, nothing fetched) and
one CSV. Each amount is how much each counter series grew, never ``increase()``: ``increase`` extrapolates to the
window's edges and drops the first increment of a series born mid-period. Per series, the last value in the period
minus the value at its start (the whole last value for a series born later), the same arithmetic as the
dashboards' "in range" panels (grafana/_grafana.py ``grown``). A counter reset inside the period (a replica
restarted with the same labels) counts only what came after it; the report counts resets and says so.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from otel_gemini import semconv
from otel_gemini.pricing import pacific

COST = semconv.COST.prometheus_name
WHATIF = semconv.WHATIF_COST.prometheus_name
GROUPS = {"project": semconv.prometheus_label(semconv.PROJECT),
          "model": semconv.prometheus_label(semconv.REQUEST_MODEL), "feature": "feature", "tenant": "tenant"}
WHATIF_LABEL = semconv.prometheus_label(semconv.WHATIF)


@dataclass
class Report:
    start: float
    end: float
    label: str
    total: Decimal = Decimal(0)
    by: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    whatif: dict[str, Decimal] = field(default_factory=dict)
    resets: int = 0


def period(month: str | None, start: str | None, end: str | None, now: float) -> tuple[float, float, str]:
    """(start, end, label) in epoch seconds: a Pacific month, or Pacific days ``start``..``end`` inclusive."""
    if month:
        first = date.fromisoformat(month + "-01")
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        begin, finish, label = pacific.day_start_epoch(first), pacific.day_start_epoch(following), month
    else:
        if not start:
            raise ValueError("give --month YYYY-MM or --from YYYY-MM-DD [--to YYYY-MM-DD]")
        first, last = date.fromisoformat(start), date.fromisoformat(end) if end else pacific.pacific_date(now)
        if last < first:
            raise ValueError("--to is before --from")
        begin, finish = pacific.day_start_epoch(first), pacific.day_start_epoch(last + timedelta(days=1))
        label = f"{first.isoformat()} to {last.isoformat()}"
    return begin, min(finish, now), label


def _query(base: str, expr: str, at: float) -> list[dict[str, Any]]:
    url = f"{base.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    with urllib.request.urlopen(url, timeout=30) as reply:
        body = json.loads(reply.read().decode())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus answered {body.get('error', body)}")
    return list(body["data"]["result"])


def _by_series(rows: list[dict[str, Any]]) -> dict[frozenset[tuple[str, str]], tuple[dict[str, str], Decimal]]:
    return {frozenset(row["metric"].items()): (row["metric"], Decimal(row["value"][1])) for row in rows}


def differences(
    base: str, metric: str, labels: tuple[str, ...], start: float, end: float,
) -> dict[tuple[str, ...], Decimal]:
    """Per ``labels`` value set: how much every series grew in [start, end], as the dashboards' grown() computes it.

    Per series: its last value in the period minus its value at ``start``; its whole last value when it was born
    inside the period (no value at ``start``) or was reset (the difference would be negative).
    """
    window = max(1, int(end - start))
    at_end = _by_series(_query(base, f"last_over_time({metric}[{window}s])", end))
    at_start = _by_series(_query(base, metric, start))
    out: dict[tuple[str, ...], Decimal] = {}
    for series, (names, last) in at_end.items():
        begun = at_start.get(series)
        grown = last - begun[1] if begun is not None and last >= begun[1] else last
        key = tuple(names.get(label, "") for label in labels)
        out[key] = out.get(key, Decimal(0)) + grown
    return out


def build(base: str, start: float, end: float, label: str) -> Report:
    report = Report(start, end, label)
    names = tuple(GROUPS.values())
    for key, amount in differences(base, COST, names, start, end).items():
        report.total += amount
        for (group, _label), value in zip(GROUPS.items(), key, strict=True):
            sums = report.by.setdefault(group, {})
            sums[value or "(none)"] = sums.get(value or "(none)", Decimal(0)) + amount
    for (scenario,), amount in differences(base, WHATIF, (WHATIF_LABEL,), start, end).items():
        report.whatif[scenario] = report.whatif.get(scenario, Decimal(0)) + amount
    window = max(1, int(end - start))
    rows = _query(base, f"sum(resets({COST}[{window}s]))", end)
    report.resets = int(float(rows[0]["value"][1])) if rows else 0
    return report


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "usd"])
    writer.writerow(["total", report.label, _usd(report.total)])
    for group, sums in report.by.items():
        for key, amount in _ordered(sums):
            writer.writerow([group, key, _usd(amount)])
    for scenario, amount in _ordered(report.whatif):
        writer.writerow(["whatif", scenario, _usd(amount)])
    return out.getvalue()


def _usd(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.000001'))}"


def _ordered(sums: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(sums.items(), key=lambda item: (-item[1], item[0]))


def _bars(title: str, rows: list[tuple[str, Decimal]]) -> str:
    """An inline SVG bar chart and its table; every label value escaped."""
    top = max((amount for _k, amount in rows), default=Decimal(0)) or Decimal(1)
    height = 22 * len(rows) + 4
    bars = "".join(
        f'<text x="0" y="{22 * i + 15}">{html.escape(key[:40])}</text>'
        f'<rect x="260" y="{22 * i + 4}" width="{max(0.0, float(amount / top) * 420):.1f}" height="14" '
        f'fill="{"#f0a202" if key == "actual" else "#3f6fd8"}"/>'
        f'<text x="690" y="{22 * i + 15}">${_usd(amount)}</text>' for i, (key, amount) in enumerate(rows))
    table = "".join(f"<tr><td>{html.escape(key)}</td><td>${_usd(amount)}</td></tr>" for key, amount in rows)
    return (f'<section><h2>{html.escape(title)}</h2><svg viewBox="0 0 820 {height}" width="820" height="{height}" '
            f'role="img">{bars}</svg><table>{table}</table></section>')


_STYLE = ("body{font:14px system-ui,sans-serif;color:#1f2933;max-width:880px;margin:24px auto}"
          "svg text{font-size:12px;fill:#1f2933}table{border-collapse:collapse;margin:6px 0 18px}"
          "td{padding:2px 12px 2px 0;font-variant-numeric:tabular-nums}.note{color:#616e7c}")


def to_html(report: Report, source: str) -> str:
    sections = [_bars(f"By {group}", _ordered(sums)) for group, sums in report.by.items()]
    if report.whatif:
        sections.append(_bars("What the same traffic would have cost (compare with 'actual'; never summed)",
                              _ordered(report.whatif)))
    warning = (f'<p class="note">{report.resets} counter reset(s) in the period (a replica restarted): amounts are '
               "differences of counters and may be low.</p>") if report.resets else ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f"content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>Gemini spend {html.escape(report.label)}"
            f"</title><style>{_STYLE}</style></head><body><h1>Gemini spend, {html.escape(report.label)}</h1>"
            f"<p><b>${_usd(report.total)}</b> in total (Pacific time). From {html.escape(source)}, generated {stamp}."
            f"</p>{warning}{''.join(sections)}</body></html>\n")


def add_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="a period's spend from a Prometheus, as HTML and CSV")
    report.add_argument("--prometheus", required=True, help="base URL of the Prometheus that scrapes the apps")
    report.add_argument("--month", help="a Pacific month, YYYY-MM")
    report.add_argument("--from", dest="start", help="first Pacific day, YYYY-MM-DD")
    report.add_argument("--to", dest="end", help="last Pacific day, YYYY-MM-DD (default today)")
    report.add_argument("--html", help="write the HTML report here")
    report.add_argument("--csv", help="write the CSV here (default: print it)")
    report.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        start, end, label = period(args.month, args.start, args.end, time.time())
    except ValueError as problem:
        raise SystemExit(f"otel-gemini report: {problem}") from None
    try:
        report = build(args.prometheus, start, end, label)
    except (OSError, RuntimeError, ValueError, KeyError) as problem:
        raise SystemExit(f"otel-gemini report: cannot query {args.prometheus}: {problem}") from None
    text = to_csv(report)
    if args.csv:
        with open(args.csv, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    else:
        print(text, end="")
    if args.html:
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(to_html(report, args.prometheus))
    return 0
