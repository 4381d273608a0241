"""One name per metric whatever the path (issue 16): /metrics, the OTel Prometheus exporter, OTLP → Collector.

docs/metrics.md promises each metric under one Prometheus name, and the recording rules and alerts read those
names. A team exporting OTLP to a Collector (then Prometheus or Mimir), or running the OTel SDK's own
PrometheusMetricReader, must get the same names, or budget alerts silently never fire. The OTLP half of the proof
(a real app pushing to a real OTLP receiver) is in test_otlp_export.py; the rules it applies are
tests/_fakes/otlp_names.py.
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import otel_gemini
from otel_gemini import semconv
from otel_gemini.testing import Reply, response, usage
from tests._fakes.otlp_names import collector_prometheus_name

MODEL = "gemini-2.5-flash"
ALL = semconv.COUNTERS + semconv.HISTOGRAMS + semconv.GAUGES
BUDGET_GAUGES = (semconv.PACIFIC_CALENDAR, semconv.PACIFIC_MONTH_END, semconv.SPEND_LIMIT, semconv.PRICE_TABLE_CHECKED)


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.otel_name)
def test_collector_translation_gives_the_documented_name(metric: semconv.MetricDef) -> None:
    assert collector_prometheus_name(metric.otel_name, metric.unit, metric.kind) == metric.prometheus_name


def test_translation_rules_match_the_collectors_own_examples() -> None:
    """The cases the Collector's normalize_name tests pin, so the transcription is not fitted to our names."""
    assert collector_prometheus_name("system.filesystem.usage", "By", "gauge") == "system_filesystem_usage_bytes"
    assert collector_prometheus_name("system.network.io", "By", "counter") == "system_network_io_bytes_total"
    assert collector_prometheus_name("hw.temp", "1", "gauge") == "hw_temp_ratio"
    assert collector_prometheus_name("requests.total", "{request}", "counter") == "requests_total"
    assert collector_prometheus_name("speed", "m/s", "gauge") == "speed_meters_per_second"
    assert collector_prometheus_name("latency_seconds", "s", "histogram") == "latency_seconds"


def test_otel_prometheus_reader_names_and_one_copy(fake, client, caplog: pytest.LogCaptureFixture) -> None:
    """The SDK's PrometheusMetricReader in the app, in prometheus_client's default registry as ours is: every
    otel-gemini family it serves has the documented name, the four budget gauges included, and the page holds one
    copy of each series (ours yields there, with one warning)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    otel_gemini.uninstrument()
    otel_gemini.instrument(meter_provider=provider, spend_cap_usd="100", limits=f"{MODEL}:rpm=1000")
    try:
        fake.push(Reply(body=response("x", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))))
        client.models.generate_content(model=MODEL, contents="hi")
        with caplog.at_level(logging.WARNING, logger="otel_gemini"):
            page = generate_latest(REGISTRY).decode()
        families = list(text_string_to_metric_families(page))
        names = {family.name for family in families}
        samples = [(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if not k.startswith("otel_scope_"))))
                   for family in families for s in family.samples if s.labels.get("gemini_project")]
        doubled = [series for series, count in Counter(samples).items() if count > 1]
        assert not doubled, doubled[:5]
        assert [s for s in samples if s[0] == "gemini_cost_usd_total"], "the OTel reader's copy is missing"
        # The OTel reader's copy is the one served: it labels every sample with its scope.
        assert all(family.samples[0].labels.get("otel_scope_name") == "otel_gemini"
                   for family in families if family.name == "gemini_cost_usd")
        assert sum("PrometheusMetricReader" in r.getMessage() for r in caplog.records) == 1
        documented = {m.prometheus_name.removesuffix("_total") if m.kind == "counter" else m.prometheus_name
                      for m in ALL}
        ours = {name for name in names if name.startswith(("gemini_", "gen_ai_", "otel_gemini_"))}
        assert ours <= documented, sorted(ours - documented)
        assert {m.prometheus_name for m in BUDGET_GAUGES} <= ours
        assert {"gemini_cost_usd", "gemini_tokens", "gen_ai_client_operation_duration_seconds"} <= ours
    finally:
        otel_gemini.uninstrument()
        provider.shutdown()
    # With the reader gone, ours serves the default registry again (never zero copies).
    otel_gemini.instrument()
    try:
        assert "gemini_cost_usd_total" in generate_latest(REGISTRY).decode()
    finally:
        otel_gemini.uninstrument()
