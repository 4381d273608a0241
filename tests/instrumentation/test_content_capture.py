"""OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: nothing by default, then span attributes and/or the
``gen_ai.client.inference.operation.details`` event, in the semconv message shape, capped, never in metrics.

Real google-genai client over real HTTP against FakeGemini. Costs are not the subject here; the one checked
is gemini-2.5-flash at $0.30 / $2.50 per 1M (input / output): 1,000 × 0.30/1M + 200 × 2.50/1M = $0.0008.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import types
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, generate_latest

import otel_gemini
from otel_gemini.instrumentation import content
from otel_gemini.testing import Reply, response, stream, usage
from tests.conftest import API_KEY

MODEL = "gemini-2.5-flash"
PROMPT = "The secret pass phrase is zanzibar-parrot-42"
ANSWER = "Noted: quokka-lantern-17"
SYSTEM = "You are a terse assistant (system-marker-913)"

_log_exporter = InMemoryLogRecordExporter()


def _logger_provider() -> None:
    """The process's global LoggerProvider gets our in-memory exporter (it can be set only once)."""
    provider = _logs.get_logger_provider()
    if not isinstance(provider, LoggerProvider):
        provider = LoggerProvider()
        _logs.set_logger_provider(provider)
    if not getattr(provider, "_otel_gemini_test", False):
        provider.add_log_record_processor(SimpleLogRecordProcessor(_log_exporter))
        provider._otel_gemini_test = True  # type: ignore[attr-defined]


class Captured:
    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        otel_gemini.uninstrument()
        otel_gemini.instrument(tracer_provider=tracer_provider, meter_provider=self.meter_provider, **options)

    def span(self) -> Any:
        [span] = [s for s in self.spans.get_finished_spans() if s.instrumentation_scope.name == "otel_gemini"]
        return span

    def events(self) -> list[Any]:
        records = [getattr(r, "log_record", r) for r in _log_exporter.get_finished_logs()]
        return [r for r in records if r.event_name == content.EVENT_NAME]

    def everything(self) -> str:
        """Every exported byte we can see: spans (JSON), log records, OTel metrics, the Prometheus page."""
        spans = "".join(s.to_json() for s in self.spans.get_finished_spans())
        logs = "".join(repr(getattr(r, "log_record", r).attributes) + repr(getattr(r, "log_record", r).body)
                       for r in _log_exporter.get_finished_logs())
        metrics = self.reader.get_metrics_data().to_json() if self.reader.get_metrics_data() else ""
        return spans + logs + metrics + generate_latest(REGISTRY).decode()


@pytest.fixture
def capture() -> Iterator[Any]:
    _logger_provider()
    _log_exporter.clear()
    made: list[Captured] = []

    def make(**options: Any) -> Captured:
        made.append(Captured(**options))
        return made[-1]

    yield make
    otel_gemini.uninstrument()
    for c in made:
        c.meter_provider.shutdown()


def call(fake: Any, client: Any, text: str = PROMPT) -> Any:
    fake.push(Reply(body=response(ANSWER, model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200))))
    config = types.GenerateContentConfig(system_instruction=SYSTEM)
    return client.models.generate_content(model=MODEL, contents=text, config=config)


def test_default_captures_nothing_anywhere(fake, client, capture) -> None:
    captured = capture()
    assert call(fake, client).text == ANSWER
    attrs = captured.span().attributes
    assert not {content.INPUT, content.OUTPUT, content.SYSTEM} & set(attrs)
    assert attrs["gemini.cost.usd_exact"] == "0.0008"  # 1,000 × 0.30/1M + 200 × 2.50/1M
    assert captured.events() == []
    seen = captured.everything()
    for secret in (PROMPT, ANSWER, "system-marker-913", API_KEY, "gen_ai.input.messages"):
        assert secret not in seen


def test_unknown_value_means_no_content(fake, client, capture) -> None:
    captured = capture(capture_content="true")  # the pre-semconv spelling: the OTel util also reads it as NO_CONTENT
    call(fake, client)
    assert content.INPUT not in captured.span().attributes and captured.events() == []


def test_span_only_puts_semconv_json_on_the_span(fake, client, capture) -> None:
    captured = capture(capture_content="SPAN_ONLY")
    call(fake, client)
    attrs = captured.span().attributes
    assert json.loads(attrs[content.INPUT]) == [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    assert json.loads(attrs[content.SYSTEM]) == [{"type": "text", "content": SYSTEM}]
    assert json.loads(attrs[content.OUTPUT]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}]
    assert captured.events() == []
    seen = captured.everything()
    assert API_KEY not in seen
    metrics_only = captured.reader.get_metrics_data().to_json() + generate_latest(REGISTRY).decode()
    assert PROMPT not in metrics_only and ANSWER not in metrics_only


def test_cap_truncates_with_a_marker_and_keeps_json_valid(fake, client, capture) -> None:
    captured = capture(capture_content="SPAN_ONLY", content_max_length=300)
    call(fake, client, text="x" * 5000)
    value = captured.span().attributes[content.INPUT]
    assert len(value) <= 300
    [message] = json.loads(value)
    text = message["parts"][0]["content"]
    assert text.startswith("xxx") and "[truncated" in text and text.count("x") < 300


def test_event_only_emits_the_details_event_not_span_attributes(fake, client, capture) -> None:
    captured = capture(capture_content="EVENT_ONLY")
    call(fake, client)
    span = captured.span()
    assert content.INPUT not in span.attributes
    [event] = captured.events()
    assert json.loads(event.attributes[content.INPUT])[0]["parts"][0]["content"] == PROMPT
    assert json.loads(event.attributes[content.OUTPUT])[0]["parts"][0]["content"] == ANSWER
    assert event.attributes["gen_ai.operation.name"] == "generate_content"
    assert event.attributes["gen_ai.request.model"] == MODEL
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id


def test_span_and_event_does_both(fake, client, capture) -> None:
    captured = capture(capture_content="span_and_event")
    call(fake, client)
    assert content.OUTPUT in captured.span().attributes
    [event] = captured.events()
    assert event.attributes[content.SYSTEM] == captured.span().attributes[content.SYSTEM]
    assert API_KEY not in captured.everything()


def test_stream_output_is_the_joined_text(fake, client, capture) -> None:
    captured = capture(capture_content="SPAN_ONLY")
    fake.push(Reply(chunks=stream(["quokka-", "lantern", "-17"], final_usage=usage(prompt=10, candidates=6))))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert "".join(c.text for c in chunks) == "quokka-lantern-17"
    [message] = json.loads(captured.span().attributes[content.OUTPUT])
    assert message["parts"] == [{"type": "text", "content": "quokka-lantern-17"}]
    assert message["role"] == "assistant"


def test_tool_calls_and_blobs_are_shaped_without_bytes(fake, client, capture) -> None:
    captured = capture(capture_content="SPAN_ONLY")
    fake.push(Reply(body=response(function_call={"name": "lookup", "args": {"city": "Oslo"}},
                                  usage_metadata=usage(prompt=10, candidates=3))))
    picture = types.Part.from_bytes(data=b"\x89PNG-secret-bytes", mime_type="image/png")
    client.models.generate_content(
        model=MODEL, contents=[types.Content(role="user", parts=[types.Part(text="what is this?"), picture])],
        config=types.GenerateContentConfig(automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)),
    )
    attrs = captured.span().attributes
    [user] = json.loads(attrs[content.INPUT])
    assert user["parts"] == [{"type": "text", "content": "what is this?"},
                             {"type": "blob", "mime_type": "image/png", "modality": "image"}]
    assert "secret-bytes" not in attrs[content.INPUT] and "iVBOR" not in attrs[content.INPUT]
    [answer] = json.loads(attrs[content.OUTPUT])
    assert answer["parts"] == [{"type": "tool_call", "name": "lookup", "arguments": {"city": "Oslo"}}]
