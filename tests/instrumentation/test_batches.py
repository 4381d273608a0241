"""client.batches through the real client over real HTTP: job spans, Batch-rate cost when results are read, gauges.

Hand-computed costs use the Batch tab of the pricing page (2026-03-30; prices.json "batch" rows):
gemini-2.5-flash input $0.15 / output incl. thinking $1.25 per 1M; gemini-embedding-2 text $0.10 per 1M;
gemini-4-argon $1.00 / $5.00 until 2026-12-01, then $2.00 / $10.00.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

import pytest
from google.genai import errors, types

from otel_gemini.billing import batch_results
from otel_gemini.testing import Reply, error
from otel_gemini.testing import batches as fake_batches

MODEL = "gemini-2.5-flash"
JOB_COST = dict(gen_ai_operation_name="generate_content", gen_ai_request_model=MODEL, gemini_service_tier="batch")
# Three inlined requests: 400 + 40 + 4 = 444 characters of text -> ceil(444 / 4) = 111 enqueued tokens (estimate).
REQUESTS: list[Any] = [
    {"contents": "a" * 400},
    {"contents": [{"role": "user", "parts": [{"text": "b" * 40}]}], "metadata": {"key": "not-counted"}},
    types.InlinedRequest(contents="c" * 4),
]
# Two succeed, one fails:
#   10,000 prompt × 0.15/1M = 0.0015;  (1,000 candidates + 1,000 thoughts) × 1.25/1M = 0.0025  -> 0.0040
#    2,000 prompt × 0.15/1M = 0.0003;  400 candidates × 1.25/1M            = 0.0005           -> 0.0008
#   the failed request: $0                                                               total -> $0.0048
RESULTS = [fake_batches.succeeded(10_000, 1_000, 1_000), fake_batches.succeeded(2_000, 400), fake_batches.failed()]
TOTAL = Decimal("0.0048")


@pytest.fixture(scope="module")
def store(fake):  # noqa: ANN001 - pytest fixture
    """One job store for the module (routes are process-wide on the session's fake); job ids never repeat."""
    return fake_batches.install(fake)


def enqueued(telemetry, model: str = MODEL) -> float:  # noqa: ANN001
    return telemetry.prom("gemini_batch_enqueued_tokens", gen_ai_request_model=model)


def jobs(telemetry, state: str, model: str = MODEL) -> float:  # noqa: ANN001
    return telemetry.prom("gemini_batch_jobs", gen_ai_request_model=model, gemini_batch_state=state)


def spans(telemetry, name: str) -> list[Any]:  # noqa: ANN001
    return [s for s in telemetry.spans() if s.name.startswith(name)]


def test_inline_job_priced_once_at_batch_rates(store, client, telemetry) -> None:
    job = client.batches.create(model=MODEL, src=REQUESTS, config={"display_name": "nightly"})
    assert type(job) is types.BatchJob and job.state == types.JobState.JOB_STATE_PENDING
    [create] = spans(telemetry, "create_batch")
    assert create.name == f"create_batch {MODEL}"
    assert create.attributes["gemini.batch.enqueued_tokens_estimate"] == 111
    assert create.attributes["gemini.pricing.status"] == "unbilled"
    assert enqueued(telemetry) == 111 and jobs(telemetry, "pending") == 1

    store.set_state(job.name, "BATCH_STATE_RUNNING")
    running = client.batches.get(name=job.name)
    assert running.state == types.JobState.JOB_STATE_RUNNING
    [get] = spans(telemetry, "get_batch")
    assert get.name == f"get_batch {MODEL}"  # the job's model, learned at create
    assert get.attributes["gemini.pricing.status"] == "unbilled" and get.attributes["gemini.batch.state"] == "running"
    assert telemetry.exact("gemini_cost_usd_total") == 0
    assert enqueued(telemetry) == 111 and jobs(telemetry, "running") == 1 and jobs(telemetry, "pending") == 0

    store.finish(job.name, RESULTS)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and len(done.dest.inlined_responses) == 3
    first = spans(telemetry, "get_batch")[-1]
    assert first.attributes["gemini.pricing.status"] == "priced"
    assert first.attributes["gemini.cost.usd_exact"] == "0.0048"
    assert first.attributes["gemini.service_tier"] == "batch"
    assert first.attributes["gemini.batch.succeeded_requests"] == 2
    assert first.attributes["gemini.batch.failed_requests"] == 1
    assert first.attributes["gen_ai.usage.input_tokens"] == 12_000  # the failed request adds no tokens
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST) == TOTAL
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST, gemini_cost_type="input") == Decimal("0.0018")
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST, gemini_cost_type="output") == Decimal("0.00175")
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST, gemini_cost_type="reasoning") == Decimal("0.00125")
    assert telemetry.exact("gemini_tokens_total", gen_ai_operation_name="generate_content",
                           gen_ai_token_type="input") == 12_000
    # The get call keeps its own labels: one priced get_batch request, its results under generate_content.
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="get_batch",
                          gemini_pricing_status="priced") == 1
    assert telemetry.prom("gemini_requests_total", gen_ai_operation_name="generate_content") == 0
    assert enqueued(telemetry) == 0 and jobs(telemetry, "succeeded") == 1 and jobs(telemetry, "running") == 0

    client.batches.get(name=job.name)  # read again: no second charge
    again = spans(telemetry, "get_batch")[-1]
    assert again.attributes["gemini.batch.already_priced"] is True
    assert again.attributes["gemini.pricing.status"] == "unbilled"
    assert telemetry.exact("gemini_cost_usd_total") == TOTAL
    assert jobs(telemetry, "succeeded") == 1


def test_list_prices_nothing_and_follows_states(store, client, telemetry) -> None:
    finished = client.batches.create(model=MODEL, src=REQUESTS[:1])  # 400 chars -> 100 tokens
    waiting = client.batches.create(model=MODEL, src=REQUESTS[2:])  # 4 chars -> 1 token
    assert enqueued(telemetry) == 101
    store.finish(finished.name, RESULTS[:1])

    listed = {job.name: job.state for job in client.batches.list(config={"page_size": 1})}
    assert finished.name in listed and waiting.name in listed
    pages = spans(telemetry, "list_batches")
    assert len(pages) >= 2  # the pager's later pages are calls too
    assert all(page.attributes["gemini.pricing.status"] == "unbilled" for page in pages)
    assert telemetry.exact("gemini_cost_usd_total") == 0  # listing is not reading results
    assert enqueued(telemetry) == 1  # the finished job left the quota when list showed it finished
    # The page shows every job of the project (earlier tests' too), each counted by its state.
    succeeded = sum(state == types.JobState.JOB_STATE_SUCCEEDED for state in listed.values())
    assert jobs(telemetry, "succeeded") == succeeded and jobs(telemetry, "pending") >= 1

    client.batches.get(name=finished.name)  # reading it prices it: 0.0040 (first response of RESULTS)
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST) == Decimal("0.0040")


def test_cancel_and_delete_release_the_gauges(store, client, telemetry) -> None:
    job = client.batches.create(model=MODEL, src=REQUESTS[:2])  # 440 chars -> 110 tokens
    assert enqueued(telemetry) == 110
    assert client.batches.cancel(name=job.name) is None
    [cancel] = spans(telemetry, "cancel_batch")
    assert cancel.name == f"cancel_batch {MODEL}" and cancel.attributes["gemini.pricing.status"] == "unbilled"
    assert enqueued(telemetry) == 0
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    assert jobs(telemetry, "cancelled") == 1 and jobs(telemetry, "pending") == 0

    deleted = client.batches.delete(name=job.name)
    assert type(deleted) is types.DeleteResourceJob
    assert jobs(telemetry, "cancelled") == 0
    assert telemetry.exact("gemini_cost_usd_total") == 0


async def test_async_batches(store, client, telemetry) -> None:
    aio = client.aio.batches
    job = await aio.create(model=MODEL, src=REQUESTS)
    assert enqueued(telemetry) == 111
    store.finish(job.name, RESULTS)
    assert (await aio.get(name=job.name)).state == types.JobState.JOB_STATE_SUCCEEDED
    await aio.get(name=job.name)
    assert telemetry.exact("gemini_cost_usd_total", **JOB_COST) == TOTAL  # once: $0.0048 as in the sync test
    assert enqueued(telemetry) == 0
    names = [j.name async for j in await aio.list()]
    assert job.name in names
    other = await aio.create(model=MODEL, src=REQUESTS[2:])
    await aio.cancel(name=other.name)
    await aio.delete(name=other.name)
    assert enqueued(telemetry) == 0
    operations = [s.attributes["gen_ai.operation.name"] for s in telemetry.spans()]
    assert operations == ["create_batch", "get_batch", "get_batch", "list_batches", "create_batch", "cancel_batch",
                          "delete_batch"]


@pytest.mark.parametrize("is_async", [False, True])
async def test_errors_reraise_the_sdks_own_exception(fake, store, client, telemetry, is_async) -> None:
    fake.push(Reply(status=429, body=error(429, "RESOURCE_EXHAUSTED", "Batch enqueued tokens quota exceeded"),
                    route=r":batchGenerateContent$"))
    fake.push(Reply(status=404, route=r"^GET .*/batches/"))
    batches = client.aio.batches if is_async else client.batches

    async def call(method: Any, **kwargs: Any) -> Any:
        result = method(**kwargs)
        return await result if is_async else result

    with pytest.raises(errors.ClientError) as created:
        await call(batches.create, model=MODEL, src=REQUESTS)
    assert type(created.value) is errors.ClientError and created.value.code == 429
    assert created.value.message == "Batch enqueued tokens quota exceeded"
    with pytest.raises(errors.ClientError) as got:
        await call(batches.get, name="batches/missing")
    assert type(got.value) is errors.ClientError and got.value.code == 404
    create, get = telemetry.spans()
    assert create.attributes["error.type"] == "429" and get.attributes["error.type"] == "404"
    assert get.name == "get_batch unknown"  # a job this process never saw: its model is not known
    assert enqueued(telemetry) == 0 and telemetry.exact("gemini_cost_usd_total") == 0


def test_file_results_are_unmetered_never_downloaded(fake, store, client, telemetry) -> None:
    job = client.batches.create(model=MODEL, src="files/input-jsonl")
    assert spans(telemetry, "create_batch")[0].attributes["gemini.batch.enqueued_tokens_estimate"] == 0
    store.finish(job.name, responses_file="files/batch-results")
    assert client.batches.get(name=job.name).dest.file_name == "files/batch-results"
    client.batches.get(name=job.name)
    first, second = spans(telemetry, "get_batch")
    assert first.attributes["gemini.pricing.status"] == "unmetered"
    assert first.attributes["gemini.batch.results"] == "file"
    assert second.attributes["gemini.pricing.status"] == "unbilled"
    assert telemetry.exact("gemini_cost_usd_total") == 0
    assert not any("files/batch-results" in r.path for r in fake.requests)  # results were never downloaded


def test_batch_embeddings(store, client, telemetry) -> None:
    if not hasattr(client.batches, "create_embeddings"):
        pytest.skip("this google-genai has no batches.create_embeddings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "create_embeddings() is experimental"
        job = client.batches.create_embeddings(
            model="gemini-embedding-2", src={"inlined_requests": {"contents": ["d" * 40, "e" * 40]}},
        )
    assert enqueued(telemetry, "gemini-embedding-2") == 20  # 80 characters / 4
    # 4,000 + 1,000 prompt tokens × 0.10/1M (embedding-2 batch text) = 0.0004 + 0.0001 = $0.0005
    store.finish(job.name, [fake_batches.embedded(4_000), fake_batches.embedded(1_000)])
    client.batches.get(name=job.name)
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_operation_name="embeddings",
                           gen_ai_request_model="gemini-embedding-2", gemini_service_tier="batch") == Decimal("0.0005")
    assert enqueued(telemetry, "gemini-embedding-2") == 0


@pytest.mark.parametrize(("created", "expected"), [
    # 1,000 × 1.00/1M + 100 × 5.00/1M = 0.001 + 0.0005 = $0.0015 (submitted before the 2026-12-01 change)
    ("2026-11-30T12:00:00.123456789Z", Decimal("0.0015")),
    # 1,000 × 2.00/1M + 100 × 10.00/1M = 0.002 + 0.001 = $0.003 (submitted after it)
    ("2026-12-02T12:00:00Z", Decimal("0.003")),
])
def test_a_job_is_priced_at_its_create_time(store, client, telemetry, created, expected) -> None:
    store.create_time = created
    try:
        job = client.batches.create(model="gemini-4-argon", src=REQUESTS[2:])
    finally:
        store.create_time = None
    store.finish(job.name, [fake_batches.succeeded(1_000, 100, model_version="gemini-4-argon")])
    client.batches.get(name=job.name)
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model="gemini-4-argon") == expected


def test_a_model_without_batch_prices_is_unpriced_not_free(store, client, telemetry) -> None:
    model = "gemini-2.5-computer-use-preview-10-2025"  # prices.json has no "batch" row for it
    job = client.batches.create(model=model, src=REQUESTS[2:])
    store.finish(job.name, [fake_batches.succeeded(1_000, 100, model_version=model)])
    client.batches.get(name=job.name)
    assert spans(telemetry, "get_batch")[0].attributes["gemini.pricing.status"] == "unpriced"
    assert telemetry.exact("gemini_cost_usd_total") == 0


def test_job_bodies_without_the_sdk() -> None:
    """batch_results reads the wire format alone (the agent reuses it): states, times, estimates, once-only."""
    assert batch_results.normalize_state("BATCH_STATE_SUCCEEDED") == "succeeded"
    assert batch_results.normalize_state(types.JobState.JOB_STATE_CANCELLED) == "cancelled"
    assert batch_results.parse_time("2026-11-30T12:00:00.123456789Z") == pytest.approx(1796040000.123456)
    assert batch_results.parse_time("yesterday") is None
    assert batch_results.estimate_tokens("files/abc") == 0
    assert batch_results.estimate_tokens(types.BatchJobSource(inlined_requests=[types.InlinedRequest(
        contents="x" * 9, config=types.GenerateContentConfig(system_instruction="y" * 3))])) == 3  # 12 chars
    vertex = {"name": "projects/p/locations/us-central1/batchPredictionJobs/42", "state": "JOB_STATE_SUCCEEDED",
              "model": "publishers/google/models/gemini-2.5-flash", "createTime": "2026-11-23T00:00:00Z",
              "outputInfo": {"gcsOutputDirectory": "gs://bucket/out"}, "completionStats": {"successfulCount": "3"}}
    job = batch_results.read_job(vertex)
    assert job is not None and job.key == "42" and job.model == MODEL and job.terminal
    priced = batch_results.PricedJobs(limit=1)
    assert priced.claim("batches/a") and not priced.claim("a") and priced.claim("b") and priced.claim("a")
