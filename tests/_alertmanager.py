"""A real Alertmanager for tests, delivering to a webhook the test owns; both stopped after.

Alertmanager 0.25 (Debian's prometheus-alertmanager) on a free port, clustering off, storage in tmp, grouped by
alert name with 1-second waits so a firing alert reaches the webhook within a few seconds of Prometheus sending it.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests._prometheus import free_port
from tests.conftest import require_tool


@dataclass
class Webhook:
    """What Alertmanager POSTed: one JSON payload (webhook format version 4) per notification."""

    url: str
    payloads: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alertnames(self, status: str = "firing") -> set[str]:
        """Names of the alerts delivered with ``status`` so far."""
        with self.lock:
            return {alert["labels"].get("alertname", "") for payload in self.payloads
                    for alert in payload.get("alerts", ()) if alert.get("status") == status}


@contextmanager
def webhook() -> Iterator[Webhook]:
    """An HTTP server on loopback answering 200 to every POST and keeping the JSON objects, in a thread; shut down
    after. Also a sink for anything else that must POST somewhere (the agent's OTLP forwarding in the e2e test)."""
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(body.decode())
            except ValueError:  # not JSON (an OTLP protobuf export sent here as a sink): accepted, not kept
                payload = None
            if isinstance(payload, dict):
                with hook.lock:
                    hook.payloads.append(payload)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def alertmanager(tmp_path: Path, webhook_url: str) -> Iterator[str]:
    """Alertmanager routing every alert to ``webhook_url``; yields its host:port (for Prometheus' config)."""
    binary = require_tool("prometheus-alertmanager")
    port = free_port()
    folder = tmp_path / "alertmanager"
    folder.mkdir()
    config = folder / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: test\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        f"receivers:\n  - name: test\n    webhook_configs:\n      - url: \"{webhook_url}\"\n"
        "        send_resolved: false\n",
        encoding="utf-8",
    )
    with open(folder / "alertmanager.log", "wb") as log:
        server = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.kill()
            server.wait(timeout=10)
