"""The monitoring stack end to end: the demo, the agent, a real Prometheus and a real Alertmanager.

Two ``otel-gemini demo --loop 1`` processes (subprocesses; the whole workload, then a few calls a second with a 429
burst every third round): project ``demo`` with a $1 monthly budget (``OTEL_GEMINI_SPEND_CAP_USD=1``; the demo
spends about $6, so the budget is breached by configuration, not by a rule edit) and project ``demo-in-budget``
with $100,000 (budget left, so the burn-rate and projection series exist too). Beside them an ``otel-gemini
agent`` (in this process) fed OTLP/JSON spans every second: a priced one, a sampled one (tracestate ``ot=th:8``)
and a malformed export, forwarding to a sink; so the agent's panels have data. Prometheus scrapes all three every
second, evaluates prometheus/rules.yaml and prometheus/alerts.yaml every second, and sends to an Alertmanager whose
only receiver is a webhook this test serves. The test asserts:

- every query of every panel (and every query variable) of grafana/dashboards/*.json returns at least one series,
  with Grafana's macros replaced as a dashboard opened with every filter on "All" would have them (below): an
  instant (stat, table) query now, a graph's anywhere since the test started;
- no rule evaluates with an error;
- the 429-rate alert(s) (every alert whose expression selects ``error_type="429"``: GeminiRateLimited) and
  ``GeminiMonthlyBudgetExceeded`` fire in Prometheus, and Alertmanager delivers both to the webhook.

alerts.yaml is loaded from a copy in which every ``for:`` is rewritten to ``0s`` (and nothing else changes), so
alerts fire on the first evaluation that sees their condition instead of minutes later. Failures are collected and
reported all at once. Runtime: about 10-15 s when everything passes (a failure waits out the 60 s deadline).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from otel_gemini.agent.server import Agent, AgentOptions
from tests._alertmanager import alertmanager, webhook
from tests._prometheus import api, free_port, prometheus, series, wait
from tests.agent.test_agent import _json_body  # one semconv GenAI span as another language's app exports it
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = ROOT / "prometheus" / "rules.yaml"
ALERTS = ROOT / "prometheus" / "alerts.yaml"
BUDGET_ALERT = "GeminiMonthlyBudgetExceeded"
DEADLINE_S = 60  # everything must have shown up by then (it takes ~10 s)

# Grafana's built-in macros, as a dashboard over the last hour on a ~1000 px wide panel would have them.
MACROS = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "1h",
          "__range_s": "3600", "__range_ms": "3600000", "__auto": "15s"}
# What the demo itself must show: the budget from the environment (it beats the demo's own $100), and cost by
# feature and tenant (its otel_gemini.attributes blocks).
DEMO_QUERIES = [
    ("demo: OTEL_GEMINI_SPEND_CAP_USD=1 exported",
     'gemini_spend_limit_usd{gemini_project="demo", gemini_spend_scope="project"} == 1', True),
    ("demo: cost of feature chat, tenant acme", 'gemini_cost_usd_total{feature="chat", tenant="acme"}', True),
    ("demo: --loop keeps calling", 'increase(gemini_requests_total{feature="search"}[1m]) > 0', False),
]
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


def test_dashboards_and_alerts_on_real_prometheus_and_alertmanager(tmp_path: Path) -> None:
    require_tool("prometheus")
    require_tool("prometheus-alertmanager")
    started = time.monotonic()
    deadline = started + DEADLINE_S
    assert ALERTS.exists(), f"{ALERTS} is missing"
    queries = list(panel_queries(sorted(DASHBOARDS.glob("*.json"))))
    assert queries, f"no dashboard queries found in {DASHBOARDS}"
    alerts_copy = tmp_path / "alerts-for-0s.yaml"
    alerts_copy.write_text(re.sub(r"(?m)^(\s*)for:\s*\S+\s*$", r"\1for: 0s", ALERTS.read_text(encoding="utf-8")),
                           encoding="utf-8")
    with ExitStack() as stack:
        hook = stack.enter_context(webhook())
        sink = stack.enter_context(webhook())
        manager = stack.enter_context(alertmanager(tmp_path, hook.url))
        logs = [tmp_path / "demo.log", tmp_path / "demo-in-budget.log"]
        ports = [free_port(), free_port()]
        stack.enter_context(demo(ports[0], logs[0], project="demo", budget="1"))
        stack.enter_context(demo(ports[1], logs[1], project="demo-in-budget", budget="100000"))
        agent = stack.enter_context(Agent(AgentOptions(
            otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, forward_otlp_endpoint=sink.url)))
        targets = [f"127.0.0.1:{port}" for port in [*ports, agent.metrics_port]]
        base = stack.enter_context(prometheus(tmp_path, "demo", targets, RULES,
                                              rule_files=[alerts_copy], alertmanager=manager))
        try:
            wait("Prometheus ready", lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=1).status == 200,
                 started + 20)
            wait("every target scraped", lambda: len(series(base, 'up{job="demo"} == 1')) == 3, started + 25)
            failures = _check(base, hook, DEMO_QUERIES + queries, started, deadline, feed=lambda: _feed(agent))
            elapsed = time.monotonic() - started
            assert not failures, f"{len(failures)} failure(s) after {elapsed:.0f} s:\n" + "\n".join(failures)
        except BaseException:
            for log in (*logs, tmp_path / "prometheus.log", tmp_path / "alertmanager" / "alertmanager.log"):
                print(f"--- {log.name} (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:]))
            raise
    assert time.monotonic() - started < 90


@contextmanager
def demo(port: int, log: Path, project: str, budget: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m otel_gemini.cli demo --loop 1`` for ``project`` with a monthly ``budget`` (USD), its output in
    ``log``; killed after. Both come from the environment, which the demo's own options do not override."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(OTEL_GEMINI_PROJECT=project, OTEL_GEMINI_SPEND_CAP_USD=budget)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "otel_gemini.cli", "demo", "--port", str(port), "--loop", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def _feed(agent: Agent) -> None:
    """One round of agent traffic: a priced span, a sampled one (weighted 1/p), and an export it must refuse."""
    for body in (_json_body(""), _json_body("ot=th:8"), b"{not json"):
        request = urllib.request.Request(f"http://127.0.0.1:{agent.http_port}/v1/traces", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except urllib.error.HTTPError as refused:
            assert body == b"{not json" and refused.code == 400, refused


def _check(base: str, hook: Any, queries: list[tuple[str, str, bool]], started: float, deadline: float,
           feed: Callable[[], None]) -> list[str]:
    """Poll until every query has data and every expected alert was delivered, or the deadline; -> failures.
    ``feed`` runs once a round (after the first scrape, so rate() sees the increase)."""
    pending = {(where, expr): instant for where, expr, instant in queries}
    errors: dict[tuple[str, str], str] = {}
    expected: set[str] = set()
    firing: set[str] = set()
    while True:
        feed()
        now = time.time()
        for (where, expr), instant in list(pending.items()):
            try:
                if _has_data(base, expr, instant, started_unix=now - (time.monotonic() - started)):
                    del pending[where, expr]
            except urllib.error.HTTPError as bad:  # 400: not valid PromQL (an unknown macro left in it...)
                errors[where, expr] = json.loads(bad.read().decode() or "{}").get("error", str(bad))
                del pending[where, expr]
        rules = [rule for group in api(base, "/api/v1/rules")["groups"] for rule in group["rules"]]
        expected = {BUDGET_ALERT} | {r["name"] for r in rules if r["type"] == "alerting"
                                     and re.search(r'error_type\s*=\s*"429"', r["query"])}
        firing = {alert["labels"]["alertname"] for alert in api(base, "/api/v1/alerts")["alerts"]
                  if alert["state"] == "firing"}
        if (not pending and expected <= firing and expected <= hook.alertnames()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    failures = [f"no data: {where}: {expr}" for (where, expr) in pending]
    failures += [f"query error: {where}: {expr}: {error}" for (where, expr), error in errors.items()]
    failures += [f"rule {r['name']} evaluates with an error: {r.get('lastError')}" for r in rules
                 if r.get("health") == "err"]
    names = {r["name"] for r in rules if r["type"] == "alerting"}
    if BUDGET_ALERT not in names:
        failures.append(f"no alert named {BUDGET_ALERT} in {ALERTS.name} (alerts: {sorted(names)})")
    if len(expected) < 2:
        failures.append(f"no alert in {ALERTS.name} reads the 429 rate (error_type=\"429\")")
    failures += [
        f"alert {name} not firing in Prometheus (firing: {sorted(firing)})" for name in sorted(expected - firing)
    ]
    delivered = hook.alertnames()
    failures += [f"alert {name} not delivered to the webhook (delivered: {sorted(delivered)})"
                 for name in sorted(expected - delivered)]
    print(f"firing: {sorted(firing)}; delivered: {sorted(delivered)}; "
          f"{len(queries)} queries checked in {time.monotonic() - started:.1f} s")
    return failures


def _has_data(base: str, expr: str, instant: bool, started_unix: float) -> bool:
    """An instant panel needs a series now; a graph one, a series anywhere since the test started."""
    if instant:
        return bool(series(base, expr))
    params = {"query": expr, "start": f"{started_unix:.3f}", "end": f"{time.time():.3f}", "step": "1"}
    return bool(api(base, "/api/v1/query_range?" + urllib.parse.urlencode(params))["result"])


def panel_queries(files: list[Path]) -> Iterator[tuple[str, str, bool]]:
    """(where, PromQL, instant) for every panel target and query variable, macros and variables substituted."""
    for file in files:
        dashboard = json.loads(file.read_text(encoding="utf-8"))
        dashboard = dashboard.get("dashboard", dashboard)  # an API-import wrapper, if any
        variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{file.name}: panel {panel.get('title', panel.get('id'))!r} ref {target.get('refId')}"
                    instant = bool(target.get("instant")) and not target.get("range")
                    yield where, substitute(target["expr"], variables), instant
        for name, variable in variables.items():
            definition = variable.get("query")
            definition = definition.get("query") if isinstance(definition, dict) else definition
            if variable.get("type") == "query" and isinstance(definition, str):
                expr = _variable_query(definition)
                if expr:
                    yield f"{file.name}: variable {name!r}", substitute(expr, variables), True


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def _variable_query(definition: str) -> str | None:
    """Grafana's label_values(metric, label) / query_result(expr) as PromQL; None for label_values(label) alone."""
    match = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\s*\)\s*", definition, re.S)
    if match:
        return f"count by ({match.group(2)}) ({match.group(1)})"
    match = re.fullmatch(r"\s*query_result\((.+)\)\s*", definition, re.S)
    if match:
        return match.group(1)
    return None


def substitute(expr: str, variables: dict[str, dict[str, Any]]) -> str:
    """Grafana's $macros, and the dashboard's own variables set to All (``.*``); an unknown name stays (and fails)."""
    now = time.time()
    timestamps = {"__from": (now - 3600) * 1000, "__to": now * 1000}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name in MACROS:
            return MACROS[name]
        if name in timestamps:
            seconds = ":date:seconds" in match.group(0)
            return str(int(timestamps[name] / 1000 if seconds else timestamps[name]))
        variable = variables.get(name)
        if variable is None:
            return match.group(0)
        if variable.get("type") in ("interval", "constant", "custom", "textbox") and not variable.get("includeAll"):
            current = variable.get("current", {}).get("value") or variable.get("query", "")
            return str(current[0] if isinstance(current, list) else current)
        return ".*"

    return VARIABLE.sub(replace, expr)
