"""prometheus/rules.yaml: promtool checks it and runs its unit tests (two simulated replicas, Pacific midnight,
the 25-hour DST day, restarts, spend windows); the rules agree with the library's names.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from otel_gemini import limits, semconv
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "rules.yaml"
RULE_TESTS = sorted((ROOT / "prometheus" / "tests").glob("*.yaml"))


def _promtool(*args: str) -> str:
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_check_rules() -> None:
    assert "SUCCESS" in _promtool("check", "rules", str(RULES))


def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS, "prometheus/tests/*.yaml"
    out = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert "FAILED" not in out and out.count("SUCCESS") == len(RULE_TESTS), out


def test_rules_filter_exactly_the_quota_operations() -> None:
    """The operation regex is spelled out in PromQL; it must stay the library's QUOTA_OPERATIONS."""
    text = RULES.read_text(encoding="utf-8")
    regexes = set(re.findall(r'gen_ai_operation_name=~"([^"]+)"', text))
    assert regexes, "rules filter by operation"
    for regex in regexes:
        assert set(regex.split("|")) == set(semconv.QUOTA_OPERATIONS)


def test_rules_read_the_exported_names() -> None:
    """Every metric and label the rules read is one the library exports (a rename must break this test)."""
    text = RULES.read_text(encoding="utf-8")
    exported = {m.prometheus_name for m in semconv.COUNTERS + semconv.GAUGES}
    read = set(re.findall(r"\b(gemini_[a-z_]+?(?:_total|_info|_limit|_usd))\b(?=[{\[)])", text))
    assert read and read <= exported, read - exported
    for unit, window in limits.KINDS.values():
        assert f'gemini_quota_unit="{unit}", gemini_quota_window="{window}"' in text
    labels = {semconv.prometheus_label(a) for m in semconv.COUNTERS + semconv.GAUGES for a in m.labels}
    assert {"gemini_pacific_day", "gemini_pacific_month", "gen_ai_request_model"} <= labels
    assert semconv.prometheus_label(semconv.PROJECT) == "gemini_project"
