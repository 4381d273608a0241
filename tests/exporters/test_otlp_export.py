"""OTLP push over gRPC and HTTP/protobuf, configured by the standard variables only, checked against docs/metrics.md.

A real app process (tests/apps/otlp_app.py) with no OTel setup of its own calls otel_gemini.instrument() and the
real google-genai client against this test's FakeGemini; otel-gemini installs OTLP-exporting SDK providers from
OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL, and the app exits without flushing (the providers' atexit shutdown does).
The receiver is otel_gemini.testing.OTLPReceiver on loopback (no Collector binary is needed): what it decodes is
what a Collector would have got. Every otel-gemini metric that arrives must be in docs/metrics.md's tables under
the same OTel name, unit and type, so the docs cannot drift from the wire.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_gemini import semconv
from otel_gemini.testing import FakeGemini, Reply, response, stream, usage
from otel_gemini.testing.bodies import quota_exceeded
from tests._fakes.otlp_names import collector_prometheus_name
from tests._fakes.otlp_receiver import MetricPoint, OTLPReceiver

ROOT = Path(__file__).resolve().parent.parent.parent
APP = Path(__file__).resolve().parent.parent / "apps" / "otlp_app.py"
MODEL = "gemini-2.5-flash"
SERVICE = "otlp-export-test"
SPAN_KIND_CLIENT = 3  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT
CORE = ("gemini.cost.usd", "gemini.tokens", "gemini.requests", "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage")
OURS = re.compile(r"^(gemini|gen_ai|otel_gemini)\.")
# A metrics table row: | `otel.name` (`unit`) | `prometheus_name` | type, ... |
_DOC_ROW = re.compile(r"^\| `([a-z0-9_.]+)` \(`([^`]+)`\) \| `[a-z0-9_]+` \| (counter|gauge|histogram)\b", re.M)

# Hand-computed costs, gemini-2.5-flash standard tier ($0.30 / 1M input tokens, $2.50 / 1M output tokens):
#   call 1 (generate_content): 1,000 × 0.30/1M = $0.00030 input + 500 × 2.50/1M = $0.00125 output = $0.00155
#   call 2 (stream):             100 × 0.30/1M = $0.00003 input +  40 × 2.50/1M = $0.00010 output = $0.00013
#   call 3 (count_tokens) and call 4 (429): $0, unbilled
#   total: input $0.00033 + output $0.00135 = $0.00168
COST_CALL_1, COST_CALL_2 = 0.00155, 0.00013
COST_INPUT, COST_OUTPUT, COST_TOTAL = 0.00033, 0.00135, 0.00168


def documented_metrics() -> dict[str, tuple[str, str]]:
    """docs/metrics.md's OTel names → (unit, type), read from its tables."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    table = {name: (unit, kind) for name, unit, kind in _DOC_ROW.findall(text)}
    assert len(table) >= 20, f"docs/metrics.md's tables no longer parse: {sorted(table)}"
    return table


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as server:
        yield server


def run_app(fake: FakeGemini, receiver: OTLPReceiver, protocol: str) -> subprocess.CompletedProcess[str]:
    """The app in a fresh process; its environment has no OTEL_* but the standard ones set here."""
    fake.push(
        Reply(body=response("x", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))),
        Reply(chunks=stream(["a", "b"], model_version=MODEL, final_usage=usage(prompt=100, candidates=40))),
        Reply(status=429, body=quota_exceeded(model=MODEL)),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GOOGLE_", "GEMINI_"))}
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint(protocol),
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",  # ms
        "OTEL_SERVICE_NAME": SERVICE,
        "GEMINI_API_KEY": "test-key-otlp",
        "GOOGLE_GEMINI_BASE_URL": fake.base_url,
    })
    return subprocess.run([sys.executable, str(APP)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)


def total(points: list[MetricPoint], **attrs: str) -> float:
    """Sum of the (latest) points whose attributes include ``attrs``."""
    return sum(p.value for p in points if all(p.attributes.get(k) == v for k, v in attrs.items()))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_push_from_standard_variables(fake: FakeGemini, receiver: OTLPReceiver, protocol: str) -> None:
    receiver.clear()
    started = time.monotonic()
    result = run_app(fake, receiver, protocol)
    assert result.returncode == 0, result.stderr
    assert "Failed to export" not in result.stderr, result.stderr
    assert [(r.action, r.model) for r in fake.requests] == [
        ("generateContent", MODEL), ("streamGenerateContent", MODEL), ("countTokens", MODEL),
        ("generateContent", MODEL),
    ]
    # The app has exited, so its atexit flush is done; the waits only bound a slow receiver thread.
    receiver.wait_for_span(f"count_tokens {MODEL}", timeout=5)
    receiver.wait_for_metric("gemini.cost.usd", timeout=5)
    assert {r.transport for r in receiver.requests()} == {protocol}
    # One export per OTEL_METRIC_EXPORT_INTERVAL while the app lingers, and the last one at exit.
    assert len(receiver.requests("metrics")) >= 2

    # --- spans ---------------------------------------------------------------------------------------------------
    spans = [s for s in receiver.spans() if s.scope == "otel_gemini"]
    assert all(s.resource["service.name"] == SERVICE for s in spans)
    assert sorted(s.name for s in spans) == sorted([f"generate_content {MODEL}"] * 3 + [f"count_tokens {MODEL}"])
    by_input = {s.attributes.get("gen_ai.usage.input_tokens"): s for s in spans}
    first = by_input[1000].attributes
    assert by_input[1000].kind == SPAN_KIND_CLIENT
    assert first["gen_ai.operation.name"] == "generate_content"
    assert first["gen_ai.provider.name"] == "gcp.gemini"
    assert first["gen_ai.request.model"] == first["gen_ai.response.model"] == MODEL
    assert first["gen_ai.usage.output_tokens"] == 500
    assert first["server.address"] == "127.0.0.1"
    assert first["gen_ai.usage.cost.amount"] == COST_CALL_1  # $0.00155, computed above
    assert first["gen_ai.usage.cost.currency"] == "USD"
    assert first["gen_ai.usage.cost.source"] == "local"
    assert float(first["gemini.cost.usd_exact"]) == COST_CALL_1
    streamed = by_input[100].attributes
    assert streamed["gen_ai.request.stream"] is True
    assert streamed["gen_ai.usage.cost.amount"] == COST_CALL_2  # $0.00013, computed above
    [failed] = [s for s in spans if s.attributes.get("error.type") == "429"]
    # Google bills nothing for a failed call: $0 and "unbilled" (only an unpriced call goes without a cost).
    assert failed.attributes["gen_ai.usage.cost.amount"] == 0.0
    assert failed.attributes["gemini.pricing.status"] == "unbilled"
    assert failed.attributes["gemini.quota.violations"] == ("GenerateRequestsPerDayPerProjectPerModel-FreeTier",)

    # --- metrics: names, units and types exactly as docs/metrics.md ---------------------------------------------
    docs = documented_metrics()
    points = receiver.metric_points(latest=True)
    ours = [p for p in points if OURS.match(p.name)]
    assert {p.scope for p in ours} == {"otel_gemini"}
    received = {p.name: (p.unit, p.type) for p in ours}
    undocumented = {name: unit_type for name, unit_type in received.items() if docs.get(name) != unit_type}
    assert not undocumented, f"received but not documented with this unit/type: {undocumented}"
    assert set(CORE) <= set(received), sorted(set(CORE) - set(received))
    # --- and the Prometheus names a Collector (or Prometheus's OTLP receiver) makes of them: the documented ones,
    # so recording rules and alerts fire on OTLP-fed Prometheus too (issue 16; tests/_fakes/otlp_names.py).
    contract = {m.otel_name: m.prometheus_name for m in semconv.COUNTERS + semconv.HISTOGRAMS + semconv.GAUGES}
    renamed = {name: collector_prometheus_name(name, unit, kind) for name, (unit, kind) in received.items()}
    assert {n: p for n, p in renamed.items() if p != contract[n]} == {}
    budget = (semconv.PACIFIC_CALENDAR, semconv.PACIFIC_MONTH_END, semconv.SPEND_LIMIT, semconv.PRICE_TABLE_CHECKED)
    assert {m.otel_name for m in budget} <= set(received)
    assert all(p.attributes.get("gemini.project") == "default" for p in ours)
    assert all(p.resource["service.name"] == SERVICE for p in ours)

    cost = receiver.metric_points("gemini.cost.usd", latest=True)
    assert total(cost) == pytest.approx(COST_TOTAL, abs=1e-12)  # $0.00168, computed above
    assert total(cost, **{"gemini.cost.type": "input"}) == pytest.approx(COST_INPUT, abs=1e-12)
    assert total(cost, **{"gemini.cost.type": "output"}) == pytest.approx(COST_OUTPUT, abs=1e-12)
    assert all(p.attributes["gen_ai.request.model"] == MODEL for p in cost)

    tokens = receiver.metric_points("gemini.tokens", latest=True)
    assert total(tokens, **{"gen_ai.token.type": "input"}) == 1000 + 100
    assert total(tokens, **{"gen_ai.token.type": "output"}) == 500 + 40

    requests = receiver.metric_points("gemini.requests", latest=True)
    assert total(requests, **{"gen_ai.operation.name": "generate_content", "gemini.pricing.status": "priced"}) == 2
    assert total(requests, **{"gen_ai.operation.name": "generate_content", "error.type": "429"}) == 1
    assert total(requests, **{"gen_ai.operation.name": "count_tokens", "gemini.pricing.status": "unbilled"}) == 1

    duration = receiver.metric_points("gen_ai.client.operation.duration", latest=True)
    assert total(duration, **{"gen_ai.operation.name": "generate_content"}) == 3  # observation counts
    assert total(duration, **{"gen_ai.operation.name": "count_tokens"}) == 1
    usage_points = receiver.metric_points("gen_ai.client.token.usage", latest=True)
    [input_usage] = [p for p in usage_points if p.attributes["gen_ai.token.type"] == "input"
                     and p.attributes["gen_ai.operation.name"] == "generate_content"]
    assert (input_usage.value, input_usage.sum) == (2, 1000 + 100)
    assert total(receiver.metric_points("gen_ai.client.operation.time_to_first_chunk", latest=True)) == 1
    assert total(receiver.metric_points("gemini.quota.exceeded", latest=True)) == 1
    print(f"{protocol}: app + export in {time.monotonic() - started:.2f} s, {len(received)} metrics received")


def test_receiver_decodes_otlp_json_and_gzip(receiver: OTLPReceiver) -> None:
    """The transports no Python exporter sends by default: OTLP/JSON (hex ids) and gzip-compressed protobuf."""
    import gzip
    import json
    import urllib.request

    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    receiver.clear()
    trace_id, span_id = bytes(range(16)), bytes(range(8))
    spans = ExportTraceServiceRequest()
    span = spans.resource_spans.add().scope_spans.add().spans.add(name="json span", trace_id=trace_id, span_id=span_id)
    span.attributes.add(key="gen_ai.usage.cost.amount").value.double_value = COST_CALL_1
    body = json_format.MessageToDict(spans)
    wire = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    wire.update(traceId=trace_id.hex(), spanId=span_id.hex())  # OTLP/JSON: ids in hex, not protobuf's base64
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add(scope={"name": "otel_gemini"}).metrics.add(
        name="gemini.requests", unit="{request}")
    metric.sum.is_monotonic = True
    metric.sum.data_points.add(as_int=7, time_unix_nano=1)

    def post(path: str, data: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(f"{receiver.http_endpoint}{path}", data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)

    assert post("/v1/traces", json.dumps(body).encode(), {"Content-Type": "application/json"}) == 200
    assert post("/v1/metrics", gzip.compress(metrics.SerializeToString()),
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}) == 200
    received = receiver.wait_for_span("json span", timeout=5)
    assert (received.span.trace_id, received.span.span_id, received.transport) == (trace_id, span_id, "http/json")
    assert received.attributes == {"gen_ai.usage.cost.amount": COST_CALL_1}
    [point] = receiver.wait_for_metric("gemini.requests", timeout=5)
    assert (point.value, point.unit, point.type, point.transport) == (7.0, "{request}", "counter", "http/protobuf")


def test_standard_exporter_variables_are_honoured() -> None:
    """OTEL_TRACES_EXPORTER=none (or another exporter) keeps otel-gemini from installing an OTLP pipeline."""
    from otel_gemini.exporters.otlp import _endpoint_configured

    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert _endpoint_configured("TRACES", endpoint)
    assert not _endpoint_configured("TRACES", {**endpoint, "OTEL_TRACES_EXPORTER": "none"})
    assert not _endpoint_configured("METRICS", {**endpoint, "OTEL_METRICS_EXPORTER": "prometheus"})
    assert _endpoint_configured("METRICS", {**endpoint, "OTEL_METRICS_EXPORTER": "console,otlp"})
    assert not _endpoint_configured("METRICS", {})


def test_rules_evaluate_on_series_that_came_over_otlp(fake: FakeGemini, receiver: OTLPReceiver, tmp_path: Path) -> None:
    """promtool runs prometheus/rules.yaml and alerts.yaml on the app's OTLP export as a Collector would write it
    to Prometheus (names by tests/_fakes/otlp_names.py, attributes' dots as underscores, job = service.name): the
    calendar, month-spend and spend-limit rules the budget alerts read find their series (issue 16)."""
    import json

    from tests.conftest import require_tool

    promtool = require_tool("promtool")
    receiver.clear()
    result = run_app(fake, receiver, "grpc")
    assert result.returncode == 0, result.stderr
    receiver.wait_for_metric("gemini.cost.usd", timeout=5)
    points = [p for p in receiver.metric_points(latest=True) if OURS.match(p.name) and p.type != "histogram"]
    series = []
    for point in points:
        labels = {semconv.prometheus_label(k): str(v) for k, v in point.attributes.items()}
        labels.update(job=str(point.resource["service.name"]), instance="otlp")
        name = collector_prometheus_name(point.name, point.unit, point.type)
        selector = name + "{" + ",".join(f'{k}={json.dumps(v)}' for k, v in sorted(labels.items())) + "}"
        series.append({"series": selector, "values": f"{point.value!r}x30"})

    def value(otel_name: str, **attrs: str) -> float:
        [found] = [p.value for p in points if p.name == otel_name
                   and all(p.attributes.get(k) == v for k, v in attrs.items())]
        return found

    [calendar] = [p.attributes for p in points if p.name == semconv.PACIFIC_CALENDAR.otel_name]
    day, month = calendar["gemini.pacific_day"], calendar["gemini.pacific_month"]
    project = {"gemini_project": "default"}
    tests = [
        ("project:gemini_pacific_calendar:current",
         {**project, "gemini_pacific_day": day, "gemini_pacific_month": month}, 1.0),
        ("project:gemini_cost_usd:pacific_month", project, COST_TOTAL),  # $0.00168, computed at the top
        ("project:gemini_spend_limit_usd:billing_tier_month", project,
         value(semconv.SPEND_LIMIT.otel_name,
               **{"gemini.spend.window": "month", "gemini.spend.scope": "billing_tier"})),
    ]
    unit_test = {
        "rule_files": [str(ROOT / "prometheus" / "rules.yaml"), str(ROOT / "prometheus" / "alerts.yaml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m", "input_series": series,
            "promql_expr_test": [
                {"expr": expr, "eval_time": "10m", "exp_samples": [{"labels": expr + "{" + ",".join(
                    f'{k}="{v}"' for k, v in sorted(labels.items())) + "}", "value": expected}]}
                for expr, labels, expected in tests
            ],
        }],
    }
    path = tmp_path / "otlp_test.yaml"
    path.write_text(json.dumps(unit_test), encoding="utf-8")  # JSON is YAML
    checked = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
