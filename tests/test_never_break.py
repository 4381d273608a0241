"""Injected faults inside otel-gemini: the user's call returns what it would have returned, and the fault counts."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import otel_gemini
from otel_gemini.recording import Recorder
from otel_gemini.testing import Reply, response, stream, usage

MODEL = "gemini-2.5-flash"


def _reply() -> Reply:
    return Reply(body=response("hello", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200)))


def _internal_errors(telemetry: Any, component: str) -> float:
    return telemetry.prom("otel_gemini_internal_errors_total", component=component)


def test_corrupt_price_file_falls_back_to_bundled_table(fake, client, tmp_path, caplog) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text('{"models": {"gemini-2.5-flash": {"periods": '
                   '[{"effective_from": "2026-01-01", "standard": {"input": 0.3}}]}}}')
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider(),
                                          prices_path=str(bad))
    try:
        fake.push(_reply())
        result = client.models.generate_content(model=MODEL, contents="hi")
        assert result.text == "hello"
        recorder = instrumentor.telemetry.recorder
        assert recorder.counters[otel_gemini.semconv.INTERNAL_ERRORS] == {("price_table",): 1}
        assert sum(recorder.counters[otel_gemini.semconv.COST].values()) > 0  # priced with the bundled table
        assert any("could not be used" in r.getMessage() for r in caplog.records)
    finally:
        otel_gemini.uninstrument()


class _RaisingMeterProvider(MeterProvider):
    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("meter broken")


def test_meter_that_raises_costs_otel_metrics_not_the_call(fake, client) -> None:
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=TracerProvider(), meter_provider=_RaisingMeterProvider())
    try:
        fake.push(_reply())
        assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
        recorder = instrumentor.telemetry.recorder
        assert recorder.counters[otel_gemini.semconv.INTERNAL_ERRORS] == {("otel_metrics",): 1}
        assert sum(recorder.counters[otel_gemini.semconv.REQUESTS].values()) == 1  # Prometheus side still counts
    finally:
        otel_gemini.uninstrument()


def test_histogram_that_raises_at_record_time(fake, client, telemetry, monkeypatch) -> None:
    """A meter whose instruments raise: replayed points fail inside the SDK's collection, never in the call."""
    bridge = telemetry.instrumentor._bridge

    class Broken:
        def record(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("record broken")

    monkeypatch.setattr(bridge, "_histograms", {metric: Broken() for metric in bridge._histograms})
    fake.push(_reply())
    assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
    telemetry.metric_reader.get_metrics_data()  # the SDK logs the callback failure; nothing propagates
    assert telemetry.prom("gemini_requests_total", gen_ai_request_model=MODEL) == 1


def test_recorder_failure_is_caught_counted_logged_once(fake, client, telemetry, monkeypatch, caplog) -> None:
    def broken(self: Recorder, call: Any) -> None:
        raise ValueError("-".join(("recorder", "broken")))  # built at run time: only the value could leak

    monkeypatch.setattr(Recorder, "record_call", broken)
    for _ in range(3):
        fake.push(_reply())
        result = client.models.generate_content(model=MODEL, contents="hi")
        assert type(result) is types.GenerateContentResponse and result.text == "hello"
    assert len(telemetry.spans()) == 3  # spans still end
    assert telemetry.instrumentor.telemetry.recorder.counters[otel_gemini.semconv.INTERNAL_ERRORS] == {("finish",): 3}
    assert len([r for r in caplog.records if "finish failed" in r.getMessage()]) <= 1
    assert "recorder-broken" not in caplog.text  # messages are not logged: they could quote a request


def test_tracer_that_raises_costs_the_span_not_the_count(fake, client, telemetry, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracer broken")

    monkeypatch.setattr(telemetry.instrumentor.telemetry.tracer, "start_span", broken)
    fake.push(_reply())
    assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
    fake.push(Reply(chunks=stream(["a", "b"], model_version=MODEL)))
    assert [c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")] == ["a", "b"]
    assert telemetry.prom("otel_gemini_internal_errors_total", component="span") == 2
    assert telemetry.prom("gemini_requests_total") == 2  # metrics do not depend on the tracing pipeline


def test_garbage_usage_is_caught(fake, client, telemetry) -> None:
    fake.push(Reply(body=response("hello", model_version=MODEL, usage_metadata={
        "promptTokenCount": 10, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}],
        "totalTokenCount": 10, "candidatesTokenCount": 0,
    })))
    assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
    assert len(telemetry.spans()) == 1


def test_exceptions_are_the_sdks_own(fake, client, telemetry) -> None:
    from google.genai import errors

    from otel_gemini.testing import error

    fake.push(Reply(status=400, body=error(400, "INVALID_ARGUMENT", "bad request")))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert raised.value.code == 400 and raised.value.message == "bad request"
    assert not any("otel_gemini" in (frame.filename or "") and "raise" in (frame.line or "")
                   for frame in __import__("traceback").extract_tb(raised.value.__traceback__)[-1:])
