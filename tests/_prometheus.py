"""A real Prometheus for tests: started on a free port with a temp config, queried over its HTTP API, killed after."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import require_tool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def query(base: str, expr: str) -> dict[str, float]:
    """Instant query -> {instance or "", value} (one row per series)."""
    with urllib.request.urlopen(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=2) as reply:
        body = json.loads(reply.read().decode())
    assert body["status"] == "success", body
    return {row["metric"].get("instance", ""): float(row["value"][1]) for row in body["data"]["result"]}


def series(base: str, expr: str) -> list[dict[str, Any]]:
    """Instant query -> the raw result rows (``metric`` labels and ``value``), for checks that want every label."""
    return api(base, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["result"]


def api(base: str, path: str) -> Any:
    """GET a Prometheus API path (``/api/v1/alerts``, ``/api/v1/rules``...) -> its ``data``; errors raise."""
    with urllib.request.urlopen(f"{base}{path}", timeout=5) as reply:
        body = json.loads(reply.read().decode())
    assert body["status"] == "success", body
    return body["data"]


def wait(what: str, probe: Callable[[], Any], deadline: float) -> Any:
    """Poll ``probe`` until it returns something truthy (returned) or ``deadline`` (time.monotonic) passes."""
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


@contextmanager
def prometheus(
    tmp_path: Path, job: str, targets: list[str], rules: Path | None = None, *,
    rule_files: Sequence[Path] = (), alertmanager: str | None = None, flags: Sequence[str] = (),
) -> Iterator[str]:
    """Scrape ``targets`` every second (rules evaluated every second); yields the API's base URL.

    ``rules`` and ``rule_files`` are all loaded (a recording-rules file and an alerts file); ``alertmanager``
    (host:port) receives the firing alerts; ``flags`` are extra command-line flags (``--enable-feature=...``).
    """
    binary = require_tool("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    listed = ", ".join(f'"{target}"' for target in targets)
    files = ([rules] if rules else []) + list(rule_files)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + ("rule_files:\n" + "".join(f"  - {path}\n" for path in files) if files else "")
        + (f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{alertmanager}\"]\n"
           if alertmanager else "")
        + f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{listed}]\n",
        encoding="utf-8",
    )
    with open(tmp_path / "prometheus.log", "wb") as log:
        server = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", *flags], stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.kill()
            server.wait(timeout=10)
