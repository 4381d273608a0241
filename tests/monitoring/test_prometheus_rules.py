"""prometheus/rules.yaml and prometheus/alerts.yaml: promtool checks them and runs their unit tests (two simulated
replicas, Pacific midnight, the 25-hour DST day, restarts, spend windows, budgets, every alert firing and not);
the rules and alerts read only names the library exports; every alert has a severity, annotations and a runbook
section that documents its thresholds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from otel_gemini import semconv
from otel_gemini.settings import config, limits
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "prometheus" / "rules.yaml"
ALERTS = ROOT / "prometheus" / "alerts.yaml"
RUNBOOK = ROOT / "prometheus" / "runbook.md"
RULE_TESTS = sorted((ROOT / "prometheus" / "tests").glob("*.yaml"))
RUNBOOK_URL = "https://github.com/otel-gemini/otel-gemini/blob/main/prometheus/runbook.md#"
SEVERITIES = {"critical", "warning", "info"}

# PromQL words that are not metric names: operators, modifiers, and the functions/aggregations the files may call.
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
FUNCTIONS = {
    "sum", "max", "min", "avg", "count", "group", "topk", "bottomk", "rate", "increase", "irate", "max_over_time",
    "count_over_time", "histogram_quantile", "clamp_min", "clamp_max", "time", "vector", "absent", "label_replace",
}


def _promtool(*args: str) -> str:
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules(ALERTS) if "alert" in rule]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules(RULES) if "record" in rule}


def _runbook_sections() -> dict[str, str]:
    """GitHub anchor of each `## Heading` -> the section's text (a heading's anchor is its lower-cased text)."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^## ", RUNBOOK.read_text(encoding="utf-8"), flags=re.M)[1:]:
        heading, _, body = chunk.partition("\n")
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        sections[anchor] = body
    return sections


def _agent_metrics() -> tuple[set[str], set[str]]:
    """The agent's self-metrics and their labels as docs/agent.md documents them (`name{label,label}`)."""
    text = (ROOT / "docs" / "agent.md").read_text(encoding="utf-8")
    names, labels = set(), set()
    for name, body in re.findall(r"`(otel_gemini_agent_\w+_total)(?:\{([^}]*)\})?`", text):
        names.add(name)
        labels |= {item.partition("=")[0].strip() for item in body.split(",") if item.strip()}
    return names, labels


def _read(expr: str) -> tuple[set[str], set[str], set[str]]:
    """The metric names, label names and functions a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels: set[str] = set()
    for body in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", body))
    text = re.sub(r"\{[^}]*\}", " ", text)
    clause = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
    for body in re.findall(clause, text):
        labels |= set(re.findall(r"[a-zA-Z_]\w*", body))
    text = re.sub(clause, " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    words = re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", text)
    metrics = {word for word, call in words if not call and word not in KEYWORDS}
    functions = {word for word, call in words if call}
    return metrics, labels, functions


def _exported() -> tuple[set[str], set[str]]:
    """Every series name and label a rule may read: the library's (docs/metrics.md), the agent's (docs/agent.md),
    Prometheus's own target labels, the default attribution labels, and the recording rules of rules.yaml."""
    metrics = {m.prometheus_name for m in semconv.COUNTERS + semconv.GAUGES}
    metrics |= {m.prometheus_name + suffix for m in semconv.HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    agent_metrics, agent_labels = _agent_metrics()
    labels = {semconv.prometheus_label(a) for a in semconv.ALL_LABELS} | {"job", "instance"} | agent_labels
    labels |= set(config.parse_metric_labels(config.Settings.metric_labels))
    return metrics | agent_metrics | _recorded(), labels


def test_promtool_check_rules() -> None:
    out = _promtool("check", "rules", str(RULES), str(ALERTS))
    assert out.count("SUCCESS") == 2, out


def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS, "prometheus/tests/*.yaml"
    out = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert "FAILED" not in out and out.count("SUCCESS") == len(RULE_TESTS), out


def test_rules_filter_exactly_the_quota_operations() -> None:
    """The operation regex is spelled out in PromQL; it must stay the library's QUOTA_OPERATIONS."""
    for path in (RULES, ALERTS):
        regexes = set(re.findall(r'gen_ai_operation_name=~"([^"]+)"', path.read_text(encoding="utf-8")))
        assert regexes, f"{path.name} filters by operation"
        for regex in regexes:
            assert set(regex.split("|")) == set(semconv.QUOTA_OPERATIONS)


def test_rules_read_the_exported_names() -> None:
    """Every metric and label the rules read is one the library exports (a rename must break this test)."""
    text = RULES.read_text(encoding="utf-8")
    exported = {m.prometheus_name for m in semconv.COUNTERS + semconv.GAUGES}
    read = set(re.findall(r"\b(gemini_[a-z_]+?(?:_total|_info|_limit|_usd|_seconds))\b(?=[{\[)])", text))
    assert read and read <= exported, read - exported
    assert "gemini_pacific_month_end_timestamp_seconds" in read
    for unit, window in limits.KINDS.values():
        assert f'gemini_quota_unit="{unit}", gemini_quota_window="{window}"' in text
    labels = {semconv.prometheus_label(a) for m in semconv.COUNTERS + semconv.GAUGES for a in m.labels}
    assert {"gemini_pacific_day", "gemini_pacific_month", "gen_ai_request_model"} <= labels
    assert semconv.prometheus_label(semconv.PROJECT) == "gemini_project"


def test_rules_and_alerts_read_only_documented_metrics_and_labels() -> None:
    """Every series, label and template label of rules.yaml and alerts.yaml is exported by the library or the
    agent, set by Prometheus (job, instance), or recorded by rules.yaml."""
    metrics, labels = _exported()
    assert {"GeminiMonthlyBudgetExceeded", "GeminiRateLimited"} <= {a["alert"] for a in _alerts()}
    for rule in _rules(RULES) + _rules(ALERTS):
        name = rule.get("alert") or rule["record"]
        read_metrics, read_labels, functions = _read(rule["expr"])
        assert read_metrics and read_metrics <= metrics, (name, read_metrics - metrics)
        assert read_labels <= labels, (name, read_labels - labels)
        assert functions <= FUNCTIONS, (name, functions - FUNCTIONS)
        templated = set(re.findall(r"\$labels\.(\w+)", " ".join(rule.get("annotations", {}).values())))
        assert templated <= labels, (name, templated - labels)


def test_new_recording_rules_are_the_shared_ones() -> None:
    """The names the dashboards and alerts share (issue 8) exist, in the otel-gemini-spend group."""
    groups = {g["name"]: g for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]}
    spend = {rule["record"] for rule in groups["otel-gemini-spend"]["rules"]}
    assert {
        "project:gemini_cost_usd:rate5m", "project:gemini_cost_usd:rate30m", "project:gemini_cost_usd:rate1h",
        "project:gemini_cost_usd:rate6h", "project:gemini_pacific_month:remaining_seconds",
        "project:gemini_cost_usd:month_end_projection", "project:gemini_budget:remaining_usd",
    } <= spend


def test_alerts_have_severity_annotations_and_a_runbook_section() -> None:
    sections = _runbook_sections()
    alerts = _alerts()
    assert alerts
    for alert in alerts:
        name = alert["alert"]
        assert name.startswith(("Gemini", "OtelGemini")), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == RUNBOOK_URL + name.lower(), name
        assert name.lower() in sections, f"prometheus/runbook.md has no '## {name}' section"
    documented = {anchor for anchor in sections if anchor.startswith(("gemini", "otelgemini"))}
    assert documented == {alert["alert"].lower() for alert in alerts}, "a runbook section without an alert"


def test_alert_thresholds_are_documented_in_the_runbook() -> None:
    """No money in a rule (budgets are gemini_spend_limit_usd), and every literal an alert compares with is
    written in its runbook section, where "how to tune" explains it."""
    sections = _runbook_sections()
    for alert in _alerts():
        expr = re.sub(r'"[^"]*"|\[[^\]]*\]', "", alert["expr"])
        for number in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", expr):
            assert re.search(rf"(?<![\w.]){re.escape(number)}(?![\w])", sections[alert["alert"].lower()]), (
                alert["alert"], number)


def _promtool_cases() -> tuple[set[str], set[str]]:
    """Alert names the promtool tests expect to fire at some time, and to stay quiet at some time."""
    fires, quiet = set(), set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    return fires, quiet


def test_every_alert_fires_and_stays_quiet_in_a_promtool_test() -> None:
    names = {alert["alert"] for alert in _alerts()}
    fires, quiet = _promtool_cases()
    assert names <= fires, f"no promtool case fires {sorted(names - fires)}"
    assert names <= quiet, f"no promtool case keeps {sorted(names - quiet)} quiet"
    assert fires | quiet <= names, f"promtool tests name unknown alerts {sorted((fires | quiet) - names)}"


def test_every_severity_of_a_two_severity_alert_fires_in_a_promtool_test() -> None:
    """GeminiMonthlyBudgetBurnRate and GeminiBillingTierMonthlyCapApproaching have a critical and a warning rule."""
    expected = {(a["alert"], a["labels"]["severity"]) for a in _alerts()}
    seen = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                seen |= {(case["alertname"], exp["exp_labels"]["severity"]) for exp in case.get("exp_alerts") or []}
    assert expected <= seen, sorted(expected - seen)


def test_budget_alerts_read_the_configured_budget_not_a_figure() -> None:
    """The budget is OTEL_GEMINI_SPEND_CAP_USD (gemini_spend_limit_usd scope project) through the recording rules."""
    exprs: dict[str, str] = {}
    for alert in _alerts():
        exprs[alert["alert"]] = exprs.get(alert["alert"], "") + alert["expr"]
    assert "project:gemini_spend_limit_usd:project_month" in exprs["GeminiMonthlyBudgetExceeded"]
    assert "project:gemini_budget:burn_rate1h" in exprs["GeminiMonthlyBudgetBurnRate"]
    assert "project:gemini_budget:burn_rate6h" in exprs["GeminiMonthlyBudgetBurnRate"]
    remaining = next(r["expr"] for r in _rules(RULES) if r.get("record") == "project:gemini_budget:remaining_usd")
    assert "project:gemini_spend_limit_usd:project_month" in remaining
    limit = next(r["expr"] for r in _rules(RULES) if r.get("record") == "project:gemini_spend_limit_usd:project_month")
    assert 'gemini_spend_window="month", gemini_spend_scope="project"' in limit
