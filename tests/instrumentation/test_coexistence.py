"""Beside the official OTel google-genai instrumentation and OpenLLMetry's: one span per call, one cost.

Both peers wrap ``Models.generate_content*`` with wrapt, as we do; the test instruments in both orders and
checks the story in docs/coexistence.md (``OTEL_GEMINI_SPANS=auto``): the peer's span is the call's span, our
cost goes on it when it is the current span (official), our metrics count the call exactly once.

Cost: gemini-2.5-flash, 1,000 × $0.30/1M + 200 × $2.50/1M = $0.0003 + $0.0005 = $0.0008 per call.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_gemini
from otel_gemini.testing import Reply, response, stream, usage

MODEL = "gemini-2.5-flash"
OFFICIAL = ("opentelemetry.instrumentation.google_genai", "GoogleGenAiSdkInstrumentor")
OPENLLMETRY = ("opentelemetry.instrumentation.google_generativeai", "GoogleGenerativeAiInstrumentor")


def peer_instrumentor(which: tuple[str, str]) -> Any:
    module = pytest.importorskip(which[0])
    return getattr(module, which[1])()


class Both:
    """Our instrumentation and one peer's, instrumented in a given order, on one tracer/meter provider."""

    def __init__(self, peer: Any, ours_first: bool, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.peer = peer
        self.order: list[str] = []
        otel_gemini.uninstrument()
        for name in ("ours", "peer") if ours_first else ("peer", "ours"):
            if name == "ours":
                self.ours = otel_gemini.instrument(
                    tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options)
            else:  # the official one declares google-genai < 3: tried on 3.x anyway, to see the nesting
                peer.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
                                skip_dep_check=True)
            self.order.append(name)

    def close(self) -> None:
        for name in reversed(self.order):  # the outer wrapper comes off first
            if name == "ours":
                otel_gemini.uninstrument()
            else:
                self.peer.uninstrument()
        self.meter_provider.shutdown()

    def gen_ai_spans(self) -> list[Any]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith("generate_content")]

    def cost(self) -> Decimal:
        from otel_gemini import semconv

        metric = next(m for m in semconv.COUNTERS if m.prometheus_name == "gemini_cost_usd_total")
        return sum((Decimal(v) for v in self.ours.telemetry.recorder.counters[metric].values()), Decimal(0))

    def requests(self) -> int:
        from otel_gemini import semconv

        metric = next(m for m in semconv.COUNTERS if m.prometheus_name == "gemini_requests_total")
        return int(sum(self.ours.telemetry.recorder.counters[metric].values()))


@pytest.fixture
def both() -> Iterator[Any]:
    made: list[Both] = []

    def make(which: tuple[str, str], ours_first: bool, **options: Any) -> Both:
        made.append(Both(peer_instrumentor(which), ours_first, **options))
        return made[-1]

    yield make
    for item in made:
        item.close()
    importlib.import_module("otel_gemini").uninstrument()


def one_call(fake: Any, client: Any) -> None:
    fake.push(Reply(body=response("hi", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200))))
    assert client.models.generate_content(model=MODEL, contents="hello").text == "hi"


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "peer-first"])
def test_official_instrumentation_one_span_carrying_our_cost(fake, client, both, ours_first) -> None:
    pair = both(OFFICIAL, ours_first)
    one_call(fake, client)
    [span] = pair.gen_ai_spans()
    assert span.instrumentation_scope.name == OFFICIAL[0]  # theirs is the call's span, ours is not doubled
    assert span.kind.name == "CLIENT"
    assert span.attributes["gemini.cost.usd_exact"] == "0.0008"
    assert span.attributes["gen_ai.usage.cost.amount"] == pytest.approx(0.0008)
    assert span.attributes["gemini.pricing.status"] == "priced"
    assert pair.cost() == Decimal("0.0008") and pair.requests() == 1


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "peer-first"])
def test_official_instrumentation_streams_too(fake, client, both, ours_first) -> None:
    # 100 × $0.30/1M + 40 × $2.50/1M = $0.00003 + $0.0001 = $0.00013.
    pair = both(OFFICIAL, ours_first)
    fake.push(Reply(chunks=stream(["a", "b"], final_usage=usage(prompt=100, candidates=40))))
    assert "".join(c.text for c in client.models.generate_content_stream(model=MODEL, contents="x")) == "ab"
    [span] = pair.gen_ai_spans()
    assert span.instrumentation_scope.name == OFFICIAL[0]
    assert span.attributes["gemini.cost.usd_exact"] == "0.00013"
    assert pair.cost() == Decimal("0.00013") and pair.requests() == 1


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "peer-first"])
def test_openllmetry_one_span_cost_in_metrics_once(fake, client, both, ours_first) -> None:
    pair = both(OPENLLMETRY, ours_first)
    one_call(fake, client)
    [span] = pair.gen_ai_spans()
    assert span.instrumentation_scope.name == OPENLLMETRY[0]
    assert "gemini.cost.usd_exact" not in span.attributes  # it never makes its span current: out of our reach
    assert pair.cost() == Decimal("0.0008") and pair.requests() == 1


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "peer-first"])
def test_always_keeps_our_own_span_beside_theirs(fake, client, both, ours_first) -> None:
    pair = both(OFFICIAL, ours_first, spans="always")
    one_call(fake, client)
    spans = pair.gen_ai_spans()
    assert sorted(s.instrumentation_scope.name for s in spans) == sorted([OFFICIAL[0], "otel_gemini"])
    [ours] = [s for s in spans if s.instrumentation_scope.name == "otel_gemini"]
    assert ours.attributes["gemini.cost.usd_exact"] == "0.0008"
    assert pair.cost() == Decimal("0.0008") and pair.requests() == 1


def test_never_opens_no_span_of_its_own(fake, client) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    otel_gemini.uninstrument()
    ours = otel_gemini.instrument(tracer_provider=provider, meter_provider=MeterProvider(), spans="never")
    try:
        tracer = provider.get_tracer("app")
        with tracer.start_as_current_span("request handler") as parent:
            one_call(fake, client)
        assert [s.name for s in spans.get_finished_spans()] == ["request handler"]
        assert "gemini.cost.usd_exact" not in parent.attributes  # an app span is not a GenAI span: left alone
        assert ours.telemetry is not None
    finally:
        otel_gemini.uninstrument()


def test_a_user_wrapt_wrapper_is_not_a_peer(fake, client, telemetry) -> None:
    """Only instrumentation packages' wrappers change the span story; a user's own wrapper does not."""
    import wrapt
    from google.genai import models
    from opentelemetry.instrumentation.utils import unwrap

    calls: list[str] = []

    def mine(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append("mine")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(models, "Models.generate_content", mine)
    try:
        one_call(fake, client)
    finally:
        unwrap(models.Models, "generate_content")
    assert calls == ["mine"] and telemetry.span().attributes["gemini.cost.usd_exact"] == "0.0008"


def test_official_embeddings_span_carries_our_cost_when_it_is_outside(fake, client, both) -> None:
    # 10 text tokens × $0.20/1M (gemini-embedding-2) = $0.000002.
    from otel_gemini.testing.embeddings import embed_response, embedding_usage

    pair = both(OFFICIAL, ours_first=True)  # theirs instrumented last: outermost, its span current inside
    fake.push(Reply(body=embed_response(1, dims=4, usage_metadata=embedding_usage(text=10)),
                    route=r":batchEmbedContents$"))
    client.models.embed_content(model="gemini-embedding-2", contents=["a cat"])
    spans = [s for s in pair.spans.get_finished_spans() if s.name.startswith("embeddings")]
    assert [s.instrumentation_scope.name for s in spans] == [OFFICIAL[0]]
    assert spans[0].attributes["gemini.cost.usd_exact"] == "0.000002"
    assert pair.cost() == Decimal("0.000002") and pair.requests() == 1
