"""OTLP push from the standard variables alone: an app with no SDK setup gets spans and metrics out.

The receiver is a loopback HTTP server this test owns, decoding the protobuf bodies with opentelemetry-proto;
the app runs in its own process because OTel's global providers can be set only once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

APP = textwrap.dedent(
    """
    import sys
    import otel_gemini
    from google import genai
    from google.genai import types
    from opentelemetry import metrics, trace
    from otel_gemini.testing import FakeGemini, Reply, response, usage

    with FakeGemini() as fake:
        otel_gemini.instrument()
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.base_url))
        fake.push(Reply(body=response("x", model_version="gemini-2.5-flash",
                                      usage_metadata=usage(prompt=1000, candidates=200, thoughts=300))))
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        trace.get_tracer_provider().shutdown()
        metrics.get_meter_provider().shutdown()
    """
)


class _Receiver(BaseHTTPRequestHandler):
    bodies: dict[str, list[bytes]] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_push_from_environment() -> None:
    _Receiver.bodies = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "otlp-test-app",
        }
        result = subprocess.run([sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()

    spans = []
    for body in _Receiver.bodies.get("/v1/traces", []):
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    [span] = [s for s in spans if s.name == "generate_content gemini-2.5-flash"]
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["gen_ai.usage.cost.amount"].double_value == 0.00155
    assert attributes["gen_ai.usage.cost.source"].string_value == "local"

    names = {}
    for body in _Receiver.bodies.get("/v1/metrics", []):
        request = ExportMetricsServiceRequest.FromString(body)
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    names[metric.name] = metric
    assert names["gemini.cost.usd"].unit == "{USD}"
    assert names["gemini.tokens"].unit == "{token}"
    assert names["gen_ai.client.operation.duration"].unit == "s"
    assert names["gen_ai.client.operation.duration"].histogram.data_points[0].count == 1
    costs = sum(p.as_double for p in names["gemini.cost.usd"].sum.data_points)
    assert abs(costs - 0.00155) < 1e-12
