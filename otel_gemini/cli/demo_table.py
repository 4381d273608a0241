"""The demo's cost table: per operation and model, its calls, what became of them, its tokens and its dollars.

Read back from the same aggregates /metrics shows. A charge found by one call is recorded under the operation it
pays for (a finished video under generate_videos, batch results under generate_content, a cache's storage under
cache_storage), so some rows have a cost and no priced call, or priced calls and no cost: those carry a ``*``
and the footnote says why, instead of leaving a reader to guess.
"""

from __future__ import annotations

import textwrap
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from otel_gemini import semconv
from otel_gemini.cli.demo_surfaces import MEDIA

_UNIT_TEXT = {"per_image": ("image(s)", "image"), "per_second": ("s", "s"), "per_song": ("song(s)", "song")}
FOOTNOTE = ("* its charge is recorded under the operation it pays for: a finished video under generate_videos "
            "(found by get_operation), batch results under generate_content (get_batch), a cache's storage under "
            "cache_storage (update_cache, delete_cache)")


def _media_note(pricer: Any, row: tuple[str, str], amount: Decimal) -> str:
    """``media: 8 s × $0.6/s (4k)`` for the media the demo made, from the price the bill used."""
    unit, count, variant = MEDIA[row]
    model_id = pricer.table.normalize(row[1])
    card = pricer.table.rate_card(model_id, at=time.time(), platform="vertex_ai") if model_id else None
    price = amount / count  # the bill's own figure; the table's price when it has one (they agree)
    if card is not None and unit in card.per_unit:
        price = card.per_unit[unit].get(variant, card.per_unit[unit]["default"])
    many, one = _UNIT_TEXT[unit]
    shown = "" if variant == "default" else f" ({variant})"
    return f"media: {count} {many} × ${format(price.normalize(), 'f')}/{one}{shown}"


def _dollars(amount: Decimal) -> str:
    """Six decimals, as Prometheus shows them; a charge under a micro-dollar is not printed as 0.000000."""
    return "<0.000001" if 0 < amount < Decimal("0.0000005") else f"{amount:.6f}"


def _status(counts: dict[str, int], priced_without_cost: bool, cost_without_priced: bool) -> str:
    parts = []
    for status, n in sorted(counts.items()):
        mark = "*" if (status == "priced" and priced_without_cost) else ""
        parts.append(f"{n} {status}{mark}")
    if not parts:
        return "no call of its own*"
    if cost_without_priced:
        parts[-1] += "*"
    return ", ".join(parts)


def cost_table(recorder: Any, pricer: Any) -> str:
    """One row per (operation, requested model); a footnote when a row's charge was found by another call."""
    calls: dict[tuple[str, str], int] = defaultdict(int)
    statuses: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tokens: dict[tuple[str, str], int] = defaultdict(int)
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, value in recorder.counters[semconv.REQUESTS].items():
        calls[key[0], key[2]] += int(value)
        statuses[key[0], key[2]][key[6] + (f" ({key[4]})" if key[4] else "")] += int(value)
    for key, value in recorder.counters[semconv.TOKENS].items():
        tokens[key[0], key[2]] += int(value)
    for key, value in recorder.counters[semconv.COST].items():
        cost[key[0], key[2]] += Decimal(value)
        kinds[key[0], key[2]].add(key[4] if key[6] == "standard" else f"{key[4]}@{key[6]}")
    for key, value in recorder.counters[semconv.PAID_TIER_EQUIVALENT].items():
        kinds[key[0], key[2]].add(f"free tier, would cost {Decimal(value):.6f}")
    rows = sorted(set(calls) | set(cost) | set(tokens))
    lines = [f"{'operation':<20}{'model':<34}{'calls':>5}  {'status':<28}{'tokens':>8}{'cost USD':>11}  billed as"]
    starred = False
    for row in rows:
        priced = statuses[row].get("priced", 0)
        status = _status(statuses[row], priced > 0 and row not in cost, row in cost and not priced)
        starred = starred or "*" in status
        shown = _dollars(cost[row]) if row in cost else "-"
        detail = sorted(kinds[row])
        if row in MEDIA and row in cost:
            detail = [_media_note(pricer, row, cost[row]) if k == "media" else k for k in detail]
        lines.append((f"{row[0]:<20}{row[1][:33]:<34}{calls[row]:>5}  {status:<28}{tokens[row]:>8}{shown:>11}  "
                      + ", ".join(detail)).rstrip())
    total = sum(cost.values(), Decimal(0))
    lines.append(f"{'total':<54}{sum(calls.values()):>5}  {'':<28}{sum(tokens.values()):>8}{total:>11.6f}")
    if starred:
        lines += textwrap.wrap(FOOTNOTE, 100, subsequent_indent="  ")
    return "\n".join(lines)
