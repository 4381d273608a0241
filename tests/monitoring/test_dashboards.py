"""Grafana dashboards (grafana/): generated, importable, filtered, and naming only documented metrics and labels.

The committed JSON must be what grafana/generate.py writes (edit the Python, not the JSON); every query must name
metrics and labels that docs/metrics.md (or docs/agent.md for the agent's self-metrics) documents or recording
rules that prometheus/rules.yaml defines, so a renamed metric breaks this test rather than a dashboard in
production. The "today, Pacific" and cache-savings queries are checked for their values with promtool.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent
GRAFANA = ROOT / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
UIDS = {"otel-gemini-cost", "otel-gemini-traffic", "otel-gemini-health"}
FILTERS = {"job": "job", "gemini_project": "gemini_project", "model": "gen_ai_request_model", "feature": "feature",
           "tenant": "tenant"}
MACROS = {"$__rate_interval": "1m", "$__range": "1h"}  # the only Grafana macros the queries may use
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Which filters a series takes (docs/metrics.md): call metrics carry the attribution labels; gauges and
# otel-gemini's own series carry gemini_project (some the model); the agent's self-metrics only get job from
# Prometheus; recording rules keep gemini_project (project_model: also the model).
CALL_METRICS = {
    "gemini_cost_usd_total", "gemini_tokens_total", "gemini_requests_total", "gemini_http_attempts_total",
    "gemini_quota_exceeded_total", "gemini_grounding_units_total", "gemini_cost_paid_tier_equivalent_usd_total",
    "gemini_service_tier_downgrades_total", "gemini_whatif_cost_usd_total",
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_operation_time_to_first_chunk_seconds", "gen_ai_client_token_usage",
}
MODEL_GAUGES = {"gemini_requests_pacific_day_total", "gemini_quota_limit", "gemini_cache_tokens",
                "gemini_batch_enqueued_tokens", "gemini_batch_jobs"}

# Each issue-8 topic and the panel that answers it.
TOPICS = {
    "spend now": "Spend now",
    "spend today": "Spend today (Pacific)",
    "spend this month": "Spend this month (Pacific)",
    "month-end projection": "Month-end projection",
    "budget": "Projection / budget",
    "spend by model": "Spend by model ($/h)",
    "spend by feature": "Spend by feature ($/h)",
    "spend by tenant": "Spend by tenant ($/h)",
    "spend by cost type": "Spend by cost type ($/h)",
    "cache savings": "Cache savings in range",
    "tokens by type": "Tokens by type (per second)",
    "tokens by modality": "Tokens by modality (per second)",
    "latency percentiles": "Call duration p50 / p95 / p99",
    "time to first chunk": "Time to first chunk p50 / p95 / p99",
    "errors by type": "Errors by type (per minute)",
    "errors by rpc status": "Errors by google.rpc status (per minute)",
    "429s by quota": "429s by quota (violations per minute)",
    "rpm headroom": "RPM headroom",
    "tpm headroom": "TPM headroom",
    "rpd headroom": "RPD headroom (Pacific day)",
    "spend-limit headroom": "Spend-limit headroom now",
    "unpriced and unmetered calls": "Unpriced and unmetered calls (per minute)",
    "http attempts and retries": "Retried attempts (per minute)",
    "price table age": "Price table age",
    "same price table on every replica": "Price tables per job",
    "own errors": "Internal errors by component (per minute)",
    "label overflow": "Label overflow by label (per minute)",
    "agent self-metrics": "Agent spans by outcome (per second)",
}

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
            "inf", "nan"}
STRING = r'"(?:[^"\\]|\\.)*"'
SELECTOR = re.compile(rf'([a-zA-Z_:][a-zA-Z0-9_:]*)?\{{((?:[^{{}}"]|{STRING})*)\}}')
MATCHER = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({STRING})")
CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
LABEL_REPLACE = re.compile(rf'label_replace\(.*?,\s*"(\w+)",\s*{STRING},\s*"(\w+)",\s*{STRING}\s*\)', re.S)


# ------------------------------------------------------------------------------------------------------ helpers

def load() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def targets() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, dashboard in load().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield name, panel, target


def parse(expr: str) -> tuple[set[str], set[str], list[tuple[str, dict[str, tuple[str, str]]]]]:
    """A small PromQL reader: (metric names, label names, [(metric, {label: (op, value)}) per selector])."""
    labels: set[str] = set()
    selectors: list[tuple[str, dict[str, tuple[str, str]]]] = []
    for dst, src in LABEL_REPLACE.findall(expr):
        labels |= {dst, src}
    for metric, body in SELECTOR.findall(expr):
        matchers = {label: (op, json.loads(value)) for label, op, value in MATCHER.findall(body)}
        assert MATCHER.sub("", body).replace(",", "").strip() == "", f"unparsed matcher in {{{body}}}"
        assert metric, f"selector without a metric name: {{{body}}}"
        selectors.append((metric, matchers))
        labels |= set(matchers)
    bare = SELECTOR.sub(lambda m: m.group(1) or "", expr)
    for _, names in CLAUSE.findall(bare):
        labels |= {name.strip() for name in names.split(",") if name.strip()}
    bare = CLAUSE.sub(" ", bare)
    bare = re.sub(STRING, " ", bare)
    bare = re.sub(r"\[[^\]]*\]", " ", bare)
    bare = re.sub(r"@\s*(start|end)\(\s*\)", " ", bare)
    bare = re.sub(r"\boffset\s+\$?\w+", " ", bare)
    metrics = {m.group() for m in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", bare)
               if m.group() not in KEYWORDS and not bare[m.end():].lstrip().startswith("(")}
    return metrics, labels, selectors


def documented_metrics() -> dict[str, str]:
    """Prometheus names -> type, from the metric tables of docs/metrics.md and the agent's in docs/agent.md."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"^\|[^|\n]*\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)", text, re.M))
    agent = (ROOT / "docs" / "agent.md").read_text(encoding="utf-8")
    found.update({name: "counter" for name in re.findall(r"`(otel_gemini_agent_\w+)\{", agent)})
    return found


def documented_labels() -> set[str]:
    """Backticked names in docs/metrics.md, the attribution labels (OTEL_GEMINI_METRIC_LABELS' default in
    docs/configuration.md), the agent's self-metric labels (docs/agent.md) and Prometheus' own."""
    names = set(re.findall(r"`([a-z_][a-z0-9_]*)`", (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")))
    config = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    default = re.search(r"`OTEL_GEMINI_METRIC_LABELS`\s*\|\s*`([^`]*)`", config)
    assert default, "docs/configuration.md lost OTEL_GEMINI_METRIC_LABELS' default"
    names |= {label.strip() for label in default.group(1).split(",")}
    agent = (ROOT / "docs" / "agent.md").read_text(encoding="utf-8")
    for body in re.findall(r"`otel_gemini_agent_\w+\{([^}]*)\}", agent):
        names |= {item.split("=")[0].strip() for item in body.split(",")}
    return names | {"job", "instance", "le"}


def recording_rules() -> set[str]:
    return set(re.findall(r"^\s*-\s*record:\s*(\S+)", (ROOT / "prometheus" / "rules.yaml").read_text(), re.M))


def expected_filters(metric: str) -> set[str]:
    base = re.sub(r"_(bucket|sum|count)$", "", metric)
    if base in CALL_METRICS:
        return set(FILTERS)
    if metric.startswith("project_model:"):
        return {"gemini_project", "model"}
    if metric.startswith("project:"):
        return {"gemini_project"}
    if metric.startswith("otel_gemini_agent_"):
        return {"job"}
    return {"job", "gemini_project", "model"} if metric in MODEL_GAUGES else {"job", "gemini_project"}


def for_prometheus(expr: str) -> str:
    """A panel query as Prometheus runs it with every filter at All (what Grafana sends)."""
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    for variable in FILTERS:
        expr = expr.replace(f"${variable}", ".*")
    return expr


def panel(title: str) -> dict[str, Any]:
    for dashboard in load().values():
        for candidate in panels(dashboard):
            if candidate.get("title") == title:
                return candidate
    raise AssertionError(f"no panel titled {title!r}")


# -------------------------------------------------------------------------------------------------------- tests

def test_committed_json_is_the_generators_output(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GRAFANA / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    generated = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.json")}
    committed = {path.name: path.read_text(encoding="utf-8") for path in DASHBOARDS.glob("*.json")}
    assert committed == generated, "run `python3 grafana/generate.py` and commit grafana/dashboards/"
    assert {json.loads(text)["uid"] for text in generated.values()} == UIDS


def test_dashboards_are_importable_grafana_11_models() -> None:
    for name, dashboard in load().items():
        assert dashboard["uid"] + ".json" == name and dashboard["id"] is None and dashboard["title"]
        assert 39 <= dashboard["schemaVersion"] < 42
        assert "__inputs" not in dashboard, "the datasource variable replaces __inputs (file provisioning breaks it)"
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for p in panels(dashboard):
            grid = p["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, (name, p["title"])
            if p["type"] == "row":
                continue
            assert p["title"] and len(p.get("description", "")) > 20, f"{name}: {p['title']!r} needs a description"
            assert p["datasource"] == DATASOURCE and p["targets"], (name, p["title"])


def test_every_dashboard_has_the_datasource_and_filter_variables() -> None:
    for name, dashboard in load().items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert list(variables) == ["datasource", *FILTERS], name
        source = variables["datasource"]
        assert source["type"] == "datasource" and source["query"] == "prometheus", name
        for variable, label in FILTERS.items():
            v = variables[variable]
            assert v["type"] == "query" and v["multi"] and v["includeAll"] and v["allValue"] == ".*", (name, variable)
            assert v["datasource"] == DATASOURCE, (name, variable)
            assert v["definition"].startswith("label_values(") and v["definition"].endswith(f", {label})")
            assert v["query"] == v["definition"]
            metrics, _, _ = parse(v["definition"][len("label_values("):-len(f", {label})")])
            assert metrics <= set(documented_metrics()), (name, variable)


def test_every_target_uses_the_datasource_variable_and_known_macros() -> None:
    allowed = set(MACROS) | {f"${variable}" for variable in FILTERS}
    for name, p, target in targets():
        assert target["datasource"] == DATASOURCE, (name, p["title"])
        used = set(re.findall(r"\$\w+", target["expr"]))
        assert used <= allowed, f"{name}: {p['title']!r} uses {used - allowed}"
        assert "${" not in target["expr"] and "[[" not in target["expr"], (name, p["title"])


def test_every_query_names_only_documented_metrics_and_labels() -> None:
    metrics_md, labels_md, rules = documented_metrics(), documented_labels(), recording_rules()
    histograms = {f"{name}_{suffix}" for name, kind in metrics_md.items() if kind == "histogram"
                  for suffix in ("bucket", "sum", "count")}
    known = {name for name, kind in metrics_md.items() if kind != "histogram"} | histograms | rules
    assert "project:gemini_cost_usd:month_end_projection" in rules
    seen: set[str] = set()
    for name, p, target in targets():
        metrics, labels, _ = parse(target["expr"])
        assert metrics, (name, p["title"], target["expr"])
        assert metrics <= known, f"{name}: {p['title']!r}: undocumented {metrics - known}"
        assert labels <= labels_md, f"{name}: {p['title']!r}: undocumented labels {labels - labels_md}"
        seen |= metrics
    assert {"gemini_cost_usd_total", "otel_gemini_price_table_checked_timestamp_seconds"} <= seen


def test_every_selector_carries_exactly_the_filters_its_labels_allow() -> None:
    for name, p, target in targets():
        for metric, matchers in parse(target["expr"])[2]:
            filters = {variable for variable, label in FILTERS.items() if matchers.get(label) == ("=~", f"${variable}")}
            assert filters == expected_filters(metric), f"{name}: {p['title']!r}: {metric} filtered by {filters}"
            stray = {label for label, (_, value) in matchers.items() if "$" in value and label not in FILTERS.values()}
            assert not stray, (name, p["title"], stray)


def test_every_issue_8_topic_has_a_panel() -> None:
    for topic, title in TOPICS.items():
        assert panel(title)["targets"], topic
    for title in ("Call duration p50 / p95 / p99", "Call duration p95 by model"):
        assert all('gen_ai_operation_name!="live_session"' in t["expr"] for t in panel(title)["targets"]), title
    assert "gemini_quota_id" in panel("429s by quota (violations per minute)")["targets"][0]["expr"]
    limits = " ".join(t["expr"] for t in panel("Spend-limit headroom now")["targets"])
    for rule in ("spend_10m_billing_tier", "spend_month_billing_tier", "spend_month_project"):
        assert f"project:gemini_{rule}:headroom_ratio" in limits
    assert "project:gemini_cost_usd:pacific_month" in panel("Spend this month (Pacific)")["targets"][0]["expr"]


def test_the_parser_sees_through_promql() -> None:
    metrics, labels, selectors = parse(
        'label_replace(sum by (feature) (rate(a_total{job=~"$job", x="}"}[5m])), "feature", "(none)", "feature", "")'
        ' / on (gemini_project) b:c:d @ end() or vector(0) - time()')
    assert metrics == {"a_total", "b:c:d"}
    assert labels == {"feature", "job", "x", "gemini_project"}
    assert selectors == [("a_total", {"job": ("=~", "$job"), "x": ("=", "}")})]


# ----------------------------------------------------------------------------------- values, with promtool

def _promtool_test(tmp_path: Path, series: list[tuple[str, str]], checks: list[tuple[str, str, str, float]]) -> None:
    """Run `promtool test rules` with prometheus/rules.yaml loaded; checks are (expr, eval_time, labels, value)."""
    promtool = require_tool("promtool")
    lines = ["rule_files:", f"  - {ROOT / 'prometheus' / 'rules.yaml'}", "evaluation_interval: 1m", "tests:",
             "  - interval: 1m", "    input_series:"]
    for labels, values in series:
        lines += [f"      - series: '{labels}'", f"        values: '{values}'"]
    lines.append("    promql_expr_test:")
    for expr, at, labels, value in checks:
        lines += [f"      - expr: {json.dumps(for_prometheus(expr))}", f"        eval_time: {at}",
                  "        exp_samples:", f"          - labels: '{labels}'", f"            value: {value}"]
    (tmp_path / "test.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _calendar(day: str, month: str, values: str) -> tuple[str, str]:
    return (f'gemini_pacific_calendar_info{{job="app", instance="a", gemini_project="p", gemini_pacific_day="{day}", '
            f'gemini_pacific_month="{month}"}}', values)


def _month(month: str, values: str) -> tuple[str, str]:
    return (f'gemini_cost_pacific_month_usd_total{{job="app", instance="a", gemini_project="p", '
            f'gen_ai_provider_name="gcp.gemini", gemini_pacific_month="{month}"}}', values)


@pytest.mark.parametrize("new_month", [False, True], ids=["mid-month", "first-of-month"])
def test_spend_today_starts_at_pacific_midnight(tmp_path: Path, new_month: bool) -> None:
    """$1 a minute; the Pacific day turns at minute 120. Today at minute 180 is the 61 minutes since (the
    subtracted month-so-far is the last minute of the previous day); on the 1st it is the month so far."""
    today = panel("Spend today (Pacific)")["targets"][0]["expr"]
    old_month = "2026-10" if new_month else "2026-11"
    series = [_calendar("2026-10-31" if new_month else "2026-11-22", old_month, "1x119 stale"),
              _calendar("2026-11-01" if new_month else "2026-11-23", "2026-11", "_x120 1x100")]
    if new_month:
        series += [_month("2026-10", "0+1x119 stale"), _month("2026-11", "_x120 0+1x100")]
    else:
        series += [_month("2026-11", "0+1x220")]
    expected = 60 if new_month else 61
    checks = [(today, "180m", '{gemini_project="p"}', expected)]
    if not new_month:  # before the day turned, with no earlier day in Prometheus: the month so far
        checks.append((today, "100m", '{gemini_project="p"}', 100))
    _promtool_test(tmp_path, series, checks)


def test_cache_savings_price_cached_tokens_at_the_observed_input_rate(tmp_path: Path) -> None:
    """100 uncached and 100 cached tokens a minute; input $0.10/min ($0.001 a token), cache reads $0.025/min.
    An hour saves 6000 x 0.001 - 1.5 = $4.50."""
    common = 'job="app", instance="a", gemini_project="p", gen_ai_request_model="m", gen_ai_token_modality="text"'
    series = [
        (f'gemini_tokens_total{{{common}, gen_ai_token_type="input"}}', "0+100x120"),
        (f'gemini_tokens_total{{{common}, gen_ai_token_type="cache_read"}}', "0+100x120"),
        (f'gemini_cost_usd_total{{{common}, gemini_cost_type="input"}}', "0+0.1x120"),
        (f'gemini_cost_usd_total{{{common}, gemini_cost_type="cache_read"}}', "0+0.025x120"),
    ]
    savings = panel("Cache savings in range")["targets"][0]["expr"]
    _promtool_test(tmp_path, series, [(f"round({savings}, 0.001)", "120m", "{}", 4.5)])
