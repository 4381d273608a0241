"""A real Prometheus scraping two instrumented processes and evaluating prometheus/rules.yaml.

The point of computing headroom in Prometheus is that it sums every replica: each process here makes its own
calls against the fake endpoint, and the recording rules must show the two together (requests today = A's + B's,
RPM headroom below 1, RPD headroom from the declared limit).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from otel_gemini.testing import FakeGemini
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "_quota_child.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read().decode())


def _query(base: str, expr: str) -> dict[str, float]:
    """Instant query -> {instance or "", value} (one row per series)."""
    body = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", body
    return {row["metric"].get("instance", ""): float(row["value"][1]) for row in body["data"]["result"]}


def _wait(what: str, probe: Callable[[], Any], deadline: float) -> Any:
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError as failure:  # Prometheus still starting
            last = failure
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


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
    prometheus_bin = require_tool("prometheus")
    started = time.monotonic()
    deadline = started + 45
    replicas: list[Replica] = []
    server: subprocess.Popen[bytes] | None = None
    with FakeGemini() as fake, open(tmp_path / "prometheus.log", "wb") as log:
        try:
            replicas = [Replica(fake.base_url), Replica(fake.base_url)]
            port = _free_port()
            targets = ", ".join(f'"127.0.0.1:{r.port}"' for r in replicas)
            config = tmp_path / "prometheus.yml"
            config.write_text(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - {ROOT / 'prometheus' / 'rules.yaml'}\n"
                f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{targets}]\n",
                encoding="utf-8",
            )
            server = subprocess.Popen(
                [prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=log,
            )
            base = f"http://127.0.0.1:{port}"
            _wait("both targets up", lambda: _query(base, 'up{job="app"} == 1').keys() == {
                f"127.0.0.1:{r.port}" for r in replicas}, deadline)

            # Calls after the first scrape, so rate() sees them grow (a series' first value has no rate).
            replicas[0].calls(1)
            replicas[1].calls(1)
            _wait("2 requests today", lambda: _query(base, "project_model:gemini_requests:pacific_day") == {"": 2.0},
                  deadline)
            replicas[0].calls(6)
            replicas[1].calls(4)
            rpd = 'project_model:gemini_requests:pacific_day{gemini_project="acme",gen_ai_request_model="gemini-2.5-flash"}'
            _wait("12 requests today (A 7 + B 5)", lambda: _query(base, rpd) == {"": 12.0}, deadline)
            rpd_headroom = _query(base, "project_model:gemini_rpd:headroom_ratio")
            assert rpd_headroom == {"": 1 - 12 / 1000}
            rpm_headroom = _wait(
                "RPM headroom below 1", lambda: {k: v for k, v in _query(
                    base, 'project_model:gemini_rpm:headroom_ratio{gemini_project="acme"}').items() if v < 1}, deadline,
            )
            assert 0 < rpm_headroom[""] < 1
            # The limit gauges come from both processes and were deduplicated: one limit, one headroom series.
            assert _query(base, "count(gemini_quota_limit)") == {"": 4.0}  # 2 limits x 2 processes
            assert _query(base, "project_model:gemini_quota_limit:rpd") == {"": 1000.0}
            assert len(_query(base, "project:gemini_pacific_calendar:current")) == 1
            assert time.monotonic() - started < 30
        finally:
            if server is not None:
                server.kill()
                server.wait(timeout=10)
            for replica in replicas:
                replica.stop()
