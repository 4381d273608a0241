"""The providers given to instrument() are the ones used (tracer, meter and logger), every scope names the semconv
schema its names follow, and ``OTEL_SDK_DISABLED=true`` turns instrument() into a logged no-op.

Real google-genai client over real HTTP against FakeGemini.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otel_gemini import semconv
from otel_gemini.testing import Reply, response, usage

MODEL = "gemini-2.5-flash"


def _call(fake: Any, client: Any) -> None:
    fake.push(Reply(body=response("hi", model_version=MODEL, usage_metadata=usage(prompt=10, candidates=5))))
    client.models.generate_content(model=MODEL, contents="hello")


def test_the_given_logger_provider_gets_the_content_event_and_every_scope_has_the_schema(
    fake: Any, client: Any, instrument_with: Any,
) -> None:
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    telemetry = instrument_with(logger_provider=logger_provider, capture_content="EVENT_ONLY")
    _call(fake, client)

    records = logs.get_finished_logs()
    assert [r.log_record.event_name for r in records] == [semconv.CONTENT_EVENT]
    assert records[0].instrumentation_scope.schema_url == semconv.SCHEMA_URL
    assert telemetry.span().instrumentation_scope.schema_url == semconv.SCHEMA_URL
    data = telemetry.metric_reader.get_metrics_data()
    scopes = [s.scope for rm in data.resource_metrics for s in rm.scope_metrics if s.scope.name == "otel_gemini"]
    assert scopes and all(scope.schema_url == semconv.SCHEMA_URL for scope in scopes)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_otel_sdk_disabled_stops_instrument(fake: Any) -> None:
    """No /metrics server, no providers installed, no wrappers; the app's call is untouched; said once."""
    port = _free_port()
    app = textwrap.dedent(f"""
        import logging, socket
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        import otel_gemini
        from google import genai
        from google.genai import types
        from opentelemetry import trace
        from otel_gemini.testing import Reply, response, usage
        otel_gemini.instrument()
        otel_gemini.uninstrument()
        otel_gemini.instrument()
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url={fake.base_url!r}))
        print(client.models.generate_content(model="{MODEL}", contents="hi").text)
        print("provider", type(trace.get_tracer_provider()).__module__)
        with socket.socket() as probe:
            print("listening", probe.connect_ex(("127.0.0.1", {port})) == 0)
    """)
    fake.push(Reply(body=response("still answered", model_version=MODEL, usage_metadata=usage(prompt=1, candidates=1))))
    env = {**os.environ, "OTEL_SDK_DISABLED": "true", "OTEL_GEMINI_PROMETHEUS_PORT": str(port),
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", app], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["still answered", "provider opentelemetry.trace", "listening False"]
    said = [line for line in done.stderr.splitlines() if "OTEL_SDK_DISABLED" in line]
    assert said == ["otel-gemini: OTEL_SDK_DISABLED=true: not instrumenting (no spans, metrics, cost or /metrics "
                    "server)"], done.stderr
