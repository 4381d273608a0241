"""``otel-gemini agent --processes 2``: two workers share the OTLP ports, the parent's /metrics sums them exactly.

Run as users run it (the CLI in a subprocess), fed by real OTLP exporters over HTTP and gRPC, one connection per
export so the kernel spreads them over both workers; every span sent is counted once and the dollars are exact.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter

from tests.agent.test_agent import ONE_CALL, SEMCONV, http_exporter, outcome, send, total

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"),
                                reason="--processes needs fork and SO_REUSEPORT (Linux)")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[SimpleNamespace, subprocess.Popen[str]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_GEMINI_MULTIPROC_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_gemini", "agent", "--processes", "2", "--otlp-http-port", "0",
         "--otlp-grpc-port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ports = re.search(r":(\d+), OTLP HTTP on http://[^:]+:(\d+)/v1/traces, metrics on http://[^:]+:(\d+)", line)
        assert ports, (line, process.stderr.read() if process.poll() is not None else "")
        grpc_port, http_port, metrics_port = (int(p) for p in ports.groups())
        yield SimpleNamespace(grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port,
                              directory=tmp_path), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _eventually(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the merged totals never reached the spans sent"
        time.sleep(0.2)


def test_two_processes_count_every_span_once_with_exact_dollars(workers) -> None:
    agent, process = workers
    sent = 0
    for index in range(24):
        if index % 3 == 0:
            send(GRPCExporter(endpoint=f"127.0.0.1:{agent.grpc_port}", insecure=True, timeout=5), SEMCONV)
        else:
            send(http_exporter(agent), SEMCONV)  # a new exporter: a new connection, to either worker
        sent += 1
    _eventually(lambda: outcome(agent, "priced") == sent)
    assert total(agent, "otel_gemini_agent_spans_total") == sent
    assert total(agent, "gemini_cost_usd_total") == sent * ONE_CALL  # exact Decimal sum over both workers
    assert total(agent, "gemini_tokens_total", gen_ai_token_type="input") == sent * 1000
    assert total(agent, "gemini_requests_total") == sent
    assert total(agent, "otel_gemini_agent_requests_total", transport="grpc") == 8
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert sent * ONE_CALL == Decimal("0.0372")
    per_worker = [json.loads(path.read_text())["spans"] for path in agent.directory.glob("agent_stats_*.json")]
    assert len(per_worker) == 2
    priced = [dict(rows)["priced"] for rows in per_worker]
    assert sum(priced) == sent and all(priced), priced  # both workers took exports (16 connections spread)


@pytest.mark.parametrize(("flags", "message"), [
    (["--processes", "0"], "--processes must be at least 1"),
    (["--processes", "2", "--push-metrics-otlp-endpoint", "http://127.0.0.1:9"], "pushes one process's totals"),
])
def test_processes_refuses_what_it_cannot_do_exactly(flags: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "otel_gemini", "agent", "--otlp-http-port", "0", "--otlp-grpc-port",
                           "0", "--metrics-port", "0", *flags], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and message in done.stderr, done.stderr
