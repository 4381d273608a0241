"""Recorded: one finished Gemini call folded into in-process aggregates that every exporter reads.

Why not record straight into OpenTelemetry SDK instruments: each SDK ``add``/``record`` costs several µs (about
20 µs on the 2-core CI machine), and a priced call touches a dozen series. Here a call costs one lock and a few
dict updates; the Prometheus collector reads the aggregates at scrape time and the OTel bridge
(exporters/otel_metrics.py) reports the counters through observable instruments at collection time. Counters
hold exact Decimal dollars until exported.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from otel_gemini import semconv
from otel_gemini.pricing import pacific
from otel_gemini.pricing.bill import Charge  # noqa: F401 - re-exported: Charge lived here before pricing/bill.py
from otel_gemini.series import Histogram, LabelLimiter  # noqa: F401 - re-exported: they lived here

OTHER = "_other"
EXEMPLIFIED = (semconv.COST, semconv.TOKENS, semconv.DURATION)
"""The series that keep the last sampled call's trace as an exemplar (docs/metrics.md "Exemplars")."""
Exemplar = tuple[int, int, Decimal | int | float, float]
"""(trace id, span id, the call's value, Unix time)."""


@dataclass(slots=True)
class CallRecord:
    """What one SDK call produced, as the exporters need it (one call may hold several billed responses)."""

    operation: str
    provider: str
    request_model: str
    response_model: str
    duration_s: float
    error_type: str
    pricing_status: str
    charges: list[Charge] = field(default_factory=list)
    time_to_first_chunk_s: float | None = None
    rpc_status: str = ""
    """google.rpc status name of the error body (``RESOURCE_EXHAUSTED``); "" on success or without a body."""
    attempts: list[tuple[str, str, str]] = field(default_factory=list)
    """(HTTP status, rpc status, "final" | "retried") of every HTTP attempt the call made."""
    quota: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(quota id, unit, window, tier) of every QuotaFailure violation in the call's 429s."""
    tier_downgrade: tuple[str, str] | None = None
    """(requested, served) service tier when the served one was lower."""
    attribution: Mapping[str, str] = field(default_factory=dict)
    """``otel_gemini.attributes(...)`` in force when the call started (allow-listed keys become labels)."""
    trace: tuple[int, int] | None = None
    """(trace id, span id) of the call's span when it was sampled: the exemplar of its cost, tokens and duration."""


COMBINATION_OVERFLOW = "_combination"
"""``otel_gemini_label_overflow_total{label}`` of a call whose combination of user-controlled labels overflowed."""


_HELD = nullcontext()
"""The lock argument of :meth:`Recorder._record_call` inside :meth:`Recorder.record_calls`, which holds it."""

_NEGATIVE_AMOUNT = ("amount", "negative")
"""``otel_gemini_refused_total`` of a negative increment (usage.py refuses negative counts before this)."""


class Recorder:
    """The process's aggregates, updated once per finished call under one lock."""

    def __init__(
        self, *, model_label_limit: int = 50, known_model: Callable[[str], bool] = lambda m: False,
        attribution_keys: tuple[str, ...] = (), label_value_limit: int = 100, combination_limit: int = 1000,
        system_keys: tuple[str, ...] = (),
    ) -> None:
        self._lock = threading.Lock()
        self.counters: dict[semconv.MetricDef, dict[tuple[str, ...], Decimal | int]] = {m: {} for m in semconv.COUNTERS}
        self.histograms: dict[semconv.MetricDef, dict[tuple[str, ...], Histogram]] = {
            m: {} for m in semconv.HISTOGRAMS
        }
        self.gauges: dict[semconv.MetricDef, dict[tuple[str, ...], float]] = {m: {} for m in semconv.GAUGES}
        self._models = LabelLimiter(model_label_limit, known_model)
        self._quota_ids = LabelLimiter(50)
        self.attribution_keys = attribution_keys
        self._attribution_limits = {key: LabelLimiter(label_value_limit) for key in attribution_keys}
        self._no_attribution = ("",) * len(attribution_keys)
        self.combination_limit = combination_limit
        self._combinations: set[tuple[str, ...]] = set()
        self._user_keys = tuple(key not in system_keys for key in attribution_keys)
        """Attribution keys whose values come from users; ``system_keys`` (the agent's estimate) are bounded by
        code and are kept as they are when a combination overflows."""
        """Distinct (unknown request model, unknown response model, attribution values) seen: each label is capped,
        so is their cross product (tenant × feature × model would otherwise reach hundreds of thousands of series)."""
        self._attr = self._no_attribution
        """The attribution label values of the call being recorded (set under the lock)."""
        self.clock: Callable[[], float] = time.time
        self.project = "default"
        """The ``gemini_project`` label the exporters put on every series (OTEL_GEMINI_PROJECT)."""
        self._day_ends = float("-inf")
        self._day = self._month = ""
        self.pending_histograms: list[tuple[semconv.MetricDef, tuple[str, ...], float, Any]] | None = None
        """When an OTel SDK meter is attached, histogram observations wait here for its next collection, with the
        call's (trace id, span id, time) when it was sampled (the OTel exemplar)."""
        self.on_pending_full: Callable[[], None] | None = None
        self.collect_hooks: list[Callable[[], None]] = []
        """Run by every exporter before it reads (cache storage settles caches that expired since the last read)."""
        self.exemplars: dict[semconv.MetricDef, dict[tuple[Any, ...], Exemplar]] = {m: {} for m in EXEMPLIFIED}
        """The last sampled call's (trace id, span id, value, time) per series (a histogram's: per bucket, keyed
        (series key, bucket index)), as prometheus_client keeps one exemplar per series; ids formatted at read."""
        self._trace: tuple[int, int, float] | None = None
        """(trace id, span id, time) of the call being recorded, when its span was sampled (set under the lock)."""

    # -- hot path ------------------------------------------------------------------------------------------

    def _model_label(self, model: str) -> str:
        bounded = self._models(model)
        if bounded is None:
            self._add(semconv.LABEL_OVERFLOW, ("gen_ai_request_model",), 1)
            return OTHER
        return bounded

    def labels_of(self, metric: semconv.MetricDef) -> tuple[str, ...]:
        """The label names of a metric's keys: its own, then the attribution keys if it carries them."""
        return metric.labels + self.attribution_keys if metric.attributed else metric.labels

    def _attribution(self, values: Mapping[str, str]) -> tuple[str, ...]:
        if not self.attribution_keys:
            return ()
        out = []
        for key in self.attribution_keys:
            value = values.get(key, "")
            if value:
                bounded = self._attribution_limits[key](value)
                if bounded is None:
                    self._add(semconv.LABEL_OVERFLOW, (key,), 1)
                    bounded = OTHER
                value = bounded
            out.append(value)
        return tuple(out)

    def _bounded_combination(self, base: tuple[str, ...]) -> tuple[str, ...]:
        """``base`` (and ``self._attr``) as they are, or with every user-controlled value ``_other`` once the
        combination cap is reached: the call's dollars still land, on the ``_other`` series."""
        known = self._models.known
        if self._attr is self._no_attribution and (not base[2] or known(base[2])) and (not base[3] or known(base[3])):
            return base  # the common call: known models, no attribution; nothing user-controlled to count
        user = tuple("" if not value or self._models.known(value) else value for value in base[2:4]) + tuple(
            value if is_user else "" for value, is_user in zip(self._attr, self._user_keys, strict=False))
        if not any(user) or user in self._combinations:
            return base
        if len(self._combinations) < self.combination_limit:
            self._combinations.add(user)
            return base
        self._add(semconv.LABEL_OVERFLOW, (COMBINATION_OVERFLOW,), 1)
        self._attr = tuple(OTHER if value else real for value, real in zip(user[2:], self._attr, strict=False))
        models = tuple(OTHER if value else real for value, real in zip(user[:2], base[2:4], strict=False))
        return base[:2] + models + base[4:]

    def _add(self, metric: semconv.MetricDef, key: tuple[str, ...], amount: Decimal | int) -> None:
        if metric.attributed:
            key += self._attr
        if amount < 0:  # no counter ever goes down: Prometheus would read a reset and invent an increase
            refused = self.counters[semconv.REFUSED]
            refused[_NEGATIVE_AMOUNT] = refused.get(_NEGATIVE_AMOUNT, 0) + 1
            return
        series = self.counters[metric]
        series[key] = series.get(key, 0) + amount

    def _observe(self, metric: semconv.MetricDef, key: tuple[str, ...], value: float) -> tuple[str, ...]:
        if metric.attributed:
            key += self._attr
        series = self.histograms[metric]
        hist = series.get(key)
        if hist is None:
            hist = series[key] = Histogram(metric.buckets)
        hist.observe(value)
        if self.pending_histograms is not None:
            self.pending_histograms.append((metric, key, value, self._trace))
        return key

    def _add_traced(self, metric: semconv.MetricDef, key: tuple[str, ...], amount: Decimal | int) -> None:
        """:meth:`_add` (its negative-amount guard included) for an attributed metric that carries exemplars: one
        tuple stored when the call is traced."""
        self._add(metric, key, amount)
        trace = self._trace
        if trace is not None and amount >= 0:
            self.exemplars[metric][key + self._attr] = (trace[0], trace[1], amount, trace[2])

    def _charge(self, base: tuple[str, ...], charge: Charge) -> None:
        usage = charge.usage
        if usage is not None:
            for token_type, modality, count in usage.token_classes():
                self._add_traced(semconv.TOKENS, base + (token_type, modality), count)
        cost = charge.cost
        for line in cost.lines:
            self._add_traced(semconv.COST, base + (line.cost_type, line.modality, cost.service_tier), line.amount)
        if cost.lines:
            self._add(semconv.COST_PACIFIC_MONTH, (base[1], self._month), cost.total)
        if cost.list_price:
            self._add(semconv.PAID_TIER_EQUIVALENT, base, cost.list_price)
        for tool, unit, count in charge.grounding:
            self._add(semconv.GROUNDING_UNITS, base + (tool, unit), count)
        for scenario, amount in charge.whatif:
            self._add(semconv.WHATIF_COST, base + (scenario,), amount)

    def _charge_base(self, provider: str, charge: Charge, call_base: tuple[str, ...] | None) -> tuple[str, ...]:
        if call_base is not None and charge.operation is None and charge.request_model is None:
            return call_base
        model = charge.request_model or (call_base[2] if call_base else "unknown")
        response = charge.response_model
        return (
            charge.operation or (call_base[0] if call_base else "unknown"),
            provider,
            self._model_label(model) if charge.request_model else model,
            self._model_label(response) if response else "",
        )

    def record_call(self, call: CallRecord) -> None:
        self._record_call(call, self._lock, flush=True)

    def record_calls(self, calls: Iterable[CallRecord]) -> list[tuple[int, Exception]]:
        """Many calls under one lock (the agent's whole Export request): one acquire instead of one per span.

        A call that fails costs itself only: the others are still recorded, and the failures come back as
        (index, exception) for the caller to count.
        """
        failures: list[tuple[int, Exception]] = []
        with self._lock:
            for index, call in enumerate(calls):
                try:
                    self._record_call(call, _HELD, flush=False)
                except Exception as failure:  # noqa: BLE001 - counted by the caller, per call
                    failures.append((index, failure))
            full = self.pending_histograms is not None and len(self.pending_histograms) >= 4096
        if full and self.on_pending_full is not None:
            self.on_pending_full()
        return failures

    def _record_call(self, call: CallRecord, lock: AbstractContextManager[Any], flush: bool) -> None:
        """record_call's body; ``lock`` is the recorder's, or :data:`_HELD` when record_calls already holds it."""
        full = False
        with lock:
            base: tuple[str, ...] = (
                call.operation,
                call.provider,
                self._model_label(call.request_model),
                self._model_label(call.response_model) if call.response_model else "",
            )
            self._roll_calendar()
            self._attr = self._attribution(call.attribution) if call.attribution else self._no_attribution
            trace = self._trace = (call.trace[0], call.trace[1], self.clock()) if call.trace is not None else None
            base = self._bounded_combination(base)
            self._add(semconv.REQUESTS, base + (call.error_type, call.rpc_status, call.pricing_status), 1)
            if call.operation in semconv.QUOTA_OPERATIONS:
                self._add(semconv.REQUESTS_PACIFIC_DAY, (call.provider, base[2], self._day), 1)
            for attempt in call.attempts:
                self._add(semconv.HTTP_ATTEMPTS, base + attempt, 1)
            for quota_id, unit, window, tier in call.quota:
                bounded = self._quota_ids(quota_id)
                if bounded is None:
                    self._add(semconv.LABEL_OVERFLOW, ("gemini_quota_id",), 1)
                self._add(semconv.QUOTA_EXCEEDED, (call.provider, base[2], bounded or OTHER, unit, window, tier), 1)
            if call.tier_downgrade is not None:
                self._add(semconv.TIER_DOWNGRADES, base + call.tier_downgrade, 1)
            key = self._observe(semconv.DURATION, base + (call.error_type,), call.duration_s)
            if trace is not None:
                bucket = bisect_left(semconv.DURATION_BUCKETS, call.duration_s)
                self.exemplars[semconv.DURATION][(key, bucket)] = (trace[0], trace[1], call.duration_s, trace[2])
            if call.time_to_first_chunk_s is not None:
                self._observe(semconv.TIME_TO_FIRST_CHUNK_METRIC, base, call.time_to_first_chunk_s)
            input_tokens = output_tokens = 0
            own_usage = False
            for charge in call.charges:
                charge_base = self._charge_base(call.provider, charge, base)
                self._charge(charge_base, charge)
                usage = charge.usage
                if usage is not None and charge_base is base:
                    own_usage = True
                    input_tokens += usage.input_total + usage.cache_read_total + usage.tool_use_total
                    output_tokens += usage.output_total + usage.reasoning
            if own_usage:
                self._observe(semconv.TOKEN_USAGE, base + ("input",), input_tokens)
                self._observe(semconv.TOKEN_USAGE, base + ("output",), output_tokens)
            if self.pending_histograms is not None and len(self.pending_histograms) >= 4096:
                full = True
        if full and flush and self.on_pending_full is not None:
            self.on_pending_full()

    def record_charges(self, provider: str, charges: Iterable[Charge]) -> None:
        """Charges that belong to no SDK call in flight (cache storage settled at expiry): costs and tokens only."""
        with self._lock:
            self._roll_calendar()
            self._attr = self._no_attribution
            self._trace = None
            for charge in charges:
                self._charge(self._charge_base(provider, charge, None), charge)

    def _roll_calendar(self) -> None:
        """At each Pacific midnight: name the new day (and month), forget windows older than the previous one.

        Usage keyed by day is what makes "requests today, Pacific" right across replicas in PromQL
        (docs/quota.md); a series for yesterday is kept one more day so the last scrape of it is not lost.
        """
        now = self.clock()
        if now < self._day_ends:
            return
        today = pacific.pacific_date(now)
        yesterday = today - timedelta(days=1)
        self._day, self._month = today.isoformat(), today.isoformat()[:7]
        self._day_ends = pacific.day_start_epoch(today + timedelta(days=1))
        keep_days = {self._day, yesterday.isoformat()}
        keep_months = {self._month, yesterday.isoformat()[:7]}
        days = self.counters[semconv.REQUESTS_PACIFIC_DAY]
        for key in [k for k in days if k[-1] not in keep_days]:
            del days[key]
        months = self.counters[semconv.COST_PACIFIC_MONTH]
        for key in [k for k in months if k[-1] not in keep_months]:
            del months[key]
        self.gauges[semconv.PACIFIC_CALENDAR] = {(self._day, self._month): 1.0}
        next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        self.gauges[semconv.PACIFIC_MONTH_END] = {(): pacific.day_start_epoch(next_month)}

    def count(self, metric: semconv.MetricDef, key: tuple[str, ...], amount: Decimal | int = 1) -> None:
        with self._lock:
            self._add(metric, key, amount)

    def set_gauge(self, metric: semconv.MetricDef, key: tuple[str, ...], value: float) -> None:
        with self._lock:
            self.gauges.setdefault(metric, {})[key] = value

    def replace_gauge(self, metric: semconv.MetricDef, series: Mapping[tuple[str, ...], float]) -> None:
        """Every series of a gauge at once: an info gauge's old label set disappears as the new one appears."""
        with self._lock:
            self.gauges[metric] = dict(series)

    def add_gauge(self, metric: semconv.MetricDef, key: tuple[str, ...], delta: float) -> None:
        """Move a gauge by ``delta`` (live cached tokens, enqueued batch tokens); never below zero."""
        with self._lock:
            series = self.gauges.setdefault(metric, {})
            series[key] = max(0.0, series.get(key, 0.0) + delta)

    # -- read side -----------------------------------------------------------------------------------------

    def before_read(self) -> None:
        with self._lock:
            self._roll_calendar()  # an idle process still turns the page at midnight
        for hook in list(self.collect_hooks):
            try:
                hook()
            except Exception as failure:
                from otel_gemini import _guard

                _guard.report("collect_hook", failure)

    def counter_values(self, metric: semconv.MetricDef) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return [(key, float(value)) for key, value in self.counters[metric].items()]

    def exact_values(self, metric: semconv.MetricDef) -> list[tuple[tuple[str, ...], Decimal | int]]:
        """A counter's series as held (exact Decimal dollars): the page's sums equal the bill to the cent."""
        with self._lock:
            return list(self.counters[metric].items())

    def histogram_values(self, metric: semconv.MetricDef) -> list[tuple[tuple[str, ...], list[int], float, int]]:
        with self._lock:
            return [(k, list(h.counts), h.sum, h.count) for k, h in self.histograms[metric].items()]

    def gauge_values(self, metric: semconv.MetricDef) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return list(self.gauges.get(metric, {}).items())

    def exemplar_values(self, metric: semconv.MetricDef) -> dict[tuple[Any, ...], Exemplar]:
        with self._lock:
            return dict(self.exemplars.get(metric, {}))

    def take_pending(self) -> Iterable[tuple[semconv.MetricDef, tuple[str, ...], float, Any]]:
        with self._lock:
            pending = self.pending_histograms
            if not pending:
                return ()
            self.pending_histograms = []
        return pending
