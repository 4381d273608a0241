"""Smoke tests: the fake must be indistinguishable from Gemini for the real google-genai client (2.x and 3.x)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors, types

from otel_gemini.testing import FakeGemini, Reply, error, quota_exceeded, response, stream, usage, vertex_client_kwargs

MODEL = "gemini-2.5-flash"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return genai.Client(api_key="fake-key-not-real", http_options=types.HttpOptions(base_url=fake.base_url))


def test_generate_returns_pushed_text_and_usage(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(body=response("hello", usage_metadata=usage(prompt=40, candidates=7, thoughts=3, cached=10))))
    result = client.models.generate_content(model=MODEL, contents="hi")
    assert result.text == "hello"
    meta = result.usage_metadata
    assert meta is not None
    assert (meta.prompt_token_count, meta.candidates_token_count, meta.thoughts_token_count) == (40, 7, 3)
    assert meta.cached_content_token_count == 10 and meta.total_token_count == 50
    assert result.model_version == MODEL and result.response_id == "fake-resp-1"
    [rec] = fake.requests
    assert (rec.method, rec.model, rec.action) == ("POST", MODEL, "generateContent")
    assert rec.headers["x-goog-api-key"] == "fake-key-not-real"
    assert rec.body["contents"][0]["parts"][0]["text"] == "hi"


def test_default_responder_and_unknown_route(fake: FakeGemini, client: genai.Client) -> None:
    result = client.models.generate_content(model="gemini-x", contents="a" * 40)
    assert result.text == "ok" and result.model_version == "gemini-x"
    assert result.usage_metadata is not None and result.usage_metadata.prompt_token_count == 10
    assert "".join(c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="x")) == "ok"
    assert client.models.count_tokens(model=MODEL, contents="a" * 80).total_tokens == 20
    with pytest.raises(errors.ClientError) as info:
        client.models.get(model=MODEL)
    assert info.value.code == 404


def test_stream_yields_all_chunks_and_running_usage(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(chunks=stream(["a", "b", "c"], final_usage=usage(prompt=10, candidates=9, thoughts=2))))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    assert [c.text for c in chunks] == ["a", "b", "c"]
    assert [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata] == [3, 6, 9]
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.total_token_count == 21
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert fake.requests[0].action == "streamGenerateContent" and fake.requests[0].query == {"alt": "sse"}



def test_a_route_answers_a_stream_when_nothing_is_queued(fake: FakeGemini, client: genai.Client) -> None:
    """route() promises routes answer when no Reply is queued; streams included (a Reply with chunks, a body as a
    one-chunk stream, or an error status before the stream starts). A queued Reply still wins."""
    fake.route(r"POST .*/models/gemini-chunks:streamGenerateContent",
               lambda rec: Reply(chunks=stream(["r", "o", "u", "t", "e"], model_version="gemini-chunks")))
    fake.route(r"POST .*/models/gemini-body:streamGenerateContent",
               lambda rec: (200, response("whole", model_version="gemini-body")))
    fake.route(r"POST .*/models/gemini-busy:streamGenerateContent",
               lambda rec: (429, quota_exceeded(retry_delay="3s")))
    assert [c.text for c in client.models.generate_content_stream(model="gemini-chunks", contents="x")] == list("route")
    [only] = list(client.models.generate_content_stream(model="gemini-body", contents="x"))
    assert only.text == "whole" and only.model_version == "gemini-body"
    with pytest.raises(errors.ClientError) as info:
        list(client.models.generate_content_stream(model="gemini-busy", contents="x"))
    assert info.value.code == 429
    fake.push(Reply(chunks=stream(["queued"])))
    assert [c.text for c in client.models.generate_content_stream(model="gemini-chunks", contents="x")] == ["queued"]
    assert "".join(c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="x")) == "ok"

@pytest.mark.asyncio
async def test_async_generate(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(body=response("async hello")))
    result = await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert result.text == "async hello"


@pytest.mark.asyncio
async def test_async_stream(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(chunks=stream(["x", "y"], final_usage=usage(prompt=5, candidates=4)), chunk_delay_s=0.01))
    texts = [c.text async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="hi")]
    assert texts == ["x", "y"]


def test_429_raises_client_error(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(status=429, body=quota_exceeded(retry_delay="12s")))
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"} in info.value.details["error"][
        "details"
    ]


def test_500_raises_server_error(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(status=500, body=error(500, "INTERNAL", "boom")))
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=MODEL, contents="hi")
    assert info.value.code == 500


def test_cut_stream_makes_iteration_raise(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(chunks=stream(["a", "b", "c"]), cut_after_chunks=1))
    seen: list[str | None] = []
    with pytest.raises(Exception) as info:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
            seen.append(chunk.text)
    assert seen == ["a"]
    assert type(info.value).__name__ == "RemoteProtocolError"  # httpx (2.x line) or httpx2 (3.x line)


def test_service_tier_header_visible(fake: FakeGemini, client: genai.Client) -> None:
    fake.push(Reply(body=response(usage_metadata=usage(service_tier="flex")),
                    headers={"x-gemini-service-tier": "flex"}))
    result = client.models.generate_content(model=MODEL, contents="hi")
    assert result.sdk_http_response is not None and result.sdk_http_response.headers is not None
    assert result.sdk_http_response.headers["x-gemini-service-tier"] == "flex"


def test_automatic_function_calling_makes_two_requests(fake: FakeGemini, client: genai.Client) -> None:
    def get_weather(city: str) -> str:
        """Returns the weather in a city."""
        return f"sunny in {city}"

    fake.push(
        Reply(body=response(function_call={"name": "get_weather", "args": {"city": "Paris"}})),
        Reply(body=response("It is sunny in Paris.")),
    )
    result = client.models.generate_content(
        model=MODEL, contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert result.text == "It is sunny in Paris."
    assert len(fake.requests) == 2
    sent = fake.requests[1].body["contents"][-1]["parts"][0]["functionResponse"]
    assert sent["name"] == "get_weather" and "sunny in Paris" in str(sent["response"])


def test_vertex_client_works_offline(fake: FakeGemini) -> None:
    vertex = genai.Client(**vertex_client_kwargs(fake))
    assert vertex.models.generate_content(model=MODEL, contents="hi").text == "ok"
    [rec] = fake.requests
    assert rec.path.endswith(f"/projects/p/locations/us-central1/publishers/google/models/{MODEL}:generateContent")
    assert rec.headers["authorization"] == "Bearer fake-token"
