"""Render prometheus/rules.yaml and alerts.yaml for a Config: the selector into every raw series, the runbook URLs.

The committed files stay the source (hand-written YAML whose comments explain each rule) and are, by test, the
rendering of the default Config: an empty selector changes nothing and every runbook_url follows the default
pattern. Text in, text out (stdlib only, comments kept): only `expr:` blocks and `runbook_url:` lines change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from config import Config

_STRING = r'"(?:[^"\\]|\\.)*"'
_EXPR = re.compile(r"^(\s*)(?:- )?expr: \|-?\s*$")
_ALERT = re.compile(r"^\s*- alert: (\S+)\s*$")
_RUNBOOK = re.compile(r'^(\s*runbook_url: )"[^"]*"\s*$')


def with_selector(expr: str, selector: str, metrics: Iterable[str]) -> str:
    """Add `selector` to every selector of a raw series in a PromQL text (`m` -> `m{sel}`, `m{a="b"}` ->
    `m{sel, a="b"}`). Recording rules (`level:metric:op`) are left alone: their inputs are already selected."""
    if not selector:
        return expr
    names = "|".join(re.escape(name) for name in sorted(set(metrics), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w:])({names})(?![\w:])(\{{(?:[^{{}}\"]|{_STRING})*\}})?")

    def add(match: re.Match[str]) -> str:
        body = (match.group(2) or "{}")[1:-1].strip()
        return f"{match.group(1)}{{{selector}{', ' + body if body else ''}}}"

    return pattern.sub(add, expr)


def render(text: str, config: Config, metrics: Iterable[str]) -> str:
    """One rules file rendered for `config` (line by line: inside an `expr: |` block, or a runbook_url line)."""
    metrics = tuple(metrics)
    out: list[str] = []
    block: list[str] = []
    indent: int | None = None  # the `expr:` key's indentation while reading its block, else None
    alert = ""

    def flush() -> None:
        if block:
            out.extend(with_selector("\n".join(block), config.selector, metrics).split("\n"))
            block.clear()

    for line in text.split("\n"):
        if indent is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > indent:
                block.append(line)
                continue
            flush()
            indent = None
        if found := _EXPR.match(line):
            indent = len(found.group(1))
        elif found := _ALERT.match(line):
            alert = found.group(1)
        elif (found := _RUNBOOK.match(line)) and alert:
            line = f'{found.group(1)}"{config.runbook_url(alert)}"'
        out.append(line)
    flush()
    return "\n".join(out)
