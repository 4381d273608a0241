"""Zero code: ``opentelemetry-instrument python tests/apps/zero_code_app.py``, configured only by environment.

A real subprocess through the venv's own ``opentelemetry-instrument``; the app (no telemetry code) calls
FakeGemini, started here; the test scrapes the app's /metrics while the app waits, then reads its console spans.

Hand-computed costs (gemini-2.5-flash Standard $0.30 / $2.50 per 1M input / output; markup 1.25):
* google-genai, gemini-2.5-flash: 1,000 × 0.30/1M + 200 × 2.50/1M = $0.0008; × 1.25 = $0.001.
* google-genai stream, gemini-2.5-flash-lite, billed on the free tier by OTEL_GEMINI_BILLING_TIER: $0.
* legacy google-generativeai, gemini-2.5-flash: 2,000 × 0.30/1M + 400 × 2.50/1M = $0.0016; × 1.25 = $0.002.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from otel_gemini.testing import Reply, response, stream, usage
from tests.conftest import API_KEY, page_sum

APP = Path(__file__).parent.parent / "apps" / "zero_code_app.py"
HAS_LEGACY = importlib.util.find_spec("google.generativeai") is not None
HAS_DISTRO = importlib.util.find_spec("opentelemetry.distro") is not None
PEERS = "google-genai,google_generativeai"  # the official and OpenLLMetry entry points, when installed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def samples(page: str, name: str, **labels: str) -> float:
    return float(page_sum(page, name, **labels))


def environment(fake: Any, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GOOGLE_", "GEMINI_"))}
    env.update(
        ZERO_CODE_BASE_URL=fake.base_url, ZERO_CODE_API_KEY=API_KEY,
        OTEL_GEMINI_PROMETHEUS_PORT=str(port), OTEL_GEMINI_PROMETHEUS_HOST="127.0.0.1",
        OTEL_GEMINI_PRICE_MARKUP="1.25", OTEL_GEMINI_BILLING_TIER="tier1,gemini-2.5-flash-lite=free",
        OTEL_GEMINI_LIMITS="gemini-2.5-flash:rpm=1000,rpd=10000", OTEL_GEMINI_PROJECT="checkout",
        OTEL_TRACES_EXPORTER="console" if HAS_DISTRO else "none", OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=PEERS, OTEL_SERVICE_NAME="zero-code-app",
    )
    env.update(extra)
    return env


def run_app(fake: Any, **extra: str) -> tuple[str, str, str]:
    """Start the app under opentelemetry-instrument; returns (its /metrics page, its stdout, its stderr)."""
    port = free_port()
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    proc = subprocess.Popen(
        [str(instrument), sys.executable, str(APP)], env=environment(fake, port, **extra),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.strip() == "READY":
                break
        assert lines and lines[-1].strip() == "READY", "".join(lines) + proc.stderr.read()  # type: ignore[union-attr]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        out, err = proc.communicate("\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return page, "".join(lines) + out, err


def push_replies(fake: Any) -> None:
    fake.push(
        Reply(body=response("hi there", model_version="gemini-2.5-flash",
                            usage_metadata=usage(prompt=1000, candidates=200))),
        Reply(chunks=stream(["str", "eam"], model_version="gemini-2.5-flash-lite",
                            final_usage=usage(prompt=100, candidates=40))),
        Reply(body=response("legacy hi", usage_metadata=usage(prompt=2000, candidates=400))),
    )


def spans_from_console(stdout: str) -> list[dict[str, Any]]:
    """ConsoleSpanExporter prints one indented JSON object per span."""
    spans, depth, start = [], 0, None
    for index, char in enumerate(stdout):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                try:
                    spans.append(json.loads(stdout[start:index + 1]))
                except ValueError:
                    pass
    return [s for s in spans if "context" in s and "attributes" in s]


def test_zero_code_app_is_instrumented_from_the_environment(fake) -> None:
    push_replies(fake)
    page, stdout, stderr = run_app(fake, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    assert "genai: hi there" in stdout and "stream: stream" in stdout
    base = dict(gen_ai_provider_name="gcp.gemini", gemini_project="checkout", gen_ai_operation_name="generate_content")

    flash = dict(base, gen_ai_request_model="gemini-2.5-flash")
    calls = 2 if HAS_LEGACY else 1
    assert samples(page, "gemini_requests_total", **flash, gemini_pricing_status="priced") == calls
    expected = 0.003 if HAS_LEGACY else 0.001  # $0.001 (+ $0.002 legacy), markup included
    assert samples(page, "gemini_cost_usd_total", **flash) == pytest.approx(expected, abs=1e-12)
    assert samples(page, "gemini_tokens_total", **flash, gen_ai_token_type="input") == (3000 if HAS_LEGACY else 1000)

    lite = dict(base, gen_ai_request_model="gemini-2.5-flash-lite")
    assert samples(page, "gemini_requests_total", **lite, gemini_pricing_status="free") == 1
    assert samples(page, "gemini_cost_usd_total", **lite) == 0
    assert samples(page, "gemini_tokens_total", **lite, gen_ai_token_type="output") == 40

    assert samples(page, "gemini_quota_limit", gemini_project="checkout", gen_ai_request_model="gemini-2.5-flash") > 0
    assert samples(page, "gemini_internal_errors_total") == 0
    assert "hello" not in page and "gen_ai_input_messages" not in page  # content never reaches metrics
    assert API_KEY not in page + stdout + stderr

    if HAS_LEGACY:
        assert "legacy: legacy hi" in stdout
    if HAS_DISTRO:  # OTEL_TRACES_EXPORTER=console needs the SDK configurator that opentelemetry-distro brings
        ours = [s for s in spans_from_console(stdout) if s["name"].startswith("generate_content ")]
        assert len(ours) == calls + 1, [s["name"] for s in ours]
        first = next(s for s in ours if s["attributes"].get("gemini.cost.usd_exact") == "0.001")
        assert first["kind"] == "SpanKind.CLIENT"
        assert json.loads(first["attributes"]["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "hello"}]}]
        assert first["resource"]["attributes"]["service.name"] == "zero-code-app"


def test_zero_code_without_configuration_costs_metrics_only(fake) -> None:
    """No OTEL_GEMINI_PROMETHEUS_PORT: nothing listens; the app still runs and its calls still succeed."""
    push_replies(fake)
    env = environment(fake, 0)
    del env["OTEL_GEMINI_PROMETHEUS_PORT"]
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    done = subprocess.run([str(instrument), sys.executable, str(APP)], env=env, input="\n", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "genai: hi there" in done.stdout and "READY" in done.stdout


def test_instrumentor_loads_with_either_sdk() -> None:
    """package.py names google-genai and the legacy SDK as alternatives: either one installed is enough."""
    from otel_gemini import package

    def conflicts(installed: dict[str, str]) -> Any:
        return package.pick(lambda name: installed[name] if name in installed else None)

    assert conflicts({"google-genai": "3.4.0"}) == ("google-genai >= 2.0.0",)
    assert conflicts({"google-generativeai": "0.8.6"}) == ("google-generativeai >= 0.8.0",)
    assert conflicts({"google-genai": "2.34.0", "google-generativeai": "0.8.6"}) == ("google-genai >= 2.0.0",)
    assert conflicts({"google-genai": "1.20.0", "google-generativeai": "0.8.6"}) == ("google-generativeai >= 0.8.0",)
    assert conflicts({}) == ("google-genai >= 2.0.0",)  # neither: report the main SDK as missing


def test_zero_code_beside_the_other_instrumentations(fake) -> None:
    """Every installed instrumentor loads (OpenLLMetry's; the official one too on google-genai 2.x): still one
    cost per call in metrics and one generate_content span per call (docs/coexistence.md). Costs as above."""
    pytest.importorskip("opentelemetry.instrumentation.google_generativeai")
    push_replies(fake)
    page, stdout, _ = run_app(fake, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="")
    flash = dict(gen_ai_provider_name="gcp.gemini", gemini_project="checkout", gen_ai_request_model="gemini-2.5-flash")
    calls = 2 if HAS_LEGACY else 1
    assert samples(page, "gemini_requests_total", **flash) == calls
    assert samples(page, "gemini_cost_usd_total", **flash) == pytest.approx(0.003 if HAS_LEGACY else 0.001, abs=1e-12)
    if HAS_DISTRO:
        spans = [s for s in spans_from_console(stdout) if s["name"].startswith("generate_content ")]
        provider = [(s["name"], s["attributes"].get("gen_ai.provider.name")) for s in spans]
        # Ours say gcp.gemini, the official one gemini, OpenLLMetry gcp.gen_ai. The google-genai calls get the
        # peers' spans only; the legacy call (no peer wraps that SDK) gets ours.
        assert [name for name, value in provider if value == "gcp.gemini"] == (
            ["generate_content gemini-2.5-flash"] if HAS_LEGACY else []), provider
        official = [s for s in spans if s["attributes"].get("gen_ai.provider.name") == "gemini"]
        assert all("gemini.cost.usd_exact" in s["attributes"] for s in official), provider
        assert {s["attributes"].get("gemini.cost.usd_exact") for s in official} <= {"0.001", "0"}
