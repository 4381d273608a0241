"""One bill, three doors: every billing rule case priced by the real google-genai client against FakeGemini (the
library), by a real OTLP/HTTP export to a running agent (in our own span dialect and in the official semconv
dialect), and by ``otel-gemini price``, must give the same Decimal total and the same cost lines.

Prices (bundled table, checked by hand, USD per 1M tokens): 2.5 Flash in 0.30 (audio 1.00), cache 0.03, out 2.50,
grounding $35 / 1,000 grounded prompts; 2.5 Pro > 200k in 2.50 / out 15.00; 2.5 Flash Image out image 30;
3.8 Flash (to 2026-12-31) in 0.75, cache 0.075, out 3.75, $14 / 1,000 search queries; 2.5 Flash-Lite in 0.10,
out 0.40; 4 Argon (from 2026-12-01) in 4.00, out 20.00; Flex ×0.5, Priority ×1.8; Vertex regional ×1.10, tuned ×1.5.

Own dialect: the span the library wrote for the case (door a), replayed without its cost attributes (an own span
without a local cost is priced by the agent), with ``server.address`` the production host the app would have
called. Official semconv: only the semconv names; it cannot carry the service tier, grounding or the modality
split, so cases needing them are listed in ``semconv_gap`` and checked only for the agent's estimate mark where
the agent makes one (modality). The case with ``door_a=False`` cannot be made by a live call (a request whose
start is a chosen instant: the dated-price boundary); its library twin is a batch job created at that instant
(``batch=True`` cases go through ``batches.create``/``batches.get``, priced at the job's create time).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import otel_gemini
from otel_gemini import cli, semconv
from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.cli import price_cmd
from otel_gemini.pricing import pacific
from otel_gemini.settings.config import load_settings
from otel_gemini.testing import FakeGemini, Reply, vertex_client_kwargs
from otel_gemini.testing import batches as fake_batches
from otel_gemini.testing.bodies import error

D = Decimal
TUNED = "projects/p/locations/us-central1/endpoints/42"
SETTINGS = {"tuned_models": f"{TUNED}=gemini-2.5-flash", "billing_tier": "tier1,gemini-2.5-flash-lite=free"}
K = {"promptTokenCount": 1000, "candidatesTokenCount": 500, "totalTokenCount": 1500}
E2 = {"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 8500, "totalTokenCount": 10000,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}]}
E7A = {"promptTokenCount": 70, "candidatesTokenCount": 53, "thoughtsTokenCount": 199, "toolUsePromptTokenCount": 79,
       "totalTokenCount": 401}
E11 = {"promptTokenCount": 20000, "cachedContentTokenCount": 8192, "candidatesTokenCount": 900,
       "thoughtsTokenCount": 2100, "totalTokenCount": 23000}
SEMCONV_KEYS = (semconv.OPERATION, semconv.PROVIDER, semconv.REQUEST_MODEL, semconv.RESPONSE_MODEL,
                semconv.USAGE_INPUT, semconv.USAGE_OUTPUT, semconv.USAGE_CACHE_READ, semconv.USAGE_REASONING,
                semconv.SERVER_ADDRESS, semconv.ERROR_TYPE)


@dataclass
class Case:
    id: str
    model: str
    usage: dict[str, Any] | None
    total: Decimal
    lines: dict[tuple[str, str], Decimal]
    status: str = "priced"
    served: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    queries: tuple[str, ...] = ()
    location: str | None = None
    """Vertex location (None: the Developer API)."""
    list_price: Decimal | None = None
    http_status: int = 200
    semconv_gap: str = ""
    door_a: bool = True
    stream: bool = False
    """Door a streams it (a first chunk without usage, then the case's body)."""
    batch: bool = False
    """Door a is a batch job with this one inlined response (created at ``start``), read by ``batches.get``."""
    start: float | None = None
    """The request's start (None: now); for a batch job, its create time."""

    def body(self) -> dict[str, Any]:
        if self.http_status != 200:
            return error(self.http_status, "RESOURCE_EXHAUSTED", "quota")
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        if self.queries:
            candidate["groundingMetadata"] = {"webSearchQueries": list(self.queries)}
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": self.served or self.model}
        if self.usage is not None:
            body["usageMetadata"] = self.usage
        return body


def _in(text: str, out: str, **extra: str) -> dict[tuple[str, str], Decimal]:
    lines = {("input", "text"): D(text), ("output", "text"): D(out)}
    lines.update({tuple(k.split("__")): D(v) for k, v in extra.items()})  # type: ignore[misc]
    return lines


CASES = [
    # E2: 1,200 × 0.30 = 0.00036; 300 × 2.50 = 0.00075; 8,500 × 2.50 = 0.02125 → 0.02236
    Case("e2_thinking", "gemini-2.5-flash", E2, D("0.02236"), _in("0.00036", "0.00075", reasoning__text="0.02125")),
    # E3: 2,000 × 0.30 = 0.0006; 48,000 × 0.03 = 0.00144; 500 × 2.50 = 0.00125 → 0.00329
    Case("e3_cached_input", "gemini-2.5-flash", {
        "promptTokenCount": 50000, "cachedContentTokenCount": 48000, "candidatesTokenCount": 500,
        "totalTokenCount": 50500, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 50000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 48000}]},
        D("0.00329"), _in("0.0006", "0.00125", cache_read__text="0.00144")),
    # E4: 40 × 0.30 = 0.000012; 9,600 × 1.00 = 0.0096; 700 × 2.50 = 0.00175; 260 × 2.50 = 0.00065 → 0.012012
    Case("e4_audio_input", "gemini-2.5-flash", {
        "promptTokenCount": 9640, "candidatesTokenCount": 700, "thoughtsTokenCount": 260, "totalTokenCount": 10600,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 40}, {"modality": "AUDIO", "tokenCount": 9600}]},
        D("0.012012"), _in("0.000012", "0.00175", input__audio="0.0096", reasoning__text="0.00065"),
        semconv_gap="modality"),
    # E5: 20 × 0.30 = 0.000006; 12 × 2.50 = 0.00003; 1,290 × 30 = 0.0387 → 0.038736
    Case("e5_image_output", "gemini-2.5-flash-image", {
        "promptTokenCount": 20, "candidatesTokenCount": 1302, "totalTokenCount": 1322,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 12}, {"modality": "IMAGE", "tokenCount": 1290}]},
        D("0.038736"), _in("0.000006", "0.00003", output__image="0.0387"), semconv_gap="modality"),
    # E1: 250,000 × 2.50 = 0.625; 4,000 × 15 = 0.06; 6,000 × 15 = 0.09 → 0.775
    Case("e1_over_200k_cliff", "gemini-2.5-pro", {
        "promptTokenCount": 250000, "candidatesTokenCount": 4000, "thoughtsTokenCount": 6000,
        "totalTokenCount": 260000}, D("0.775"), _in("0.625", "0.06", reasoning__text="0.09")),
    # Flex: 1,000 × 0.15 = 0.00015; 500 × 1.25 = 0.000625 → 0.000775
    Case("flex_header", "gemini-2.5-flash", K, D("0.000775"), _in("0.00015", "0.000625"),
         headers={"x-gemini-service-tier": "flex"}, semconv_gap="tier"),
    Case("flex_only_in_usage_metadata", "gemini-2.5-flash", {**K, "serviceTier": "flex"}, D("0.000775"),
         _in("0.00015", "0.000625"), semconv_gap="tier"),
    Case("flex_only_in_usage_metadata_stream", "gemini-2.5-flash", {**K, "serviceTier": "flex"}, D("0.000775"),
         _in("0.00015", "0.000625"), semconv_gap="tier", stream=True),
    # Priority: 1,000 × 0.54 = 0.00054; 500 × 4.50 = 0.00225 → 0.00279
    Case("priority_header", "gemini-2.5-flash", K, D("0.00279"), _in("0.00054", "0.00225"),
         headers={"x-gemini-service-tier": "priority"}, semconv_gap="tier"),
    # E7a: 70 × 0.30 = 0.000021; 53 × 2.50 = 0.0001325; 199 × 2.50 = 0.0004975; one grounded prompt 0.035 → 0.035651
    Case("e7a_grounding_per_prompt", "gemini-2.5-flash", E7A, D("0.035651"),
         _in("0.000021", "0.0001325", reasoning__text="0.0004975", grounding__text="0.035"),
         queries=("gemini api pricing",), semconv_gap="grounding"),
    # E7b: 151 × 0.75 = 0.00011325; 1,089 × 3.75 = 0.00408375; 1,120 × 3.75 = 0.0042; 3 queries × 0.014 → 0.050397
    Case("e7b_grounding_per_query", "gemini-3.8-flash", {
        "promptTokenCount": 151, "candidatesTokenCount": 1089, "thoughtsTokenCount": 1120,
        "toolUsePromptTokenCount": 18329, "totalTokenCount": 20689}, D("0.050397"),
        _in("0.00011325", "0.00408375", reasoning__text="0.0042", grounding__text="0.042"),
        queries=("q1", "q2", "q3"), semconv_gap="grounding"),
    # Tool use without grounding bills as input: (70 + 79) × 0.30 = 0.0000447 → 0.0006747
    Case("tool_use_prompt_tokens", "gemini-2.5-flash", E7A, D("0.0006747"),
         _in("0.0000447", "0.0001325", reasoning__text="0.0004975")),
    Case("e10_failed_request", "gemini-2.5-flash", None, D(0), {}, status="unbilled", http_status=429),
    Case("unknown_model_unpriced", "gemini-9-imaginary", K, D(0), {}, status="unpriced"),
    # An unfamiliar served version of a known model bills as requested: 0.0003 + 0.00125 = 0.00155
    Case("unknown_served_version", "gemini-2.5-flash", K, D("0.00155"), _in("0.0003", "0.00125"),
         served="gemini-2.5-flash-exp-0420"),
    # Routed to a model the table does not know (not a version of the requested one): unpriced, never the old price
    Case("routed_to_unknown_model", "gemini-3.8-flash", K, D(0), {}, status="unpriced", served="gemini-3.9-flash"),
    # Tuned endpoint on a regional Vertex endpoint, response naming the base model: × 1.5 × 1.1 → 0.0025575
    Case("tuned_vertex_names_base", TUNED, K, D("0.0025575"), _in("0.000495", "0.0020625"),
         served="gemini-2.5-flash", location="us-central1"),
    # Regional Vertex endpoint: × 1.1 → 0.00033 + 0.001375 = 0.001705
    Case("regional_vertex", "gemini-2.5-flash", K, D("0.001705"), _in("0.00033", "0.001375"), location="us-central1"),
    # Free tier (2.5 Flash-Lite on free): $0; paid would be 1,200 × 0.10 + 8,800 × 0.40 = 0.00012 + 0.00352
    Case("e9_free_tier", "gemini-2.5-flash-lite", E2, D(0), {}, status="free", list_price=D("0.00364")),
    # 4 Argon from 2026-12-01: 1,000 × 4.00 = 0.004; 500 × 20 = 0.01 → 0.014
    Case("dated_price_in_force", "gemini-4-argon", K, D("0.014"), _in("0.004", "0.01")),
    # E11 started 2026-12-31 23:59:30 Pacific, ended in 2027: the request's start prices it at the 2026 rates:
    # 11,808 × 0.75 = 0.008856; 8,192 × 0.075 = 0.0006144; 900 × 3.75 = 0.003375; 2,100 × 3.75 = 0.007875
    Case("e11_dated_price_request_start", "gemini-3.8-flash", E11, D("0.0207204"),
         _in("0.008856", "0.003375", cache_read__text="0.0006144", reasoning__text="0.007875"),
         door_a=False, start=pacific.day_start_epoch(date(2027, 1, 1)) - 30),
    # E6 batch: 10,000 × 0.15 = 0.0015; 1,000 × 1.25 = 0.00125; 1,000 × 1.25 = 0.00125 → 0.004
    Case("e6_batch_tier", "gemini-2.5-flash", {
        "promptTokenCount": 10000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 1000, "totalTokenCount": 12000},
        D("0.004"), _in("0.0015", "0.00125", reasoning__text="0.00125"),
        headers={"x-gemini-service-tier": "batch"}, batch=True, semconv_gap="tier"),
    # A batch job created 2026-11-30 23:59:30 Pacific, read after 4 Argon's 2026-12-01 change: its create time
    # prices it at the old Batch rates: 1,000 × 1.00 = 0.001; 500 × 5.00 = 0.0025 → 0.0035 (new rates: 0.007)
    Case("batch_job_priced_at_create_time", "gemini-4-argon", K, D("0.0035"), _in("0.001", "0.0025"),
         headers={"x-gemini-service-tier": "batch"}, batch=True, semconv_gap="tier",
         start=pacific.day_start_epoch(date(2026, 12, 1)) - 30),
]


@dataclass
class Seen:
    status: str
    lines: dict[tuple[str, str], Decimal]
    list_price: Decimal | None = None
    estimate: str = ""

    @property
    def total(self) -> Decimal:
        return sum(self.lines.values(), D(0))


def _diff(recorder: Any, metric: Any, before: dict[Any, Any]) -> dict[Any, Decimal]:
    return {k: D(v) - D(before.get(k, 0)) for k, v in recorder.counters[metric].items() if D(v) != D(before.get(k, 0))}


class Doors:
    """One instrumented process (door a), one agent (door b), the CLI (door c), for the whole module."""

    def __init__(self, fake: FakeGemini, agent: Agent, spans: InMemorySpanExporter, instrumentor: Any) -> None:
        self.fake, self.agent, self.spans, self.instrumentor = fake, agent, spans, instrumentor
        self.store = fake_batches.install(fake)

    def _seen(self, recorder: Any, act: Any) -> Seen:
        metrics = (semconv.COST, semconv.PAID_TIER_EQUIVALENT, semconv.REQUESTS)
        snapshot = {m: dict(recorder.counters[m]) for m in metrics}
        act()
        labels = [str(label) for label in recorder.labels_of(semconv.COST)]
        lines: dict[tuple[str, str], Decimal] = {}
        estimate = ""
        for key, amount in _diff(recorder, semconv.COST, snapshot[semconv.COST]).items():
            row = dict(zip(labels, key, strict=False))
            line = (row[semconv.COST_TYPE], row[semconv.TOKEN_MODALITY])
            lines[line] = lines.get(line, D(0)) + amount
            estimate = row.get("gemini.estimate", "") or estimate
        requests = list(_diff(recorder, semconv.REQUESTS, snapshot[semconv.REQUESTS]))
        assert len(requests) == 1, requests
        status = dict(zip(recorder.labels_of(semconv.REQUESTS), requests[0], strict=False))[semconv.PRICING_STATUS]
        paid = sum(_diff(recorder, semconv.PAID_TIER_EQUIVALENT, snapshot[semconv.PAID_TIER_EQUIVALENT]).values(), D(0))
        return Seen(status, lines, paid or None, estimate)

    # -- door a: the library ---------------------------------------------------------------------------------

    def library(self, case: Case) -> tuple[Seen, Any]:
        from google import genai
        from google.genai import errors

        kwargs = vertex_client_kwargs(self.fake)
        client = genai.Client(**{**kwargs, "location": case.location}) if case.location else genai.Client(
            api_key="k", http_options=kwargs["http_options"])
        if case.batch:
            return self._batch(client, case), None
        if case.stream:
            first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "o"}]}}]}
            self.fake.push(Reply(chunks=[first, case.body()], headers=case.headers))
        else:
            self.fake.push(Reply(status=case.http_status, body=case.body(), headers=case.headers))

        def call() -> None:
            try:
                if case.stream:
                    list(client.models.generate_content_stream(model=case.model, contents="hi"))
                else:
                    client.models.generate_content(model=case.model, contents="hi")
            except errors.APIError:
                assert case.http_status != 200

        seen = self._seen(self.instrumentor.telemetry.recorder, call)
        span = [s for s in self.spans.get_finished_spans() if s.instrumentation_scope.name == "otel_gemini"][-1]
        return seen, span

    def _batch(self, client: Any, case: Case) -> Seen:
        start = case.start
        self.store.create_time = datetime.fromtimestamp(start, timezone.utc).isoformat() if start else None
        try:
            job = client.batches.create(model=case.model, src=[{"contents": "hi"}])
        finally:
            self.store.create_time = None

        def read() -> None:
            self.store.finish(job.name, [{"response": case.body()}])
            client.batches.get(name=job.name)

        return self._seen(self.instrumentor.telemetry.recorder, read)

    # -- door b: the agent, fed by a real OTLP/HTTP exporter -----------------------------------------------

    def agent_door(self, attributes: dict[str, Any], scope: str, start_ns: int, end_ns: int) -> Seen:
        def export() -> None:
            provider = TracerProvider()
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{self.agent.http_port}/v1/traces", timeout=5)
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            span = provider.get_tracer(scope).start_span("generate_content", kind=SpanKind.CLIENT,
                                                         attributes=attributes, start_time=start_ns)
            span.end(end_time=end_ns)
            provider.shutdown()

        return self._seen(self.agent.recorder, export)

    # -- door c: otel-gemini price ---------------------------------------------------------------------------

    def cli(self, case: Case, tmp: Path, capsys: Any) -> Seen:
        path = tmp / f"{case.id}.json"
        path.write_text(json.dumps(case.body()))
        day = pacific.pacific_date(case.start if case.start is not None else time.time())
        argv = ["price", "--usage", str(path), "--model", case.model, "--at", day.isoformat()]
        if case.location:
            argv += ["--platform", "vertex_ai", "--location", case.location]
        if case.headers:
            argv += ["--service-tier", case.headers["x-gemini-service-tier"]]
        if case.model == TUNED:
            argv += ["--tuned-models", SETTINGS["tuned_models"]]
        if case.status == "free":
            argv += ["--free-tier"]
        if case.http_status != 200:
            argv += ["--failed"]
        capsys.readouterr()
        code = cli.main(argv)
        out = capsys.readouterr().out
        status = out.split("status ", 1)[1].split()[0]
        assert code == (2 if status == "unpriced" else 0), out
        lines: dict[tuple[str, str], Decimal] = {}
        list_price = None
        cost_types = {label: cost_type for cost_type, label in price_cmd.LABELS.items()}
        cost_types[price_cmd.LABELS["tool_use"]] = "input"  # tool-use tokens are input lines
        for row in out.splitlines():
            # "  <label> <modality>  <tokens> tok × $<rate>/1M = $<amount>", or "  <label> <modality>  $<amount>"
            if row.startswith("  ") and "$" in row:
                label, modality = re.split(r"\s{2,}", row.strip())[0].rsplit(" ", 1)
                key = (cost_types[label], modality)
                lines[key] = lines.get(key, D(0)) + D(row.rsplit("$", 1)[1])
            if row.startswith("free tier: paid-tier price would be $"):
                list_price = D(row.rsplit("$", 1)[1])
        return Seen(status, lines, list_price)


def _host(case: Case) -> str:
    if case.location is None:
        return "generativelanguage.googleapis.com"
    return "aiplatform.googleapis.com" if case.location == "global" else f"{case.location}-aiplatform.googleapis.com"


def _own(span_attributes: dict[str, Any], case: Case) -> dict[str, Any]:
    """The library's span as an app whose spans carry no local cost would export it, to the production host."""
    kept = {k: v for k, v in span_attributes.items()
            if not k.startswith(("gen_ai.usage.cost.", "gemini.cost.", "gemini.pricing."))}
    kept[semconv.SERVER_ADDRESS] = _host(case)
    kept.pop(semconv.SERVER_PORT, None)
    return kept


def _hand_own(case: Case) -> dict[str, Any]:
    """Own-dialect attributes for a case no live call can make (what the library writes for that usage)."""
    usage = case.usage or {}
    prompt, cached = usage.get("promptTokenCount", 0), usage.get("cachedContentTokenCount", 0)
    output, thoughts = usage.get("candidatesTokenCount", 0), usage.get("thoughtsTokenCount", 0)
    attributes = {
        semconv.OPERATION: semconv.OP_GENERATE_CONTENT, semconv.PROVIDER: semconv.PROVIDER_GEMINI,
        semconv.REQUEST_MODEL: case.model, semconv.RESPONSE_MODEL: case.served or case.model,
        semconv.USAGE_INPUT: prompt, semconv.USAGE_OUTPUT: output + thoughts, semconv.USAGE_CACHE_READ: cached,
        semconv.USAGE_REASONING: thoughts, "gen_ai.usage.text.input_tokens": prompt,
        "gen_ai.usage.text.cache_read.input_tokens": cached, "gen_ai.usage.text.output_tokens": output + thoughts,
        semconv.SERVER_ADDRESS: _host(case),
    }
    if case.headers:
        attributes[semconv.SERVICE_TIER] = case.headers["x-gemini-service-tier"]
    return attributes


@pytest.fixture(scope="module")
def doors(fake: FakeGemini) -> Iterator[Doors]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=tracer_provider, **SETTINGS)
    options = AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, settings=load_settings(SETTINGS))
    try:
        with Agent(options) as agent:
            yield Doors(fake, agent, spans, instrumentor)
    finally:
        otel_gemini.uninstrument()


def _same(seen: Seen, case: Case, door: str) -> None:
    assert (seen.status, seen.lines, seen.total) == (case.status, case.lines, case.total), door
    assert seen.list_price == case.list_price, door


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_one_bill_through_every_door(case: Case, doors: Doors, tmp_path: Path, capsys: Any) -> None:
    span = None
    if case.door_a:
        seen, span = doors.library(case)
        _same(seen, case, "library")
    if span is not None:
        own = _own(dict(span.attributes), case)
        start_ns, end_ns = span.start_time, span.end_time
    else:
        own = _hand_own(case)
        start_ns = int((case.start or time.time()) * 1e9)
        end_ns = start_ns + 60 * 10**9  # ended a minute later: after the price change
    _same(doors.agent_door(own, "otel_gemini", start_ns, end_ns), case, "agent, own dialect")
    official = {k: v for k, v in own.items() if k in SEMCONV_KEYS}
    seen = doors.agent_door(official, "test.app", start_ns, end_ns)
    if not case.semconv_gap:
        _same(seen, case, "agent, semconv dialect")
    elif case.semconv_gap == "modality":
        assert "no_modality_split" in seen.estimate  # priced as text, and the series says it is an estimate
    _same(doors.cli(case, tmp_path, capsys), case, "otel-gemini price")
