"""The lifecycle of one instrumented SDK call: start, billed responses (hops) as they arrive, finish once.

Sync, async and streaming paths all drive this one class; they differ only in how they wait. One SDK call can
send several billed HTTP requests (automatic continuation, automatic function calling, stream reconnects), and
the usage the SDK hands back is not their bill, so each billed response is recorded as a :class:`Hop` by the
per-request wrappers (instrumentation/models.py) and priced on its own at finish.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from otel_gemini import _guard, attribution, semconv
from otel_gemini.instrumentation import scrub
from otel_gemini.instrumentation._span_attributes import error_type_of, span_attributes
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine
from otel_gemini.pricing.bill import Bill, Facts, bill, status_of
from otel_gemini.recording import CallRecord, Charge
from otel_gemini.usage import Usage, extract_usage

current_call: ContextVar[CallState | None] = ContextVar("otel_gemini_current_call", default=None)

_TIER_HEADER = "x-gemini-service-tier"


@dataclass(frozen=True)
class Endpoint:
    """Where a client sends its requests: decides provider, platform and server.* attributes."""

    provider: str
    platform: str
    address: str | None
    port: int | None
    location: str | None = None
    """Vertex location: anything but "global" pays the regional-endpoint surcharge since 2026-07-01."""


class Hop:
    """One billed HTTP response: for a stream, its chunks' running usage (the last one is the hop's bill)."""

    __slots__ = (
        "usage_metadata", "model_version", "service_tier", "body_tier", "grounded", "grounding_tool", "search_queries",
        "failed",
    )

    def __init__(self) -> None:
        self.usage_metadata: Any = None
        self.model_version: str | None = None
        self.service_tier: str | None = None
        self.body_tier: str | None = None
        """``usageMetadata.serviceTier`` of the raw body (the SDK parses it away): the tier when no header says."""
        self.grounded = False
        self.grounding_tool = ""
        self.search_queries = 0
        self.failed = False

    def observe(self, response: Any) -> None:
        """Keep what billing needs from one parsed response (or stream chunk) of this request."""
        usage = response.usage_metadata
        if usage is not None:
            self.usage_metadata = usage
        if response.model_version:
            self.model_version = response.model_version
        http = response.sdk_http_response
        headers = http.headers if http is not None else None
        if headers:
            tier = headers.get(_TIER_HEADER) or headers.get("X-Gemini-Service-Tier")
            if tier:
                self.service_tier = tier
        candidates = response.candidates
        if candidates:
            grounding = candidates[0].grounding_metadata
            if grounding is not None:
                queries = len(grounding.web_search_queries or ())
                maps = any(getattr(c, "maps", None) for c in grounding.grounding_chunks or ())
                if queries or maps:
                    # Search/Maps retrieved context is "not charged as input tokens" (pricing page, Gemini 3
                    # notes); the fee is per grounded prompt (2.x) or per search query (3.x).
                    self.grounded = True
                    self.grounding_tool = "google_maps" if maps and not queries else "google_search"
                    self.search_queries = max(self.search_queries, queries or 1)


def body_tier(state: CallState, _method: str, _path: str, body: dict[str, Any]) -> None:
    """``usageMetadata.serviceTier`` of a raw generateContent body, onto the hop in flight (docs/metrics.md: the
    tier as served is the header's, else this field's); the SDK's parsed response does not keep it."""
    usage = body.get("usageMetadata")
    tier = usage.get("serviceTier") if isinstance(usage, dict) else None
    if tier and state.hops:
        state.hops[-1].body_tier = str(tier)


body_tier.needle = '"serviceTier"'  # type: ignore[attr-defined]  # _raw parses only bodies that name the field


def _open_span(telemetry: Telemetry, name: str, attributes: dict[str, Any]) -> Any:
    """The call's span, or a non-recording one when the tracing pipeline fails (a tracer's ``start_span`` or a
    processor's ``on_start`` raising): a failing tracer costs the span, never the call's count or its cost."""
    try:
        return telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    except Exception as failure:
        _guard.report("span", failure)
        return INVALID_SPAN


class CallState:
    """One SDK call in flight; ``finish`` runs exactly once, whichever path ends the call."""

    __slots__ = (
        "telemetry", "operation", "request_model", "endpoint", "span", "started", "wall_started", "hops",
        "first_chunk_at", "finished", "last_response", "charges", "on_raw", "chunk_hook", "unmetered_status",
        "context", "attempts", "quota", "rpc_status", "requested_tier", "attribution",
        "owns_span", "finish_hooks", "api_key", "request_contents", "_scrubber",
    )

    def __init__(
        self, telemetry: Telemetry, operation: str, request_model: str, endpoint: Endpoint, stream: bool,
        unmetered_status: str = engine.UNMETERED, span: Any = None,
    ) -> None:
        self.telemetry = telemetry
        self.operation = operation
        self.request_model = request_model
        self.endpoint = endpoint
        self.hops: list[Hop] = []
        self.charges: list[Charge] = []
        self.first_chunk_at: float | None = None
        self.finished = False
        self.last_response: Any = None
        self.chunk_hook: Any = None
        self.on_raw: Any = None
        """Set by operations that read raw response bodies (instrumentation/_operation.py)."""
        self.unmetered_status = unmetered_status
        """The status of a call that succeeded and charged nothing (count_tokens: unbilled)."""
        self.attempts: list[tuple[str, str, str]] = []
        """(HTTP status, rpc status, "final" | "retried") per HTTP attempt (instrumentation/attempts.py)."""
        self.quota: list[tuple[str, str, str, str]] = []
        """(quota id, unit, window, tier) per QuotaFailure violation seen in this call's 429s."""
        self.rpc_status = ""
        """google.rpc status of the error that ended the call, when its body had one."""
        self.requested_tier: str | None = None
        """The service tier the request asked for (config ``service_tier``), to count downgrades."""
        self.context: Any = None
        """What a surface keeps between its hooks (e.g. the cache name a failed ``caches.get`` asked for)."""
        attributes: dict[str, Any] = {
            semconv.OPERATION: operation,
            semconv.PROVIDER: endpoint.provider,
            semconv.REQUEST_MODEL: request_model,
        }
        if endpoint.address:
            attributes[semconv.SERVER_ADDRESS] = endpoint.address
            if endpoint.port:
                attributes[semconv.SERVER_PORT] = endpoint.port
        if stream:
            attributes[semconv.REQUEST_STREAM] = True
        self.attribution = attribution.current(telemetry.baggage_keys)
        if self.attribution:
            for key, value in self.attribution.items():
                attributes[attribution.SPAN_ATTRIBUTE_PREFIX + key] = value
        self.api_key: Any = None
        """The client's API key (a reference): scrubbed from whatever an error makes us export (scrub.py)."""
        self.request_contents: Any = None
        """The request's contents when content is not captured: their runs are scrubbed from error messages."""
        self._scrubber: scrub.Scrubber | None = None
        self.finish_hooks: list[Any] = []
        """``hook(state, result, error)`` run at finish before the span ends (content capture)."""
        self.owns_span = span is None
        """False when the call reports on a span it did not open (another instrumentation's; coexist.py)."""
        if span is None:
            span = _open_span(telemetry, f"{operation} {request_model}", attributes)
        self.span = span
        self.wall_started = time.time()
        self.started = time.perf_counter()

    def scrubber(self) -> scrub.Scrubber:
        """Built on the first error only: the success path keeps two references and nothing more."""
        if self._scrubber is None:
            self._scrubber = scrub.for_call(self.api_key, self.request_contents)
        return self._scrubber

    # -- hops ----------------------------------------------------------------------------------------------

    def new_hop(self) -> Hop:
        hop = Hop()
        self.hops.append(hop)
        return hop

    def add_charge(self, charge: Charge) -> Charge:
        self.charges.append(charge)
        return charge

    def charge_tokens(
        self, model: str | None, usage: Usage | None, *, service_tier: str | None = None,
        grounding: tuple[tuple[str, int], ...] = (), operation: str | None = None, response_model: str | None = None,
    ) -> Bill:
        """Price one billed response's usage (None: unmetered) and its grounding fees as charges of this call.

        ``model`` is the model the response bills as (None: the call's); ``response_model`` the one it names.
        """
        endpoint = self.endpoint
        billed = bill(self.telemetry.pricer, Facts(
            usage, model or self.request_model, response_model, service_tier, grounding, self.wall_started,
            endpoint.platform, endpoint.location,
        ))
        label = self._other_model(model, operation)
        for index, charge in enumerate(billed.charges):
            charge.operation, charge.request_model = operation, label
            if index == 0:
                charge.response_model = response_model
        self.charges.extend(billed.charges)
        return billed

    def charge_units(
        self, model: str | None, unit: str, count: int | Decimal, *, variant: str = "default",
        operation: str | None = None,
    ) -> engine.Cost:
        """Per-unit media (images returned, seconds of video) as a charge of this call."""
        endpoint = self.endpoint
        cost = self.telemetry.pricer.units(
            model or self.request_model, unit, count, at=self.wall_started, variant=variant,
            platform=endpoint.platform, location=endpoint.location,
        )
        self.add_charge(Charge(cost, None, operation, self._other_model(model, operation)))
        return cost

    def _other_model(self, model: str | None, operation: str | None) -> str | None:
        """A charge's own model label, when it is not the call's (None keeps the call's labels)."""
        if model and (operation or model != self.request_model):
            return model
        return self.request_model if operation else None

    def on_chunk(self, chunk: Any) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()
        self.last_response = chunk
        if self.chunk_hook is not None:
            self.chunk_hook(chunk)

    # -- finish --------------------------------------------------------------------------------------------

    def finish(self, error: BaseException | None = None, result: Any = None, abandoned: bool = False) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            self._finish(error, result if result is not None else self.last_response, abandoned)
        except Exception as failure:  # never let telemetry reach the caller
            _guard.report("finish", failure)
            try:
                if self.owns_span:
                    self.span.end()
            except Exception:
                pass
        # A chunk hook may hold this state (a partial or a capture's bound method: state -> hook -> state): left
        # set, the finished call would wait for the cyclic GC with its span, hops and charges.
        self.on_raw = self.chunk_hook = None

    def _charge_hops(self) -> None:
        """Each billed HTTP response of a generate call: its tokens, and its grounding fee (pricing/bill.py)."""
        pricer = self.telemetry.pricer
        endpoint = self.endpoint
        for hop in self.hops:
            usage = extract_usage(hop.usage_metadata) if not hop.failed else None
            billed = bill(pricer, Facts(
                usage, self.request_model, hop.model_version, hop.service_tier or hop.body_tier,
                ((hop.grounding_tool, hop.search_queries),) if hop.grounded else (), self.wall_started,
                endpoint.platform, endpoint.location, hop.failed,
            ))
            self.charges.extend(billed.charges)

    def _downgrade(self) -> tuple[str, str] | None:
        """Priority asked, a lower tier served (the x-gemini-service-tier header says so): billed as served."""
        if self.requested_tier is None:
            return None
        requested = engine.normalize_tier(self.requested_tier)
        for hop in self.hops:
            tier = hop.service_tier or hop.body_tier
            if tier and not hop.failed:
                served = engine.normalize_tier(tier)
                if requested == "priority" and served != "priority":
                    return requested, served
        return None

    def _status(self, error: BaseException | None) -> str:
        """The call's status is its most telling charge's: one unpriced charge makes the call's cost incomplete."""
        if error is None and not self.charges:
            return self.unmetered_status  # succeeded without a response we could price
        return status_of(self.charges)

    def _finish(self, error: BaseException | None, result: Any, abandoned: bool) -> None:
        duration = time.perf_counter() - self.started
        self._charge_hops()
        status = self._status(error)
        error_type = error_type_of(error) if error is not None else ""
        response_model = next((h.model_version for h in reversed(self.hops) if h.model_version), "") or ""
        ttfc = self.first_chunk_at - self.started if self.first_chunk_at is not None else None
        context = self.span.get_span_context()
        self.telemetry.recorder.record_call(
            CallRecord(
                operation=self.operation, provider=self.endpoint.provider, request_model=self.request_model,
                response_model=response_model, duration_s=duration, error_type=error_type, pricing_status=status,
                charges=self.charges, time_to_first_chunk_s=ttfc, rpc_status=self.rpc_status,
                attempts=self.attempts, quota=self.quota, tier_downgrade=self._downgrade(),
                attribution=self.attribution,
                trace=(context.trace_id, context.span_id) if context.trace_flags.sampled else None,
            )
        )
        self._report_on_span(error, error_type, status, response_model, result, ttfc, abandoned)

    def _report_on_span(
        self, error: BaseException | None, error_type: str, status: str, response_model: str, result: Any,
        ttfc: float | None, abandoned: bool,
    ) -> None:
        """Attributes, the exception and the end: a failing span processor (``on_end``) or exporter costs the span,
        never the call's metrics (recorded before) nor its content hooks."""
        span = self.span
        try:
            if span.is_recording():
                attributes = span_attributes(
                    self.charges, status, response_model, result, ttfc, len(self.hops),
                    self.telemetry.settings.span_cost_attribute,
                )
                if self.attempts:  # the final count, set once (attempts.py no longer sets it per attempt)
                    attributes[semconv.HTTP_ATTEMPT_COUNT] = len(self.attempts)
                span.set_attributes(attributes)
                if abandoned:
                    span.set_attribute(semconv.STREAM_ABANDONED, True)
                if error is not None and self.owns_span:
                    span.set_attribute(semconv.ERROR_TYPE, error_type)
                    span.set_status(Status(StatusCode.ERROR, error_type))
                    scrub.record_exception(span, error, self.scrubber())
        except Exception as failure:
            _guard.report("span", failure)
        for hook in self.finish_hooks:
            try:
                hook(self, result, error)
            except Exception as failure:
                _guard.report("finish_hook", failure)
        if self.owns_span:
            try:
                span.end()
            except Exception as failure:
                _guard.report("span", failure)
