"""count_tokens / compute_tokens and the Files API through the real client: spans and request counts, never a cost.

Neither is billed (billing reference §2.12: "Requests to the GetTokens API are not billed"; the Files API is free),
so every call is counted ``unbilled`` with no cost or token series: expected cost $0 by definition, not by pricing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from otel_gemini import semconv
from otel_gemini.testing import FakeGemini, Reply, vertex_client_kwargs
from otel_gemini.testing.embeddings import compute_tokens_response, count_tokens_response, install

MODEL = "gemini-2.5-flash"


def assert_no_cost(telemetry: Any) -> None:
    recorder = telemetry.instrumentor.telemetry.recorder
    assert recorder.counters[semconv.COST] == {} and recorder.counters[semconv.TOKENS] == {}
    assert recorder.histograms[semconv.TOKEN_USAGE] == {}


@pytest.mark.parametrize("is_async", [False, True])
async def test_count_tokens_is_unbilled_with_its_total_on_the_span(fake, client, telemetry, is_async: bool) -> None:
    fake.push(Reply(body=count_tokens_response(42), route=r":countTokens$"))
    models = client.aio.models if is_async else client.models
    result = models.count_tokens(model=MODEL, contents="how many tokens is this?")
    result = await result if is_async else result
    assert type(result) is types.CountTokensResponse and result.total_tokens == 42

    span = telemetry.span()
    assert span.name == f"count_tokens {MODEL}"
    assert span.attributes["gemini.count_tokens.total"] == 42
    assert span.attributes["gemini.pricing.status"] == "unbilled"
    assert "gen_ai.usage.input_tokens" not in span.attributes  # a count of the input, not tokens used
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="count_tokens", gen_ai_request_model=MODEL,
                          gemini_pricing_status="unbilled") == 1
    assert_no_cost(telemetry)


def test_count_tokens_error_reraised_unchanged(fake, client, telemetry) -> None:
    fake.push(Reply(status=400, route=r":countTokens$"))
    with pytest.raises(errors.ClientError) as raised:
        client.models.count_tokens(model=MODEL, contents="x")
    assert type(raised.value) is errors.ClientError and raised.value.code == 400
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="count_tokens", error_type="400",
                          gemini_pricing_status="unbilled") == 1
    assert "gemini.count_tokens.total" not in telemetry.span().attributes


@pytest.mark.parametrize("is_async", [False, True])
async def test_compute_tokens_on_vertex(fake, telemetry, is_async: bool) -> None:
    vertex = genai.Client(**vertex_client_kwargs(fake))
    fake.push(Reply(body=compute_tokens_response([3, 2]), route=r":computeTokens$"))
    models = vertex.aio.models if is_async else vertex.models
    result = models.compute_tokens(model=MODEL, contents=["abc", "de"])
    result = await result if is_async else result
    assert [len(info.token_ids) for info in result.tokens_info] == [3, 2]
    span = telemetry.span()
    assert span.attributes["gemini.count_tokens.total"] == 5
    assert span.attributes["gemini.pricing.status"] == "unbilled"
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="compute_tokens",
                          gen_ai_provider_name="gcp.vertex_ai", gemini_pricing_status="unbilled") == 1
    assert_no_cost(telemetry)


# -- files ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files_fake() -> Iterator[FakeGemini]:
    """A fake of this module's own with the Files API routes (resumable upload included)."""
    with FakeGemini() as server:
        install(server)
        yield server


@pytest.fixture
def files_client(files_fake: FakeGemini) -> Any:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=files_fake.base_url))


def _ops(telemetry: Any) -> list[str]:
    return [s.name for s in telemetry.spans() if s.instrumentation_scope.name == "otel_gemini"]


def test_file_lifecycle_sync(files_fake, files_client, telemetry) -> None:
    uploaded = files_client.files.upload(file=io.BytesIO(b"hello, file"), config={"mime_type": "text/plain"})
    assert type(uploaded) is types.File and uploaded.size_bytes == 11
    assert files_client.files.get(name=uploaded.name).name == uploaded.name
    assert [f.name for f in files_client.files.list()] == [uploaded.name]
    data = files_client.files.download(file=uploaded.name)
    assert isinstance(data, bytes) and b"file contents" in data
    files_client.files.delete(name=uploaded.name)

    assert _ops(telemetry) == ["upload_file unknown", "get_file unknown", "list_files unknown",
                               "download_file unknown", "delete_file unknown"]
    upload = telemetry.spans()[0]
    assert upload.attributes["gemini.file.size_bytes"] == 11
    assert upload.attributes["gemini.file.mime_type"] == "text/plain"
    assert all(s.attributes["gemini.pricing.status"] == "unbilled" for s in telemetry.spans())
    for operation in ("upload_file", "get_file", "list_files", "download_file", "delete_file"):
        assert telemetry.prom("gemini_requests_total", gen_ai_operation_name=operation, gen_ai_request_model="unknown",
                              gemini_pricing_status="unbilled") == 1, operation
    # the start request and the single "upload, finalize" chunk of the resumable protocol
    commands = [r.headers.get("x-goog-upload-command") for r in files_fake.requests if r.path.startswith("/upload/")]
    assert commands[-2:] == ["start", "upload, finalize"]
    assert_no_cost(telemetry)


async def test_file_lifecycle_async(files_client, telemetry) -> None:
    files = files_client.aio.files
    uploaded = await files.upload(file=io.BytesIO(b"async bytes"), config={"mime_type": "text/plain"})
    assert (await files.get(name=uploaded.name)).size_bytes == 11
    assert uploaded.name in [f.name async for f in await files.list()]
    assert isinstance(await files.download(file=uploaded.name), bytes)
    await files.delete(name=uploaded.name)
    assert _ops(telemetry) == ["upload_file unknown", "get_file unknown", "list_files unknown",
                               "download_file unknown", "delete_file unknown"]
    assert_no_cost(telemetry)


def test_missing_file_reraises_the_sdks_404(files_client, telemetry) -> None:
    with pytest.raises(errors.ClientError) as raised:
        files_client.files.get(name="files/does-not-exist")
    assert type(raised.value) is errors.ClientError and raised.value.code == 404
    span = telemetry.span()
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "404"
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="get_file", error_type="404",
                          gemini_pricing_status="unbilled") == 1
