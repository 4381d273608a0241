"""Live API (client.aio.live.connect) through the real client over a real TLS websocket (testing/fake_live.py).

Rates per 1M tokens (otel_gemini/pricing/prices.json, pricing page 2026-03):
* gemini-2.5-flash-native-audio-preview-12-2025: input $0.50 text, $3.00 audio/video; output $2.00 text,
  $12.00 audio; thinking at the text output rate.
* gemini-3.1-flash-live-preview: input $0.75 text, $3.00 audio, $1.00 image/video; output $4.50 text, $12.00 audio.
Each turn re-bills the whole session context, and the server's per-turn usage already says so (turn 2's prompt
contains turn 1's prompt and answer); every usage is priced as reported, never diffed.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import wrapt
from conftest import API_KEY
from google import genai
from google.genai import errors, types

from otel_gemini import semconv
from otel_gemini.testing.fake_live import FakeLive, live_turn, live_usage

AUDIO_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
LIVE_31 = "gemini-3.1-flash-live-preview"
OP = "live_session"
PCM_IN = types.Blob(data=b"\x01\x00" * 1600, mime_type="audio/pcm;rate=16000")
PCM_OUT = b"\x02\x00" * 2400


@pytest.fixture(scope="module")
def fake_live() -> Iterator[FakeLive]:
    with FakeLive() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake_live: FakeLive) -> None:
    fake_live.clear()


@pytest.fixture
def live_client(fake_live: FakeLive, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A client that trusts the fake's CA: the SDK reads SSL_CERT_FILE once, when the client is built."""
    monkeypatch.setenv("SSL_CERT_FILE", fake_live.cert_file)
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=fake_live.base_url))


@pytest.fixture
def instrumented(telemetry: Any) -> Iterator[Any]:
    """The fixture's instrumentation, checked afterwards for failures inside otel-gemini."""
    from google.genai.live import AsyncLive

    assert isinstance(AsyncLive.__dict__["connect"], wrapt.FunctionWrapper)
    yield telemetry
    assert not telemetry.instrumentor.telemetry.recorder.counters[semconv.INTERNAL_ERRORS]  # nothing went wrong in ours


def live_spans(telemetry: Any) -> list[Any]:
    return [s for s in telemetry.spans() if s.attributes.get("gen_ai.operation.name") == OP]


def exact_cost(telemetry: Any, operation: str = OP) -> Decimal:
    """The recorder's own Decimal sum (what Prometheus and OTel export, before any float conversion)."""
    counters = telemetry.instrumentor.telemetry.recorder.counters[semconv.COST]
    return sum((value for key, value in counters.items() if key[0] == operation), Decimal(0))


async def one_turn(session: Any, *, audio: bool = True) -> list[types.LiveServerMessage]:
    if audio:
        await session.send_realtime_input(audio=PCM_IN)
        await session.send_realtime_input(audio_stream_end=True)
    else:
        await session.send_client_content(turns=types.Content(role="user", parts=[types.Part(text="hi")]))
    return [message async for message in session.receive()]


# Turn 1: prompt 100 text (system instruction) + 400 audio; answer 50 text + 800 audio.
#   100×0.50 + 400×3.00 + 50×2.00 + 800×12.00 = 50 + 1,200 + 100 + 9,600 = 10,950 /1M = $0.01095
# Turn 2: the context re-billed — prompt 150 text (100 + turn 1's 50) + 1,500 audio (400 + 800 + 300 new);
#   answer 40 text + 600 audio, 20 thinking.
#   150×0.50 + 1,500×3.00 + 40×2.00 + 600×12.00 + 20×2.00 = 75 + 4,500 + 80 + 7,200 + 40 = 11,895 /1M = $0.011895
# Session: $0.01095 + $0.011895 = $0.022845
TURN_1 = live_usage({"TEXT": 100, "AUDIO": 400}, {"TEXT": 50, "AUDIO": 800})
TURN_2 = live_usage({"TEXT": 150, "AUDIO": 1500}, {"TEXT": 40, "AUDIO": 600}, thoughts=20)
BASE = dict(gen_ai_operation_name=OP, gen_ai_provider_name="gcp.gemini", gen_ai_request_model=AUDIO_MODEL)


async def test_two_turn_audio_session_span_tokens_and_exact_cost(fake_live, live_client, instrumented) -> None:
    fake_live.push(live_turn("Hello", audio=PCM_OUT, usage=TURN_1), live_turn("Again", audio=PCM_OUT, usage=TURN_2))
    config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO], temperature=0.5)
    async with live_client.aio.live.connect(model=AUDIO_MODEL, config=config) as session:
        assert type(session).__name__ == "AsyncSession"  # the SDK's own session, not a proxy
        first = await one_turn(session)
        assert not live_spans(instrumented)  # the span lives as long as the session
        second = await one_turn(session)

    # The caller's messages are the SDK's, untouched: text, audio bytes, usage, turn end.
    for messages, text in ((first, "Hello"), (second, "Again")):
        assert [type(m) for m in messages] == [types.LiveServerMessage] * 3
        assert messages[0].text == text and messages[1].data == PCM_OUT
        assert messages[2].server_content.turn_complete is True
    assert first[2].usage_metadata.response_token_count == 850
    assert second[2].usage_metadata.prompt_token_count == 1650
    [wire] = fake_live.sessions
    assert wire.setup["model"] == f"models/{AUDIO_MODEL}" and len(wire.received) == 4

    [span] = live_spans(instrumented)
    assert span.name == f"live_session {AUDIO_MODEL}" and span.kind.name == "CLIENT"
    attrs = span.attributes
    assert attrs["gen_ai.provider.name"] == "gcp.gemini" and attrs["gen_ai.request.model"] == AUDIO_MODEL
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == fake_live.port
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert tuple(attrs["gemini.live.response_modalities"]) == ("audio",)
    assert attrs["gemini.live.turns"] == 2
    assert attrs["gen_ai.usage.input_tokens"] == 500 + 1650
    assert attrs["gen_ai.usage.output_tokens"] == 850 + 640 + 20
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 20
    assert attrs["gen_ai.usage.audio.input_tokens"] == 400 + 1500
    assert attrs["gen_ai.usage.text.input_tokens"] == 100 + 150
    assert attrs["gen_ai.usage.audio.output_tokens"] == 800 + 600
    assert attrs["gen_ai.usage.text.output_tokens"] == 50 + 40 + 20  # thinking counts as text output
    assert attrs["gemini.pricing.status"] == "priced"
    assert Decimal(attrs["gemini.cost.usd_exact"]) == Decimal("0.022845")
    assert "error.type" not in attrs

    assert exact_cost(instrumented) == Decimal("0.022845")
    assert instrumented.prom("gemini_requests_total", **BASE, gemini_pricing_status="priced") == 1
    # Audio in: (400 + 1,500) × 3.00/1M = $0.0057; audio out: (800 + 600) × 12.00/1M = $0.0168.
    assert instrumented.prom("gemini_cost_usd_total", **BASE, gemini_cost_type="input",
                             gen_ai_token_modality="audio") == pytest.approx(0.0057)
    assert instrumented.prom("gemini_cost_usd_total", **BASE, gemini_cost_type="output",
                             gen_ai_token_modality="audio") == pytest.approx(0.0168)
    assert instrumented.prom("gemini_cost_usd_total", **BASE) == pytest.approx(0.022845)
    assert instrumented.prom("gemini_tokens_total", **BASE, gen_ai_token_type="input",
                             gen_ai_token_modality="audio") == 1900
    assert instrumented.prom("gemini_tokens_total", **BASE, gen_ai_token_type="reasoning") == 20
    [cost_point] = [p for p in instrumented.otel_points("gemini.cost.usd")
                    if p.attributes["gemini.cost.type"] == "output"
                    and p.attributes["gen_ai.token.modality"] == "audio"]
    assert cost_point.value == pytest.approx(0.0168)


class Boom(Exception):
    pass


# One turn billed before the caller's own code fails: $0.01095 (turn 1 above).
async def test_exception_inside_session_ends_span_once_and_is_reraised(fake_live, live_client, instrumented) -> None:
    fake_live.push(live_turn("Hello", audio=PCM_OUT, usage=TURN_1))
    boom = Boom("caller failed")
    with pytest.raises(Boom) as raised:
        async with live_client.aio.live.connect(model=AUDIO_MODEL) as session:
            await one_turn(session)
            raise boom
    assert raised.value is boom
    [span] = live_spans(instrumented)
    assert span.attributes["error.type"].endswith("Boom") and span.status.status_code.name == "ERROR"
    assert span.attributes["gemini.live.turns"] == 1
    assert Decimal(span.attributes["gemini.cost.usd_exact"]) == Decimal("0.01095")
    assert exact_cost(instrumented) == Decimal("0.01095")
    assert instrumented.prom("gemini_requests_total", **BASE, error_type=span.attributes["error.type"]) == 1


# 3.1 Flash Live, text in, video frames in, text out; turn 1's usage comes apart, after turnComplete, so the
# caller reads it on the next receive() — it is still billed once, as turn 1.
# Turn 1: 20 text + 258 video in, 30 text out: 20×0.75 + 258×1.00 + 30×4.50 = 15 + 258 + 135 = 408 /1M = $0.000408
# Turn 2: 50 text + 516 video in (turn 1 re-billed + a new frame), 10 text out:
#   50×0.75 + 516×1.00 + 10×4.50 = 37.5 + 516 + 45 = 598.5 /1M = $0.0005985
# Session: $0.0010065
async def test_usage_after_turn_complete_and_video_rates(fake_live, live_client, instrumented) -> None:
    fake_live.push(
        live_turn("one", usage=live_usage({"TEXT": 20, "VIDEO": 258}, {"TEXT": 30}), usage_apart=True),
        live_turn("two", usage=live_usage({"TEXT": 50, "VIDEO": 516}, {"TEXT": 10})),
    )
    frame = types.Blob(data=b"\xff\xd8fake-jpeg\xff\xd9", mime_type="image/jpeg")
    async with live_client.aio.live.connect(model=LIVE_31, config={"response_modalities": ["TEXT"]}) as session:
        await session.send_realtime_input(video=frame)
        first = await one_turn(session, audio=False)
        assert first[-1].usage_metadata is None
        await session.send_realtime_input(video=frame)
        second = await one_turn(session, audio=False)
        assert second[0].usage_metadata.prompt_token_count == 278  # turn 1's usage, read late
    [span] = live_spans(instrumented)
    assert span.attributes["gen_ai.usage.video.input_tokens"] == 258 + 516
    assert Decimal(span.attributes["gemini.cost.usd_exact"]) == Decimal("0.0010065")
    assert exact_cost(instrumented) == Decimal("0.0010065")


# The connection drops after turn 1 ($0.01095): the span ends there, with the SDK's error, not at the exit.
async def test_connection_drop_ends_span_where_it_drops(fake_live, live_client, instrumented) -> None:
    fake_live.push(live_turn("Hello", audio=PCM_OUT, usage=TURN_1, drop=True))
    with pytest.raises(errors.APIError) as raised:
        async with live_client.aio.live.connect(model=AUDIO_MODEL) as session:
            await one_turn(session)
            try:
                await session.receive().__anext__()
            except errors.APIError:
                [span] = live_spans(instrumented)  # already ended, inside the block
                raise
    assert raised.value.code == 1006
    [span] = live_spans(instrumented)
    assert span.attributes["error.type"] == "1006"
    assert Decimal(span.attributes["gemini.cost.usd_exact"]) == Decimal("0.01095")
    assert exact_cost(instrumented) == Decimal("0.01095")


async def test_quiet_session_is_unmetered_and_unknown_model_unpriced(fake_live, live_client, instrumented) -> None:
    async with live_client.aio.live.connect(model=AUDIO_MODEL):
        pass
    async with live_client.aio.live.connect(model="gemini-99-live") as session:
        await one_turn(session, audio=False)  # default turn: 10 text in, 2 text out
    quiet, unknown = live_spans(instrumented)
    assert quiet.attributes["gemini.pricing.status"] == "unmetered"
    assert unknown.attributes["gemini.pricing.status"] == "unpriced"
    assert "gen_ai.usage.cost.amount" not in quiet.attributes and "gen_ai.usage.cost.amount" not in unknown.attributes
    assert unknown.attributes["gen_ai.usage.input_tokens"] == 10
    assert exact_cost(instrumented) == 0


async def test_handshake_failure_ends_span_and_reraises(fake_live, instrumented, monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusting = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=fake_live.base_url))
    with pytest.raises(ssl.SSLCertVerificationError):
        async with untrusting.aio.live.connect(model=AUDIO_MODEL):
            pass  # pragma: no cover
    [span] = live_spans(instrumented)
    assert span.attributes["error.type"] == "ssl.SSLCertVerificationError"
    assert span.attributes["gemini.pricing.status"] == "unbilled"


# Vertex AI (express mode): usage comes as candidatesTokenCount on the wire, the SDK renames it response_token_count.
# Same turn 1 at the same rates (no Vertex-specific Live row; global location: no regional surcharge): $0.01095.
async def test_vertex_express_session(fake_live, live_client, instrumented, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", fake_live.cert_file)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    vertex = genai.Client(vertexai=True, api_key=API_KEY, http_options=types.HttpOptions(base_url=fake_live.base_url))
    fake_live.push(live_turn("Hello", audio=PCM_OUT, usage=TURN_1))
    async with vertex.aio.live.connect(model=AUDIO_MODEL) as session:
        [*_, last] = await one_turn(session)
    assert last.usage_metadata.response_token_count == 850
    assert "LlmBidiService" in fake_live.sessions[0].path
    [span] = live_spans(instrumented)
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["gen_ai.conversation.id"] == "fake-live-1"
    assert span.attributes["gen_ai.usage.audio.output_tokens"] == 800
    assert Decimal(span.attributes["gemini.cost.usd_exact"]) == Decimal("0.01095")


async def test_never_leaks_the_api_key(fake_live, live_client, instrumented) -> None:
    async with live_client.aio.live.connect(model=AUDIO_MODEL) as session:
        await one_turn(session)
    assert fake_live.sessions[0].headers["x-goog-api-key"] == API_KEY  # it was on the wire...
    for span in instrumented.spans():  # ...and nowhere in telemetry
        assert API_KEY not in repr(dict(span.attributes)) and API_KEY not in span.name
