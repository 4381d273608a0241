"""From one decoded OTLP ``ExportTraceServiceRequest`` to calls recorded with exact costs.

The agent is the library with a different input: the same :class:`Pricer` and :class:`Recorder` price and count
what the spans of an app in any language report, so ``/metrics`` carries the names, labels and dollars of
docs/metrics.md. Here each span is flattened to a plain dict (the shape ``otel_gemini.agent.spans.read`` takes, so
the dialect readers never see protobuf), read as a :class:`GenAISpan`, priced, weighted by its sampling
probability, and recorded. Nothing here imports ``otel_gemini.instrumentation``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_gemini import _guard, semconv
from otel_gemini.attribution import MAX_VALUE_LENGTH, SPAN_ATTRIBUTE_PREFIX
from otel_gemini.pricing import engine
from otel_gemini.pricing.bill import SEARCH, Bill, Charge, Facts, bill, scaled
from otel_gemini.pricing.engine import Cost, CostLine
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.recording import CallRecord, Recorder
from otel_gemini.usage import extract_usage

PRICED, UNPRICED, IGNORED, ALREADY_PRICED, REJECTED = "priced", "unpriced", "ignored", "already_priced", "rejected"
OUTCOMES = (PRICED, UNPRICED, IGNORED, ALREADY_PRICED, REJECTED)
PROVIDER_COST_TYPE = "provider"
"""The cost type of a bill adopted from a span (``gen_ai.usage.cost.source="provider"``): a gateway's total,
with no split by token class, so it gets a type of its own rather than pretending to be ``input``."""

ESTIMATE_LABEL = semconv.ESTIMATE
"""Agent-only label of the call metrics (Prometheus ``gemini_estimate``): empty when the span said all a billing
rule needs and stood for itself; else why the figures are estimates, ``+``-joined: ``sampled`` (cost weighted
by 1/p from the tracestate) and the dialect's gaps (spans.GAP_*). A low or scaled bill is never silent."""
SAMPLED = "sampled"

_ONE = Decimal(1)
_KINDS = {value: name.removeprefix("SPAN_KIND_") for name, value in trace_pb2.Span.SpanKind.items()}
_STATUS = {value: name.removeprefix("STATUS_CODE_") for name, value in trace_pb2.Status.StatusCode.items()}


# -- flattening --------------------------------------------------------------------------------------------------

def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain value: arrays become lists, kvlists dicts, bytes lowercase hex."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    out = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in _SCALARS else any_value(value)  # scalars: the hot path
    return out


def flatten(request: Any) -> Iterator[dict[str, Any]]:
    """Every span of an ExportTraceServiceRequest as the plain dict of the agent's contract (docs/agent.md)."""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope, version = scope_spans.scope.name, scope_spans.scope.version
            for span in scope_spans.spans:
                yield {
                    "name": span.name,
                    "kind": _KINDS.get(span.kind, "UNSPECIFIED"),
                    "start_ns": int(span.start_time_unix_nano),
                    "end_ns": int(span.end_time_unix_nano),
                    "status_code": _STATUS.get(span.status.code, "UNSET"),
                    "trace_state": span.trace_state,
                    "trace_id": span.trace_id,
                    "span_id": span.span_id,
                    "attributes": attributes(span.attributes),
                    "resource": resource,
                    "scope": scope,
                    "scope_version": version,
                }


def _trace(flat: dict[str, Any]) -> tuple[int, int] | None:
    """The span's ids as the exemplar of what it cost (an exported span was sampled); None when malformed."""
    trace_id, span_id = flat.get("trace_id"), flat.get("span_id")
    if not isinstance(trace_id, bytes) or not isinstance(span_id, bytes) or len(trace_id) != 16 or len(span_id) != 8:
        return None
    ids = int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big")
    return ids if ids[0] and ids[1] else None


# -- self-metrics --------------------------------------------------------------------------------------------------

class AgentStats:
    """The agent's own counters (spans by outcome, rejected requests, gaps, sampling), exposed beside the costs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.requests: dict[str, int] = {}
        """Accepted Export requests by transport ("grpc", "http/protobuf", "http/json")."""
        self.rejected: dict[tuple[str, str], int] = {}
        """Rejected requests by (transport, reason): undecodable, too_large, unauthorized, shutting_down, ..."""
        self.gaps: dict[tuple[str, str], int] = {}
        """Priced spans by (dialect, gap): what the dialect lacked, so a low bill is never silent."""
        self.sampled: dict[str, int] = {}
        """Spans weighted by 1/p from their tracestate, by dialect."""
        self.refused: dict[str, int] = {}
        """Spans counted ``rejected``, by reason: undecodable, sampling_probability, error."""

    def span(self, outcome: str, count: int = 1) -> None:
        with self._lock:
            self.spans[outcome] = self.spans.get(outcome, 0) + count

    def request(self, transport: str) -> None:
        with self._lock:
            self.requests[transport] = self.requests.get(transport, 0) + 1

    def reject(self, transport: str, reason: str) -> None:
        with self._lock:
            key = (transport, reason)
            self.rejected[key] = self.rejected.get(key, 0) + 1

    def refuse_spans(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + count

    def note(self, dialect: str, gaps: Iterable[str], weighted: bool, count: int = 1) -> None:
        with self._lock:
            for gap in gaps:
                key = (dialect, gap)
                self.gaps[key] = self.gaps.get(key, 0) + count
            if weighted:
                self.sampled[dialect] = self.sampled.get(dialect, 0) + count

    def snapshot(self) -> dict[str, dict[Any, int]]:
        with self._lock:
            return {"spans": dict(self.spans), "requests": dict(self.requests), "rejected": dict(self.rejected),
                    "gaps": dict(self.gaps), "sampled": dict(self.sampled), "refused": dict(self.refused)}


# -- pricing -------------------------------------------------------------------------------------------------------

def _default_reader() -> Callable[[dict[str, Any]], Any]:
    from otel_gemini.agent import spans  # written beside this module; imported late so a stub can stand in

    return spans.read


MAX_SAMPLE_WEIGHT = Decimal(2**20)
"""1/p of the lowest sampling probability believed, 2^-20 (about one in a million, ``ot=th:fffff``): no real
sampler of GenAI calls goes lower, and ``th:ffffffffffffff`` (p = 2^-56) would turn one span into $10^14."""


_Note = tuple[str, tuple[str, ...], bool]
"""(dialect, gaps, weighted): what :meth:`AgentStats.note` counts for a recorded span."""


RECORD_CHUNK = 128
"""Priced calls recorded per recorder lock: the lock's cost spread over many spans, and a 4 MiB request's
thousands of spans never all held in memory as calls at once."""

_ESTIMATES: dict[tuple[str, ...], str] = {}


def _estimate(reasons: tuple[str, ...]) -> str:
    """The ``gemini_estimate`` value of a span's reasons, ``+``-joined in order; cached (the reasons are the
    dialect gaps and ``sampled``, names from code, so few; bounded all the same)."""
    label = _ESTIMATES.get(reasons)
    if label is None:
        label = "+".join(sorted(set(reasons)))
        if len(_ESTIMATES) < 256:
            _ESTIMATES[reasons] = label
    return label


class SpanRefused(Exception):
    """A span refused before pricing, with the reason counted in ``otel_gemini_agent_rejected_spans_total``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _weight(value: Any) -> Decimal:
    """1/p as an exact Decimal of the float's shortest repr (th:8 gives 2.0, exactly 2); a probability below
    1/:data:`MAX_SAMPLE_WEIGHT` refuses the span (weighting it would invent spend, dropping the weight hide it)."""
    if value == 1.0 and type(value) is float:  # unsampled spans: the common case, no Decimal parse
        return _ONE
    try:
        weight = Decimal(repr(float(value)))
    except (TypeError, ValueError):
        return _ONE
    if weight.is_infinite() or (weight.is_finite() and weight > MAX_SAMPLE_WEIGHT):
        raise SpanRefused("sampling_probability")
    return weight if weight.is_finite() and weight >= 1 else _ONE


class Pipeline:
    """Flattened spans in, recorded calls out; thread-safe (the recorder locks, the pricer is stateless enough)."""

    def __init__(
        self, pricer: Pricer, recorder: Recorder, stats: AgentStats | None = None,
        reader: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.pricer = pricer
        self.recorder = recorder
        self.stats = stats or AgentStats()
        self._reader = reader
        self._one_at_a_time = threading.Lock()
        """Export requests priced one after the other: pricing is pure Python under the GIL, so interleaving
        requests' threads adds no throughput, only switches between their working sets (~5% served)."""

    @property
    def reader(self) -> Callable[[dict[str, Any]], Any]:
        if self._reader is None:
            self._reader = _default_reader()
        return self._reader

    def export(self, request: Any) -> dict[str, int]:
        """Price every span of one Export request; returns the outcome counts (a bad span never stops the rest).

        Requests received at once are priced one at a time (their bodies are still read and decoded at once).
        """
        with self._one_at_a_time:
            return self._export(request)

    def _export(self, request: Any) -> dict[str, int]:
        """:meth:`export` itself.

        The priced calls are recorded :data:`RECORD_CHUNK` at a time, under one recorder lock each: the lock is
        taken once per chunk, and what waits to be recorded stays bounded whatever the request's size.
        """
        outcomes: dict[str, int] = {}
        notes: dict[_Note, int] = {}
        calls: list[CallRecord] = []
        priced: list[tuple[str, _Note | None]] = []
        for flat in flatten(request):
            try:
                outcome, call, note = self._price(flat)
            except SpanRefused as refused:
                self.stats.refuse_spans(refused.reason)
                outcome, call, note = REJECTED, None, None
            except Exception as failure:  # a hostile or odd span costs itself, never the request or the agent
                _guard.report("agent_span", failure)
                self.stats.refuse_spans("error")
                outcome, call, note = REJECTED, None, None
            if call is not None:
                calls.append(call)
                priced.append((outcome, note))
                if len(calls) >= RECORD_CHUNK:
                    self._record(calls, priced, outcomes, notes)
            else:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if calls:
            self._record(calls, priced, outcomes, notes)
        for note, count in notes.items():  # one stats lock per distinct (dialect, gaps), not one per span
            self.stats.note(*note, count=count)
        for outcome, count in outcomes.items():
            self.stats.span(outcome, count)
        return outcomes

    def _record(self, calls: list[CallRecord], priced: list[tuple[str, _Note | None]], outcomes: dict[str, int],
                notes: dict[_Note, int]) -> None:
        """Record a chunk of priced calls under one lock, fold their outcomes and notes in, empty the chunk."""
        for index, error in self.recorder.record_calls(calls):
            _guard.report("agent_span", error)
            self.stats.refuse_spans("error")
            priced[index] = (REJECTED, None)
        for outcome, note in priced:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if note is not None:
                notes[note] = notes.get(note, 0) + 1
        calls.clear()
        priced.clear()

    def span(self, flat: dict[str, Any]) -> str:
        """Read, price and record one flattened span; returns its outcome."""
        outcome, call, note = self._price(flat)
        if call is not None:
            self.recorder.record_call(call)
            if note is not None:
                self.stats.note(*note)
        return outcome

    def _price(self, flat: dict[str, Any]) -> tuple[str, CallRecord | None, _Note | None]:
        """One flattened span read and priced: its outcome, the call to record when it is one, and what to note
        in the agent's stats once it is recorded (its gaps, its sampling)."""
        genai = self.reader(flat)
        if genai is None:
            return IGNORED, None, None
        if genai.already_priced:
            return ALREADY_PRICED, None, None
        weight = _weight(getattr(genai, "sample_weight", 1.0))
        billed = self._bill(genai, flat, weight)
        weighted = weight is not _ONE and weight != _ONE
        reasons = genai.gaps + (SAMPLED,) if weighted else genai.gaps
        call = CallRecord(
            operation=genai.operation,
            provider=genai.provider,
            request_model=genai.request_model or "unknown",
            response_model=genai.response_model or "",
            duration_s=float(genai.duration_s or 0.0),
            error_type=genai.error_type or "",
            pricing_status=billed.status,
            charges=billed.charges,
            attribution=self._attribution(flat, reasons),
            trace=_trace(flat),
        )
        note = (genai.dialect, genai.gaps, weighted) if genai.gaps or weighted else None
        return (PRICED if billed.status in (engine.PRICED, engine.FREE) else UNPRICED), call, note

    def _attribution(self, flat: dict[str, Any], reasons: tuple[str, ...]) -> dict[str, str]:
        """Feature, tenant (the allow-listed keys) from the spans' ``gemini.attribution.*``, and the estimate label.

        Values are capped by the recorder as in the library (OTEL_GEMINI_LABEL_VALUE_LIMIT, then ``_other``).
        """
        out: dict[str, str] = {}
        attributes = flat.get("attributes")
        for key in self.recorder.attribution_keys:
            if key == ESTIMATE_LABEL:
                if reasons:
                    out[key] = _estimate(reasons)
                continue
            value = attributes.get(SPAN_ATTRIBUTE_PREFIX + key) if isinstance(attributes, dict) else None
            if isinstance(value, str) and value:
                out[key] = value[:MAX_VALUE_LENGTH]  # as attributes() truncates in the library
        return out

    def _bill(self, genai: Any, flat: dict[str, Any], weight: Decimal) -> Bill:
        """The span's call through the library's own billing function (pricing/bill.py), weighted by 1/p."""
        usage = extract_usage(genai.usage_metadata) if genai.usage_metadata else None
        if genai.provider_cost is not None:
            # A gateway's own bill (cost.source == "provider") is the truth: adopted as is, never repriced.
            tier = engine.normalize_tier(genai.service_tier or (usage.service_tier if usage else None))
            model_id, _tuned = self.pricer.resolve(genai.response_model or genai.request_model)
            line = CostLine(PROVIDER_COST_TYPE, "text", Decimal(genai.provider_cost))
            return Bill(engine.PRICED, [Charge(scaled(Cost(engine.PRICED, (line,), model_id, tier), weight), usage)])
        start_ns = flat.get("start_ns") or flat.get("end_ns")
        at = start_ns / 1e9 if start_ns else time.time()  # the request's start: the instant dated prices mean
        queries = int(getattr(genai, "search_queries", 0) or 0) or int(bool(genai.grounded))
        error = genai.error_type or ""
        return bill(self.pricer, Facts(
            usage, genai.request_model or genai.response_model, genai.response_model or None, genai.service_tier,
            ((SEARCH, queries),) if queries else (), at, genai.platform or "gemini", getattr(genai, "location", None),
            http_failed=error.isdigit() and int(error) >= 400, weight=weight,
        ))
