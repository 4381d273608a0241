"""Shared fixtures: one fake Gemini endpoint per session, real clients, and in-memory OTel pipelines.

Nothing here mocks the SDK: clients talk HTTP to otel_gemini.testing.FakeGemini on loopback.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

import otel_gemini
from otel_gemini import _guard
from otel_gemini.testing import FakeGemini

# Obviously fake, and distinctive enough to search every exported byte for.
API_KEY = "test-key-DO-NOT-LEAK-7f3c9a"


@pytest.fixture(scope="session", autouse=True)
def _private_prices_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read a developer's ~/.cache/otel-gemini/prices: an installed table there would change every price.

    Set in os.environ (not monkeypatch) before any instrument(), so subprocesses the tests start inherit it too.
    """
    previous = os.environ.get("OTEL_GEMINI_PRICES_CACHE_DIR")
    os.environ["OTEL_GEMINI_PRICES_CACHE_DIR"] = str(tmp_path_factory.mktemp("prices-cache"))
    yield
    if previous is None:
        os.environ.pop("OTEL_GEMINI_PRICES_CACHE_DIR", None)
    else:
        os.environ["OTEL_GEMINI_PRICES_CACHE_DIR"] = previous


def require_tool(name: str) -> str:
    """A system tool the test needs: skip where it is missing, but fail under CI so CI never goes green by skipping."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_fake(fake: FakeGemini) -> None:
    fake.clear()
    _guard.forget_warnings()  # each test's "named once" starts from a fresh family budget


@dataclass
class Telemetry:
    spans_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    instrumentor: Any
    tracer_provider: Any = None

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self) -> ReadableSpan:  # noqa
        spans = [s for s in self.spans() if s.instrumentation_scope.name == "otel_gemini"]
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def prom(self, name: str, **labels: str) -> float:
        """Sum of the Prometheus samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for metric in REGISTRY.collect():
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def exact(self, prometheus_name: str, **labels: str) -> Decimal:
        """The recorder's exact Decimal sum of a counter's series whose Prometheus labels include ``labels``."""
        from otel_gemini import semconv

        metric = next(m for m in semconv.COUNTERS if m.prometheus_name == prometheus_name)
        recorder = self.instrumentor.telemetry.recorder
        names = [semconv.prometheus_label(label) for label in recorder.labels_of(metric)]
        total = Decimal(0)
        for key, value in recorder.counters[metric].items():
            row = dict(zip(names, key, strict=False))
            if all(row.get(k) == v for k, v in labels.items()):
                total += Decimal(value)
        return total

    def otel_points(self, name: str) -> list[Any]:
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Telemetry(exporter, reader, instrumentor, tracer_provider)
    finally:
        otel_gemini.uninstrument()
        meter_provider.shutdown()


@pytest.fixture
def instrument_with() -> Iterator[Any]:
    """instrument() with options, as a user passes them (or sets OTEL_GEMINI_* variables); returns Telemetry."""
    providers: list[MeterProvider] = []

    def make(**options: Any) -> Telemetry:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        providers.append(meter_provider)
        otel_gemini.uninstrument()
        instrumentor = otel_gemini.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, **options)
        return Telemetry(exporter, reader, instrumentor)

    yield make
    otel_gemini.uninstrument()
    for provider in providers:
        provider.shutdown()


def page_sum(page: str, name: str, **labels: str) -> Decimal:
    """Sum of the samples of ``name`` on a Prometheus text page whose labels include ``labels``, exactly."""
    total = Decimal(0)
    for line in page.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += Decimal(match.group(4))
    return total


@pytest.fixture
def client(fake: FakeGemini) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=fake.base_url))
