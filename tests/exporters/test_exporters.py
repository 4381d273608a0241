"""Export: /metrics over real HTTP with the documented names, and the price table's date as a gauge."""

from __future__ import annotations

import socket
import urllib.request

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.parser import text_string_to_metric_families

import otel_gemini
from otel_gemini.testing import Reply, response, usage

MODEL = "gemini-2.5-flash"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_prometheus_endpoint_serves_the_contract(fake, client) -> None:
    port = _free_port()
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(
        tracer_provider=TracerProvider(), meter_provider=MeterProvider(), prometheus_port=port,
        prometheus_host="127.0.0.1",
    )
    try:
        assert instrumentor.prometheus_port == port
        fake.push(Reply(body=response("x", model_version=MODEL,
                                      usage_metadata=usage(prompt=1000, candidates=200, thoughts=300))))
        client.models.generate_content(model=MODEL, contents="hi")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        otel_gemini.uninstrument()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    base = {"gen_ai_operation_name": "generate_content", "gen_ai_provider_name": "gcp.gemini",
            "gen_ai_request_model": MODEL, "gen_ai_response_model": MODEL, "gemini_project": "default",
            "feature": "", "tenant": ""}  # the default attribution labels, empty outside otel_gemini.attributes()

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({**base, **labels}.items())))]

    assert value("gemini_cost_usd_total", gemini_cost_type="reasoning", gen_ai_token_modality="text",
                 gemini_service_tier="standard") == 0.00075
    assert value("gemini_tokens_total", gen_ai_token_type="input", gen_ai_token_modality="text") == 1000
    assert value("gemini_requests_total", error_type="", gemini_rpc_status="", gemini_pricing_status="priced") == 1
    assert value("gen_ai_client_operation_duration_seconds_count", error_type="") == 1
    assert value("gen_ai_client_token_usage_bucket", gen_ai_token_type="output", le="1024.0") == 1
    assert "# TYPE gemini_cost_usd_total counter" in body
    assert "otel_gemini_price_table_checked_timestamp_seconds " in body


def test_taken_port_does_not_stop_the_app(fake, client) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        otel_gemini.uninstrument()
        instrumentor = otel_gemini.instrument(
            tracer_provider=TracerProvider(), meter_provider=MeterProvider(), prometheus_port=port,
            prometheus_host="127.0.0.1",
        )
        try:
            assert instrumentor.prometheus_port is None
            fake.push(Reply(body=response("x", model_version=MODEL)))
            assert client.models.generate_content(model=MODEL, contents="hi").text == "x"
            internal_errors = instrumentor.telemetry.recorder.counters[otel_gemini.semconv.INTERNAL_ERRORS]
            assert internal_errors == {("prometheus_server",): 1}
        finally:
            otel_gemini.uninstrument()


def test_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert names.get("google-genai-cost") == "otel_gemini.instrumentor:GeminiInstrumentor"
