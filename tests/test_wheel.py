"""What a user gets from the package index: the built wheel, installed with each extra into a fresh venv.

* ``otel-gemini[instruments]``: the library with the OpenTelemetry API only (no SDK), instrumenting a real
  google-genai call against FakeGemini, /metrics pricing it; ``otel-gemini agent`` says which extra it needs.
* ``otel-gemini[agent]``: ``otel-gemini agent`` starts and answers /healthz.
* ``otel-gemini[instruments,otlp]``: an OTLP endpoint in the environment and nothing else: the call's span
  arrives at a loopback OTLP/HTTP receiver.

Needs pip and the package index (pinned versions from requirements/, pip's cache reused), so it runs where
scripts/test asks for it (OTEL_GEMINI_TEST_WHEEL=1, its first venv line; CI runs scripts/test), never twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(os.environ.get("OTEL_GEMINI_TEST_WHEEL") != "1",
                       reason="installs from the package index: scripts/test runs it (OTEL_GEMINI_TEST_WHEEL=1)"),
]

CALL = """
import os, sys, urllib.request
import otel_gemini
from google import genai
from google.genai import types
from otel_gemini.testing import FakeGemini, Reply, response, usage

instrumentor = otel_gemini.instrument(prometheus_port=0 if os.environ.get("WITH_METRICS") else None)
with FakeGemini() as fake:
    fake.push(Reply(body=response("hi", model_version="gemini-2.5-flash",
                                  usage_metadata=usage(prompt=1000, candidates=200))))
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=fake.base_url))
    print(client.models.generate_content(model="gemini-2.5-flash", contents="hello").text)
if instrumentor.prometheus_port:
    page = urllib.request.urlopen(f"http://127.0.0.1:{instrumentor.prometheus_port}/metrics").read().decode()
    print([line for line in page.splitlines() if line.startswith("gemini_cost_usd_total{")])
"""


def _pins() -> str:
    """requirements/genai3.txt and test-base.txt as one constraints file: the same versions CI tests against."""
    pins = []
    for name in ("genai3.txt", "test-base.txt"):
        for line in (ROOT / "requirements" / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                pins.append(line)
    return "\n".join(pins) + "\n"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """Its own directory: pytest's numbered temp dirs are pruned by any other pytest run on the machine."""
    where = Path(tempfile.mkdtemp(prefix="otel-gemini-wheel-"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(workdir: Path) -> tuple[Path, Path]:
    # From a copy: setuptools writes build/ and *.egg-info into the tree it builds, and a stale build/lib would
    # put deleted modules into the wheel.
    source, out = workdir / "source", workdir / "dist"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "node_modules", "__pycache__", ".ruff_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
                   check=True, timeout=600, capture_output=True, env=_clean())
    (built,) = out.glob("otel_gemini-*.whl")
    constraints = out / "constraints.txt"
    constraints.write_text(_pins())
    return built, constraints


def _venv(wheel: tuple[Path, Path], where: Path, extras: str) -> Path:
    built, constraints = wheel
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints),
                           f"{built}[{extras}]"], capture_output=True, text=True, timeout=900, env=_clean(), cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def _clean() -> dict[str, str]:
    """No PYTHONPATH (a checkout on it would count as installed), no OTEL_* from the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}


def _run(python: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=120,
                          env={**_clean(), **env}, cwd="/")


def test_library_extra_is_api_only_and_prices_a_call(wheel: tuple[Path, Path], workdir: Path) -> None:
    python = _venv(wheel, workdir / "library", "instruments")
    sdk = _run(python, "-c", "import opentelemetry.sdk")
    assert sdk.returncode != 0, "the library alone must not bring the OpenTelemetry SDK"
    done = _run(python, "-c", CALL, WITH_METRICS="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "hi"
    assert 'cost_type="input"' in done.stdout and 'cost_type="output"' in done.stdout  # 0.0003 + 0.0005 USD
    version = _run(python, "-m", "otel_gemini", "--version")
    assert version.returncode == 0 and version.stdout.startswith("otel-gemini ")
    script = python.parent / "otel-gemini"
    prices = _run(script, "prices", "--model", "gemini-2.5-flash")
    assert prices.returncode == 0 and "gemini-2.5-flash" in prices.stdout, prices.stderr
    agent = _run(script, "agent")
    assert agent.returncode == 2
    assert agent.stderr.startswith("otel-gemini agent: the agent needs: pip install 'otel-gemini[agent]'")


def test_agent_extra_starts_the_agent(wheel: tuple[Path, Path], workdir: Path) -> None:
    python = _venv(wheel, workdir / "agent", "agent")
    script = python.parent / "otel-gemini"
    assert _run(script, "agent", "--help").returncode == 0
    agent = subprocess.Popen([str(script), "agent", "--otlp-grpc-port", "0", "--otlp-http-port", "0",
                              "--metrics-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_clean(), cwd="/")
    try:
        assert agent.stdout is not None
        banner = agent.stdout.readline()
        port = re.search(r"metrics on http://[^:]+:(\d+)/metrics", banner)
        assert port, banner + (agent.stderr.read() if agent.poll() is not None and agent.stderr else "")
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/healthz", timeout=10) as reply:
            assert reply.status == 200
    finally:
        agent.terminate()
        agent.wait(timeout=30)


class _Receiver(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_extra_pushes_with_only_the_endpoint_set(wheel: tuple[Path, Path], workdir: Path) -> None:
    python = _venv(wheel, workdir / "otlp", "instruments,otlp")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = CALL + textwrap.dedent("""
            from opentelemetry import trace
            trace.get_tracer_provider().force_flush()
        """)
        done = _run(python, "-c", code, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_port}",
                    OTEL_METRICS_EXPORTER="none")
        assert done.returncode == 0, done.stderr
    finally:
        server.shutdown()
    assert "/v1/traces" in _Receiver.paths

