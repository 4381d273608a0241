"""Text for ``prices diff`` and ``prices check``: the results of :mod:`compare`, to read in a 100-column terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

WIDTH = 100
_RATE = 44
_NUMBER = 10


def _dollars(value: str | None) -> str:
    return "-" if value is None else f"${value}"


def _row(label: str, change: Mapping[str, Any], money: bool = False) -> str:
    shown = _dollars if money else (lambda v: "-" if v is None else v)
    pct = f"  ({'+' if not change['change_pct'].startswith('-') else ''}{change['change_pct']}%)" \
        if change.get("change_pct") else ""
    return f"{label:<{_RATE}} {shown(change['old']):>{_NUMBER}} -> {shown(change['new']):<{_NUMBER}}{pct}".rstrip()


def _header(text: str) -> list[str]:
    """File names are not broken; a name longer than the terminal gets a line of its own."""
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def _wrapped(text: str, indent: str = "    ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_long_words=False)


def render_diff(result: Mapping[str, Any]) -> str:
    lines = [
        *_header(f"prices diff: {result['old']} (checked {result['old_checked_on']}) -> {result['new']} "
                 f"(checked {result['new_checked_on']})"),
        *textwrap.wrap(
            f"Rates in force on {result['at']} (Pacific) and on the first day of each new period; USD per 1M "
            f"tokens, per-unit prices in USD per unit. Sample bill: {result['sample_usage']}.", WIDTH),
        "",
    ]
    table = result["table"]
    for name in ("checked_on", "tier_multipliers", "adjustments"):
        if name in table:
            lines += _wrapped(f"table {name}: {table[name]['old']} -> {table[name]['new']}", "")
    if "sources" in table:
        for verb in ("added", "removed"):
            if table["sources"][verb]:
                lines += _wrapped(f"table sources {verb}: {', '.join(table['sources'][verb])}", "")
    if table:
        lines.append("")
    mark = {"added": "+", "removed": "-", "changed": "~"}
    for model in result["models"]:
        kind = f", {model['kind']}" if "kind" in model else ""
        lines.append(f"{mark[model['change']]} {model['model']}" + (f" ({model['change']}{kind})"
                                                                    if model["change"] != "changed" else ""))
        for name, change in model.get("fields", {}).items():
            if name == "aliases":
                parts = [f"{verb} {', '.join(change[verb])}" for verb in ("added", "removed") if change[verb]]
                lines += _wrapped(f"aliases {'; '.join(parts)}")
            else:
                lines.append(f"    {name}: {_none(change['old'])} -> {_none(change['new'])}")
        for period in model.get("periods", ()):
            where = f"period {period['platform']} from {period['effective_from']}"
            if period["change"] == "changed":
                parts = []
                if period["old_effective_to"] != period["effective_to"]:
                    parts.append(f"effective_to {_none(period['old_effective_to'], 'open')} -> "
                                 f"{_none(period['effective_to'], 'open')}")
                if period["old_source"] != period["source"]:
                    parts.append(f"source {period['old_source']} -> {period['source']}")
                if period["edited_in_place"]:
                    parts.append("prices edited in place (rewrites what past calls cost; add a dated period instead?)")
                text = f"{where} changed: {'; '.join(parts) or 'note only'}"
            else:
                text = (f"{where} {period['change']} (to {_none(period['effective_to'], 'open')}, "
                        f"source {period['source']})")
            lines += _wrapped(text)
        for rate in model["rates"]:
            lines.append(f"    {rate['at']}  " + _row(rate["rate"], rate))
        for bill in model["sample_bills"]:
            where = "" if bill["platform"] == "gemini" else f"{bill['platform']} "
            lines.append(f"    {bill['at']}  " + _row(f"sample bill {where}{bill['tier']}", bill, money=True))
    counts = {c: sum(1 for m in result["models"] if m["change"] == c) for c in ("changed", "added", "removed")}
    if result["models"]:
        lines.append("")
    lines.append(f"Models: {counts['changed']} changed, {counts['added']} added, {counts['removed']} removed."
                 if result["differences"] else "No differences.")
    return "\n".join(lines)


def _none(value: Any, empty: str = "-") -> str:
    return empty if value is None else str(value)


def render_check(result: Mapping[str, Any]) -> str:
    lines = [
        *_header(f"prices check: table checked {result['table_checked_on']} against {result['format']} data "
                 f"{result['peer']}"),
        *textwrap.wrap(
            f"Rates in force on {result['at']} (Pacific), USD per 1M tokens (per-unit prices per unit), compared "
            f"at {result['rounding']}. Our flex/priority rates are the tier multipliers applied to standard; '-' "
            "means that side has no such rate.", WIDTH),
        "",
        f"Only in ours ({len(result['only_ours'])}):",
    ]
    for model in result["only_ours"]:
        retired = f" (retired {model['retired_on']})" if model["retired_on"] else ""
        lines.append(f"  {model['model']}{retired}")
    lines.append(f"Only in theirs ({len(result['only_theirs'])}, Gemini models of that file):")
    lines += textwrap.wrap(", ".join(result["only_theirs"]), WIDTH, initial_indent="  ", subsequent_indent="  ",
                           break_long_words=False, break_on_hyphens=False)
    lines.append(f"Disagreements ({len(result['disagreements'])}):")
    for entry in result["disagreements"]:
        lines.append(f"  {entry['model']}  (theirs: {entry['theirs']})")
        lines.append(f"    {'rate':<{_RATE}} {'ours':>{_NUMBER}}    theirs")
        for row in entry["rates"]:
            lines.append(f"    {row['rate']:<{_RATE}} {_none(row['ours']):>{_NUMBER}}    {_none(row['theirs'])}")
    lines += ["", f"{result['agreeing']} model entries agree on every rate both sides state."]
    return "\n".join(lines)
