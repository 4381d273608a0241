"""A real Prometheus scraping two instrumented processes and evaluating prometheus/rules.yaml.

The point of computing headroom in Prometheus is that it sums every replica: each process here makes its own
calls against the fake endpoint, and the recording rules must show the two together (requests today = A's + B's,
RPM headroom below 1, RPD headroom from the declared limit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from otel_gemini.testing import FakeGemini
from tests._prometheus import prometheus, query, wait
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent
CHILD = Path(__file__).resolve().parent.parent / "_quota_child.py"


class Replica:
    """An instrumented Python process; ``calls(n)`` makes n generate_content calls in it and waits for them."""

    def __init__(self, base_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), base_url], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        line = self.stdout.readline()
        assert line.startswith("port "), line
        self.port = int(line.split()[1])

    def calls(self, count: int) -> None:
        self.stdin.write(f"{count}\n")
        self.stdin.flush()
        assert self.stdout.readline().strip() == f"done {count}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def test_rules_sum_two_instrumented_processes(tmp_path: Path) -> None:
    require_tool("prometheus")
    started = time.monotonic()
    deadline = started + 45
    replicas: list[Replica] = []
    with FakeGemini() as fake:
        try:
            replicas = [Replica(fake.base_url), Replica(fake.base_url)]
            targets = [f"127.0.0.1:{r.port}" for r in replicas]
            with prometheus(tmp_path, "app", targets, ROOT / "prometheus" / "rules.yaml") as base:
                _check_rules(base, replicas, started, deadline)
        finally:
            for replica in replicas:
                replica.stop()


def _check_rules(base: str, replicas: list[Replica], started: float, deadline: float) -> None:
    """Both processes' calls summed by the rules; the limit gauges deduplicated."""
    wait("both targets up", lambda: query(base, 'up{job="app"} == 1').keys() == {
        f"127.0.0.1:{r.port}" for r in replicas}, deadline)

    # Calls after the first scrape, so rate() sees them grow (a series' first value has no rate).
    replicas[0].calls(1)
    replicas[1].calls(1)
    wait("2 requests today", lambda: query(base, "project_model:gemini_requests:pacific_day") == {"": 2.0}, deadline)
    replicas[0].calls(6)
    replicas[1].calls(4)
    rpd = 'project_model:gemini_requests:pacific_day{gemini_project="acme",gen_ai_request_model="gemini-2.5-flash"}'
    wait("12 requests today (A 7 + B 5)", lambda: query(base, rpd) == {"": 12.0}, deadline)
    rpd_headroom = query(base, "project_model:gemini_rpd:headroom_ratio")
    assert rpd_headroom == {"": 1 - 12 / 1000}
    rpm_headroom = wait(
        "RPM headroom below 1", lambda: {k: v for k, v in query(
            base, 'project_model:gemini_rpm:headroom_ratio{gemini_project="acme"}').items() if v < 1}, deadline,
    )
    assert 0 < rpm_headroom[""] < 1
    # The limit gauges come from both processes and were deduplicated: one limit, one headroom series.
    assert query(base, "count(gemini_quota_limit)") == {"": 4.0}  # 2 limits x 2 processes
    assert query(base, "project_model:gemini_quota_limit:rpd") == {"": 1000.0}
    assert len(query(base, "project:gemini_pacific_calendar:current")) == 1
    assert time.monotonic() - started < 30
