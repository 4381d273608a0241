"""A real Node.js app (tests/node_app: @google/genai + the OTel JS SDK) as the sender of GenAI spans.

The app calls generateContent on otel_gemini.testing.FakeGemini through the real @google/genai client, wraps the
call in a GenAI semconv CLIENT span of its own, and pushes it as OTLP/HTTP protobuf. First against the test
receiver (what the wire carries), then against `otel-gemini agent` (what the agent prices from it).

Needs node and npm (skipped without them, failed under CI=true). `npm ci` runs only when
tests/node_app/node_modules is missing or older than package-lock.json (.ci/run installs it before the tests).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_gemini.testing import FakeGemini
from otel_gemini.testing.fake_gemini import Reply, error, response, usage
from tests._fakes.otlp_receiver import OTLPReceiver
from tests.conftest import API_KEY, require_tool

APP = Path(__file__).parent.parent / "node_app"
ROOT = Path(__file__).parent.parent.parent
# 1,000 prompt + 500 candidates + 200 thinking tokens on gemini-2.5-flash (paid tier, text, <= 200k prompt):
# 1,000 × $0.30/1M + (500 + 200) × $2.50/1M = $0.0003 + $0.00175 = $0.00205
PROMPT, CANDIDATES, THOUGHTS = 1_000, 500, 200
EXPECTED_COST = Decimal("0.00205")
SPAN_NAME = "generate_content gemini-2.5-flash"


def _installed(app: Path) -> bool:
    """npm writes node_modules/.package-lock.json on every install: newer than the lock file means up to date."""
    hidden, lock = app / "node_modules" / ".package-lock.json", app / "package-lock.json"
    return hidden.exists() and hidden.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="module")
def node_app() -> Path:
    """tests/node_app with node_modules installed from package-lock.json (npm ci only when missing or stale)."""
    require_tool("node")
    npm = require_tool("npm")
    if not _installed(APP):
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=APP,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return APP


def run_app(app: Path, fake: FakeGemini, otlp_endpoint: str, returncode: int = 0,
            **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GEMINI_", "GOOGLE_"))}
    environ.update(GEMINI_BASE_URL=fake.base_url, GEMINI_API_KEY=API_KEY, OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
                   OTEL_SERVICE_NAME="node-sender-test", **env)
    done = subprocess.run([shutil.which("node") or "node", "app.mjs"], cwd=app, env=environ, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == returncode, f"node app.mjs exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def push_usage(fake: FakeGemini) -> None:
    fake.push(Reply(body=response(usage_metadata=usage(prompt=PROMPT, candidates=CANDIDATES, thoughts=THOUGHTS))))


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_node_app_pushes_a_semconv_span_over_otlp_http_protobuf(node_app: Path, fake: FakeGemini,
                                                                compression: str) -> None:
    push_usage(fake)
    with OTLPReceiver() as receiver:
        # OTel JS streams the body (Transfer-Encoding: chunked, no Content-Length), gzipped or not.
        done = run_app(node_app, fake, receiver.http_endpoint, OTEL_EXPORTER_OTLP_COMPRESSION=compression)
        span = receiver.wait_for_span(SPAN_NAME)
    # The real client really called the fake, with the key in its header, once.
    calls = [r for r in fake.requests if r.action == "generateContent"]
    assert len(calls) == 1 and calls[0].model == "gemini-2.5-flash"
    assert json.loads(done.stdout.splitlines()[0])["usageMetadata"]["thoughtsTokenCount"] == THOUGHTS
    assert span.transport == "http/protobuf"
    assert span.kind == 3  # SPAN_KIND_CLIENT
    assert span.scope == "otel-gemini-node-sender"
    assert span.resource["service.name"] == "node-sender-test"
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == "gemini-2.5-flash"
    assert attrs["gen_ai.response.model"] == "gemini-2.5-flash"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == fake.port
    # semconv: output includes thinking; reasoning is its subset.
    assert attrs["gen_ai.usage.input_tokens"] == PROMPT
    assert attrs["gen_ai.usage.output_tokens"] == CANDIDATES + THOUGHTS
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == THOUGHTS
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 0
    assert "error.type" not in attrs
    # The API key never leaves the app in telemetry.
    assert API_KEY not in str(receiver.requests())


def test_node_app_marks_a_failed_call(node_app: Path, fake: FakeGemini) -> None:
    fake.push(Reply(status=429, body=error(429, "RESOURCE_EXHAUSTED", "quota exceeded")))
    with OTLPReceiver() as receiver:
        run_app(node_app, fake, receiver.http_endpoint, returncode=1)  # @google/genai does not retry by default
        span = receiver.wait_for_span(SPAN_NAME)
    assert span.attributes["error.type"] == "429"
    assert span.span.status.code == 2  # STATUS_CODE_ERROR
    assert not any(key.startswith("gen_ai.usage.") for key in span.attributes)


def _agent_available() -> str | None:
    """None when `otel-gemini agent` can be started, else why not."""
    if not (ROOT / "otel_gemini" / "agent" / "server.py").exists():
        return "otel_gemini/agent/server.py does not exist yet"
    done = subprocess.run([sys.executable, "-m", "otel_gemini.cli", "agent", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return f"`otel-gemini agent --help` fails: {done.stderr.strip().splitlines()[-1:]}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, reply.read().decode()
    except OSError as failure:
        return getattr(failure, "code", 0) or 0, ""


@pytest.fixture()
def agent() -> Iterator[dict[str, Any]]:
    """`otel-gemini agent` as a subprocess: OTLP/HTTP and /metrics on free loopback ports."""
    why = _agent_available()
    if why:
        pytest.skip(f"the otel-gemini agent is not available: {why}")
    http_port, metrics_port = _free_port(), _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GEMINI_"))}
    environ.update(OTEL_GEMINI_AGENT_OTLP_HTTP_PORT=str(http_port), OTEL_GEMINI_AGENT_OTLP_GRPC_PORT="0",
                   OTEL_GEMINI_AGENT_METRICS_PORT=str(metrics_port), OTEL_GEMINI_AGENT_HOST="127.0.0.1")
    process = subprocess.Popen([sys.executable, "-m", "otel_gemini.cli", "agent"], cwd=ROOT, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{metrics_port}"
    try:
        deadline = time.monotonic() + 15
        while _get(f"{base}/readyz")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the agent did not become ready:\n{process.communicate()[0]}")
            time.sleep(0.05)
        yield {"otlp": f"http://127.0.0.1:{http_port}", "metrics": f"{base}/metrics", "process": process}
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [(dict(s.labels), s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def test_agent_prices_the_node_apps_span(node_app: Path, fake: FakeGemini, agent: dict[str, Any]) -> None:
    push_usage(fake)
    run_app(node_app, fake, agent["otlp"])
    deadline = time.monotonic() + 10
    while True:
        cost = _samples(_get(agent["metrics"])[1], "gemini_cost_usd_total")
        total = sum(Decimal(repr(value)) for _, value in cost)
        if total or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    own = [line for line in _get(agent["metrics"])[1].splitlines() if line.startswith("otel_gemini_agent_")]
    # OTel JS's exporter streams its body (Transfer-Encoding: chunked, no Content-Length): an agent reading only
    # Content-Length bytes sees an empty export, counts the request, and prices nothing.
    assert cost, "no gemini_cost_usd_total series on the agent's /metrics; agent self-metrics:\n" + "\n".join(own)
    assert all(labels.get("gen_ai_request_model", "gemini-2.5-flash") == "gemini-2.5-flash" for labels, _ in cost)
    assert total == EXPECTED_COST, cost
