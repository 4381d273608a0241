"""Soak (issue 15): 50 threads and 20 asyncio tasks making real calls with random faults for a bounded time, while
the agent takes bursts from 200 senders. At the end the totals are exact, no counter ever went down, memory is flat.

Each call's prompt names its fault, and FakeGemini answers by it (a route, not a queue: 70 callers in parallel
would otherwise take each other's replies), so every kind's bill is known by hand:

* ``ok`` / ``stream`` / ``abandon`` (a stream closed after its first chunk): 1,000 input × $0.30/1M + 200 output ×
  $2.50/1M = $0.0008, priced (every chunk carries the same usage, so where a stream stops does not change its bill);
* ``span_fail``: the same, with the span processor raising in ``on_start``: counted and priced, the span lost;
* ``negative`` (thoughtsTokenCount −50) and ``huge`` (10^9 candidates): unmetered, refused, $0;
* ``r429`` (a quota body) and ``r500``: the SDK's exception, unbilled, $0.

Bounded by ``SOAK_S`` (default 4 s of calls) to stay within CI's time; speed is never asserted.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

import otel_gemini
from otel_gemini import semconv
from otel_gemini.testing import FakeGemini, Reply, error, response, usage
from tests._fakes import quota_bodies
from tests.conftest import API_KEY

MODEL = "gemini-2.5-flash"
ONE_CALL = Decimal("0.0008")  # 1,000 × $0.30/1M + 200 × $2.50/1M
PRICED = ("ok", "stream", "abandon", "span_fail")
KINDS = PRICED + ("negative", "huge", "r429", "r500")
SOAK_S = float(os.environ.get("SOAK_S", "4"))
THREADS, TASKS = 50, 20
RSS_GROWTH_BOUND = 40 * 2**20
"""Resident memory the second half of the soak may add over the first (a leak of one span or state per call would
be far more: tens of thousands of calls)."""

_failing: ContextVar[bool] = ContextVar("soak_span_fails", default=False)
"""Per thread and per task: whether the span processor raises for this caller's next span."""


class _FailsOnRequest(SpanProcessor):
    """A span processor that raises in ``on_start`` when the calling thread (or task) asks for it."""

    def __init__(self) -> None:
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if _failing.get():
            raise RuntimeError("span processor broken")

    def on_end(self, span: Any) -> None:
        self.ended += 1  # counted, never kept: a stored span per call would be the leak this test looks for


def _good() -> dict[str, Any]:
    return usage(prompt=1000, candidates=200)


def _answer(rec: Any) -> Any:
    kind = rec.body["contents"][0]["parts"][0]["text"]
    if kind in ("stream", "abandon"):
        return Reply(chunks=[response(text, model_version=MODEL, usage_metadata=_good()) for text in ("a", "b", "c")])
    if kind == "negative":
        return 200, response("x", model_version=MODEL, usage_metadata={**_good(), "thoughtsTokenCount": -50})
    if kind == "huge":
        return 200, response("x", model_version=MODEL, usage_metadata={**_good(), "candidatesTokenCount": 10**9})
    if kind == "r429":
        return 429, quota_bodies.quota_failure()
    if kind == "r500":
        return 500, error(500, "INTERNAL", "boom")
    return 200, response("x", model_version=MODEL, usage_metadata=_good())


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def soak_fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        server.route(r"generateContent|streamGenerateContent", _answer)
        yield server


def _sync_call(client: Any, kind: str) -> None:
    _failing.set(kind == "span_fail")
    try:
        if kind in ("stream", "abandon"):
            chunks = client.models.generate_content_stream(model=MODEL, contents=kind)
            if kind == "abandon":
                next(iter(chunks))
                chunks.close()
            else:
                assert [c.text for c in chunks] == ["a", "b", "c"]
        else:
            assert client.models.generate_content(model=MODEL, contents=kind).text == "x"
    except errors.APIError as raised:
        assert kind in ("r429", "r500") and raised.code == int(kind[1:])


async def _async_call(client: Any, kind: str) -> None:
    _failing.set(kind == "span_fail")  # this task's context only
    try:
        if kind in ("stream", "abandon"):
            chunks = await client.aio.models.generate_content_stream(model=MODEL, contents=kind)
            texts = []
            async for chunk in chunks:
                texts.append(chunk.text)
                if kind == "abandon":
                    await chunks.aclose()
                    break
            assert texts == (["a"] if kind == "abandon" else ["a", "b", "c"])
        else:
            assert (await client.aio.models.generate_content(model=MODEL, contents=kind)).text == "x"
    except errors.APIError as raised:
        assert kind in ("r429", "r500") and raised.code == int(kind[1:])


def test_soak_exact_totals_no_decrease_flat_memory(soak_fake: FakeGemini) -> None:
    from tests.agent.test_agent import total
    from tests.agent.test_agent_hardening import SPAN_COST, _burst, start

    agent = start()  # first: instrument() then points the guard's counters at the library's Recorder

    processor = _FailsOnRequest()
    provider = TracerProvider()
    provider.add_span_processor(processor)
    meter_provider = MeterProvider()
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=provider, meter_provider=meter_provider)
    recorder = instrumentor.telemetry.recorder
    http = types.HttpOptions(base_url=soak_fake.base_url)
    client = genai.Client(api_key=API_KEY, http_options=http)
    made: Counter[str] = Counter()
    lock = threading.Lock()
    failures: list[BaseException] = []
    deadline = time.monotonic() + SOAK_S
    halfway = threading.Event()
    rss: dict[str, int] = {}

    def worker(seed: int) -> None:
        rng, mine = random.Random(seed), Counter[str]()
        try:
            while time.monotonic() < deadline:
                kind = rng.choice(KINDS)
                _sync_call(client, kind)
                mine[kind] += 1
        except BaseException as failure:
            failures.append(failure)
        with lock:
            made.update(mine)

    async def tasks() -> None:
        async def one(seed: int) -> None:
            rng, mine = random.Random(seed), Counter[str]()
            try:
                while time.monotonic() < deadline:
                    kind = rng.choice(KINDS)
                    await _async_call(client, kind)
                    mine[kind] += 1
            except BaseException as failure:
                failures.append(failure)
            with lock:
                made.update(mine)

        await asyncio.gather(*(one(1000 + i) for i in range(TASKS)))

    decreases: list[tuple[str, tuple[str, ...]]] = []

    def watch() -> None:
        """No counter ever goes down: every series at every snapshot is at least what it was."""
        last: dict[tuple[str, tuple[str, ...]], float] = {}
        while time.monotonic() < deadline + 1:
            if not halfway.is_set() and time.monotonic() > deadline - SOAK_S / 2:
                rss["half"] = _rss()
                halfway.set()
            for metric in semconv.COUNTERS:
                for key, value in recorder.counter_values(metric):
                    if value < last.get((metric.prometheus_name, key), 0):
                        decreases.append((metric.prometheus_name, key))
                    last[metric.prometheus_name, key] = value
            time.sleep(0.05)

    bursts: list[Any] = []

    def burst() -> None:
        bursts.append(_burst(agent, 200))
        while time.monotonic() < deadline - 1:
            bursts.append(_burst(agent, 200))

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        threads += [threading.Thread(target=lambda: asyncio.run(tasks())), threading.Thread(target=watch),
                    threading.Thread(target=burst)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOAK_S + 60)
        rss["end"] = _rss()
        assert not failures, failures[:3]
        assert not decreases, decreases[:3]

        calls = sum(made.values())
        assert calls > len(KINDS) * 10 and set(made) == set(KINDS), made  # every fault really ran
        requests = dict(recorder.counter_values(semconv.REQUESTS))
        assert sum(requests.values()) == calls
        by_status = Counter[str]()
        names = [semconv.prometheus_label(label) for label in recorder.labels_of(semconv.REQUESTS)]
        for key, value in requests.items():
            by_status[dict(zip(names, key, strict=True))["gemini_pricing_status"]] += int(value)
        assert by_status["priced"] == sum(made[k] for k in PRICED)
        assert by_status["unmetered"] == made["negative"] + made["huge"]
        assert by_status["unbilled"] == made["r429"] + made["r500"]
        assert sum(recorder.counters[semconv.COST].values()) == ONE_CALL * sum(made[k] for k in PRICED)
        refused = dict(recorder.counter_values(semconv.REFUSED))
        assert refused == {("usage", "negative"): made["negative"], ("usage", "too_large"): made["huge"]}
        assert dict(recorder.counter_values(semconv.INTERNAL_ERRORS)) == {("span",): made["span_fail"]}
        assert processor.ended == calls - made["span_fail"]

        answered = [status for _failures, answers in bursts for status, _ in answers if status == 200]
        assert bursts and not any(f for f, _answers in bursts)  # no reset in any burst
        assert total(agent, "gemini_cost_usd_total") == SPAN_COST * len(answered) == SPAN_COST * 200 * len(bursts)
        assert rss["end"] - rss["half"] < RSS_GROWTH_BOUND, rss
    finally:
        agent.stop()
        otel_gemini.uninstrument()
        meter_provider.shutdown()
