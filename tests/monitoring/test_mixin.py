"""The monitoring mixin (monitoring/): one Config renders rules, alerts, dashboards and the kustomize base.

The committed files are the default Config's rendering; a custom selector and runbook pattern reach every raw
series of the rules, alerts and dashboards and still give valid rules (promtool) that select only that job
(Prometheus's engine, `promtool test rules`); deploy/kubernetes/monitoring renders with `kubectl kustomize`, its
ConfigMaps pass the Kubernetes schemas and its Prometheus Operator objects have the structure the operator reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate as kv
import pytest
import yaml

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent
while not (ROOT / "monitoring" / "generate.py").is_file():  # tests/ or tests/<subfolder>/
    ROOT = ROOT.parent
GENERATE = ROOT / "monitoring" / "generate.py"
BASE = ROOT / "deploy" / "kubernetes" / "monitoring"
RUNBOOK = ROOT / "prometheus" / "runbook.md"
SELECTOR = 'job="gemini-app"'
PATTERN = "https://runbooks.example.com/otel-gemini/%s"
NAME = re.compile(r"(?<![\w:])((?:gemini|otel_gemini|gen_ai)_[a-z0-9_]+)(?![\w:])")
BRACES = re.compile(r'\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}')


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GENERATE), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mixin")
    result = _generate("--selector", SELECTOR, "--runbook-url-pattern", PATTERN, "--namespace", "monitoring",
                       "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _documented_metrics() -> set[str]:
    """Series names Prometheus scrapes, from docs/metrics.md and docs/agent.md (histograms as their _bucket)."""
    names: set[str] = set()
    for page in ("metrics.md", "agent.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        for name, kind in re.findall(r"^\|[^|\n]*\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)", text,
                                     re.M):
            names |= {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else {name}
    return names


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


# ---------------------------------------------------------------------------------------------------- defaults

def test_committed_files_are_the_default_rendering() -> None:
    result = _generate("--check")
    assert result.returncode == 0, "run `python3 monitoring/generate.py` and commit:\n" + result.stderr


def test_every_alert_links_to_its_runbook_section() -> None:
    sections = {line[3:].strip() for line in RUNBOOK.read_text(encoding="utf-8").splitlines() if line.startswith("## ")}
    for rule in _rules(ROOT / "prometheus" / "alerts.yaml"):
        assert rule["alert"] in sections, rule["alert"]
        expected = f"https://github.com/otel-gemini/otel-gemini/blob/main/prometheus/runbook.md#{rule['alert'].lower()}"
        assert rule["annotations"]["runbook_url"] == expected


def test_other_settings_need_an_output_directory() -> None:
    result = _generate("--selector", SELECTOR)
    assert result.returncode == 2 and "--out" in result.stderr
    assert _generate("--runbook-url-pattern", "https://x.example/", "--out", "/nonexistent").returncode == 2
    assert _generate("--selector", "job=gemini-app", "--out", "/nonexistent").returncode == 2  # unquoted value


# ------------------------------------------------------------------------------------------------- custom render

def test_the_selector_reaches_every_scraped_series(custom: Path) -> None:
    metrics = _documented_metrics()
    exprs = [rule["expr"] for name in ("rules.yaml", "alerts.yaml") for rule in _rules(custom / "prometheus" / name)]
    for path in sorted((custom / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        exprs += [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
        exprs += [variable["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    seen = 0
    for expr in exprs:
        for found in NAME.finditer(expr):
            if found.group(1) in metrics:
                seen += 1
                braces = BRACES.match(expr, found.end())
                assert braces and SELECTOR in braces.group(), (found.group(1), expr)
    assert seen > 100  # not vacuous: rules, alerts and panels all read raw series


def test_a_custom_rendering_is_valid_and_links_the_custom_runbooks(custom: Path) -> None:
    rules, alerts = custom / "prometheus" / "rules.yaml", custom / "prometheus" / "alerts.yaml"
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(rules), str(alerts)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in _rules(alerts):
        assert rule["annotations"]["runbook_url"] == PATTERN % rule["alert"].lower()
    custom_rule = yaml.safe_load((custom / "deploy" / "kubernetes" / "monitoring" / "prometheusrule.yaml").read_text())
    assert custom_rule["spec"]["groups"][-1]["rules"][-1]["annotations"]["runbook_url"].startswith(
        "https://runbooks.example.com/")


def test_the_selected_rules_count_only_the_selected_job(tmp_path: Path) -> None:
    """Prometheus's engine over the custom rules: $1 a minute from gemini-app, $5 from another job."""
    cost = 'gemini_cost_usd_total{{job="{}", instance="a", gemini_project="p", gen_ai_request_model="m"}}'
    test = {
        "rule_files": [str(custom_rules := tmp_path / "rules.yaml")], "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": cost.format("gemini-app"), "values": "0+1x20"},
                                    {"series": cost.format("other"), "values": "0+5x20"}],
                   "promql_expr_test": [{"expr": "round(project:gemini_cost_usd:increase10m)", "eval_time": "20m",
                                         "exp_samples": [{"labels": '{gemini_project="p"}', "value": 10}]}]}],
    }
    result = _generate("--selector", SELECTOR, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    custom_rules.write_text((tmp_path / "out" / "prometheus" / "rules.yaml").read_text(), encoding="utf-8")
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = subprocess.run([require_tool("promtool"), "test", "rules", str(tmp_path / "test.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------ kustomize base

def _kustomize(base: Path) -> list[dict[str, Any]]:
    result = subprocess.run([require_tool("kubectl"), "kustomize", str(base)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _agent_docs() -> list[dict[str, Any]]:
    return [doc for name in ("agent.yaml", "sidecar.yaml")
            for doc in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / name).read_text(encoding="utf-8")) if doc]


def test_the_base_renders_the_dashboards_as_configmaps_for_grafanas_sidecar() -> None:
    docs = _kustomize(BASE)
    assert sorted(d["kind"] for d in docs) == ["ConfigMap"] * 3 + ["PodMonitor", "PrometheusRule", "ServiceMonitor"]
    assert {d["metadata"]["namespace"] for d in docs} == {"observability"}
    dashboards = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "grafana" / "dashboards").glob("*.json")}
    shipped: dict[str, str] = {}
    for doc in (d for d in docs if d["kind"] == "ConfigMap"):
        for version in ("1.29.0", kv.latest_version()):
            kv.validate(doc, version, strict=True)
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        shipped.update(doc["data"])
    assert shipped == dashboards  # byte for byte what Grafana's file provisioning loads in compose


def test_the_prometheus_rule_holds_the_rules_and_alerts_and_passes_promtool(tmp_path: Path) -> None:
    rule = next(d for d in _kustomize(BASE) if d["kind"] == "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["metadata"]["name"] == "otel-gemini"
    assert set(rule["spec"]) == {"groups"}
    expected = [group for name in ("rules.yaml", "alerts.yaml")
                for group in yaml.safe_load((ROOT / "prometheus" / name).read_text(encoding="utf-8"))["groups"]]
    assert rule["spec"]["groups"] == expected
    extracted = tmp_path / "groups.yaml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(extracted)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_monitors_select_the_agents_of_the_example_manifests() -> None:
    docs = _kustomize(BASE)
    agent = _agent_docs()
    service = next(d for d in agent if d["kind"] == "Service" and d["metadata"]["name"] == "otel-gemini-agent")
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}

    app = next(d for d in agent if d["kind"] == "Deployment" and d["metadata"]["name"] != "otel-gemini-agent")
    pods = app["spec"]["template"]
    pod_monitor = next(d for d in docs if d["kind"] == "PodMonitor")
    assert pod_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pods["metadata"]["labels"].items()
    assert pod_monitor["spec"]["namespaceSelector"]["matchNames"] == [app["metadata"]["namespace"]]
    ports = {p["name"] for c in pods["spec"].get("initContainers", []) + pods["spec"]["containers"]
             for p in c.get("ports", [])}
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == ["metrics"] and "metrics" in ports


def test_a_custom_base_renders_in_its_namespace(custom: Path) -> None:
    docs = _kustomize(custom / "deploy" / "kubernetes" / "monitoring")
    assert {d["metadata"]["namespace"] for d in docs} == {"monitoring"}
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert SELECTOR in rule["spec"]["groups"][0]["rules"][0]["expr"]
