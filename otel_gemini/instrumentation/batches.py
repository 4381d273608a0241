"""client.batches (sync and async): spans for every job call, the job's bill when its results are read, gauges.

Nothing a batch call does is billed by itself (create, get, list, cancel, delete are free); the bill is the
job's work, which becomes visible only in a finished job's inlined responses. So:

* ``get`` of a finished job prices its inlined responses once per process at Batch rates
  (otel_gemini/billing/batch_results.py), labelled ``generate_content`` (or ``embeddings``) on the job's model and
  ``gemini_service_tier="batch"``; the ``get_batch`` call itself keeps its own labels;
* ``list`` updates the state gauges but prices nothing: a page lists every job of the project, including jobs
  other services submitted and will read themselves, so pricing there would make every process that lists
  (dashboards, clean-up crons) count the whole project's batch spend;
* results in a file (``dest.fileName``) are not downloaded on the user's behalf: the job is counted
  ``unmetered`` once, with its ``batchStats`` counts on the span.

Raw bodies are read (``on_raw``) rather than the SDK's ``BatchJob``: the wire has ``usageMetadata`` exactly as
Google bills it, and the same parser serves the agent. ``list`` is wrapped at ``_list`` because the public
method returns a pager that fetches later pages after it returned; ``_list`` is the one request per page.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from otel_gemini import semconv
from otel_gemini.billing.batch_results import (
    Job,
    PricedJobs,
    estimate_tokens,
    job_key,
    model_label,
    price_job,
    read_job,
    successful_count,
)
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, wrap
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine
from otel_gemini.recording import Recorder

_MODULE = "google.genai.batches"


class _Tracked:
    __slots__ = ("provider", "model", "state", "enqueued")

    def __init__(self, provider: str, model: str, state: str, enqueued: int) -> None:
        self.provider, self.model, self.state, self.enqueued = provider, model, state, enqueued


class JobTracker:
    """Last known state and enqueued-token estimate of the jobs this process has seen; moves both gauges.

    Bounded: past ``limit`` jobs the oldest is forgotten and its contribution leaves the gauges, so the gauges
    describe the jobs this process remembers, never an ever-growing count.
    """

    def __init__(self, recorder: Recorder, limit: int = 10_000) -> None:
        self.recorder = recorder
        self.limit = limit
        self._jobs: OrderedDict[str, _Tracked] = OrderedDict()
        self._lock = threading.Lock()

    def model_of(self, name: Any) -> str | None:
        with self._lock:
            tracked = self._jobs.get(job_key(name)) if name else None
            return tracked.model if tracked else None

    def _move(self, tracked: _Tracked, state: str | None) -> None:
        """Leave the old state's series (None: forget the job) and join the new one."""
        jobs, labels = semconv.BATCH_JOBS, (tracked.provider, tracked.model)
        if tracked.state:
            self.recorder.add_gauge(jobs, labels + (tracked.state,), -1)
        if state:
            self.recorder.add_gauge(jobs, labels + (state,), 1)
        tracked.state = state or ""

    def _release(self, tracked: _Tracked) -> None:
        if tracked.enqueued:
            self.recorder.add_gauge(semconv.BATCH_ENQUEUED, (tracked.provider, tracked.model), -tracked.enqueued)
            tracked.enqueued = 0

    def seen(self, provider: str, job: Job, enqueued: int = 0) -> None:
        """A job body came back (create, get, list): record its state; a terminal job holds no more quota."""
        key = job_key(job.name)
        with self._lock:
            tracked = self._jobs.get(key)
            if tracked is None:
                tracked = self._jobs[key] = _Tracked(provider, job.model, "", 0)
                if enqueued and not job.terminal:
                    tracked.enqueued = enqueued
                    self.recorder.add_gauge(semconv.BATCH_ENQUEUED, (provider, job.model), enqueued)
                while len(self._jobs) > self.limit:
                    _, oldest = self._jobs.popitem(last=False)
                    self._release(oldest)
                    self._move(oldest, None)
            if tracked.state != job.state:
                self._move(tracked, job.state)
            if job.terminal:
                self._release(tracked)

    def cancelled(self, name: str) -> None:
        """A cancel was accepted: the job stops counting against the enqueued quota (its state comes with get)."""
        with self._lock:
            tracked = self._jobs.get(job_key(name))
            if tracked is not None:
                self._release(tracked)

    def deleted(self, name: str) -> None:
        with self._lock:
            tracked = self._jobs.pop(job_key(name), None)
            if tracked is not None:
                self._release(tracked)
                self._move(tracked, None)


def _job_name(path: str) -> str:
    """``batches/abc:cancel?x=1`` -> ``abc``."""
    return job_key(path.split("?", 1)[0].split(":", 1)[0])


class _Hooks:
    """The Operation hooks of one instrumentation: the job tracker and the already-priced set they share."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.tracker = JobTracker(telemetry.recorder)
        self.priced = PricedJobs()
        self._estimates: dict[int, int] = {}
        self._lock = threading.Lock()

    # -- model of a call ------------------------------------------------------------------------------------

    def model_of_name(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """get/cancel/delete name a job, not a model: use the job's model when this process has seen it."""
        return self.tracker.model_of(kwargs.get("name", args[0] if args else None))

    @staticmethod
    def no_model(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        return None

    # -- create ---------------------------------------------------------------------------------------------

    def on_create_start(self, state: CallState, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Estimate the inlined requests' tokens now (the response does not echo them) for the enqueued gauge."""
        estimate = estimate_tokens(kwargs.get("src"))
        with self._lock:
            if len(self._estimates) > 1000:  # calls that failed never collected theirs
                self._estimates.clear()
            self._estimates[id(state)] = estimate

    def on_create(self, state: CallState, method: str, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            estimate = self._estimates.pop(id(state), 0)
        job = read_job(body)
        if job is None:
            return
        if job.model == "unknown":
            job.model = model_label(state.request_model)
        self.tracker.seen(state.endpoint.provider, job, estimate)
        _job_attributes(state, job)
        if state.span.is_recording():
            state.span.set_attribute(semconv.BATCH_ENQUEUED_ESTIMATE, estimate)

    # -- get / list -----------------------------------------------------------------------------------------

    def on_get(self, state: CallState, method: str, path: str, body: dict[str, Any]) -> None:
        job = read_job(body)
        if job is None:
            return
        self.tracker.seen(state.endpoint.provider, job)
        _job_attributes(state, job)
        has_results = job.inlined is not None or job.results_file is not None or successful_count(job.stats) > 0
        if not (job.terminal and has_results):
            return
        span = state.span
        if not self.priced.claim(job.name):
            if span.is_recording():
                span.set_attribute(semconv.BATCH_ALREADY_PRICED, True)
            return
        endpoint = state.endpoint
        bill = price_job(
            job, self.telemetry.pricer, fallback_at=state.wall_started, platform=endpoint.platform,
            location=endpoint.location,
        )
        for charge in bill.charges:
            state.add_charge(charge)
        if span.is_recording():
            failed = bill.failed
            if job.inlined is None:
                failed = int(job.stats.get("failedRequestCount") or job.stats.get("failedCount") or 0)
                span.set_attribute(semconv.BATCH_RESULTS, "file")
            span.set_attribute(semconv.BATCH_SUCCEEDED_REQUESTS, bill.succeeded or successful_count(job.stats))
            span.set_attribute(semconv.BATCH_FAILED_REQUESTS, failed)

    def on_list(self, state: CallState, method: str, path: str, body: dict[str, Any]) -> None:
        jobs = body.get("operations") or body.get("batchPredictionJobs") or ()
        provider = state.endpoint.provider
        for raw in jobs:
            job = read_job(raw) if isinstance(raw, dict) else None
            if job is not None:
                self.tracker.seen(provider, job)

    # -- cancel / delete ------------------------------------------------------------------------------------

    def on_cancel(self, state: CallState, method: str, path: str, body: dict[str, Any]) -> None:
        self.tracker.cancelled(_job_name(path))

    def on_delete(self, state: CallState, method: str, path: str, body: dict[str, Any]) -> None:
        if method == "DELETE":
            self.tracker.deleted(_job_name(path))


def _job_attributes(state: CallState, job: Job) -> None:
    span = state.span
    if span.is_recording():
        span.set_attribute(semconv.BATCH_JOB_NAME, job.name)
        span.set_attribute(semconv.BATCH_STATE, job.state)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap Batches/AsyncBatches create, create_embeddings, get, _list (one per page), cancel, delete."""
    hooks = _Hooks(telemetry)
    unbilled = engine.UNBILLED  # the calls themselves are free; a finished job's first read carries its bill
    create = Operation(semconv.OP_CREATE_BATCH, on_start=hooks.on_create_start, on_raw=hooks.on_create,
                       unmetered_status=unbilled)
    operations = {
        "create": create,
        "create_embeddings": create,
        "get": Operation(semconv.OP_GET_BATCH, model=hooks.model_of_name, on_raw=hooks.on_get,
                         unmetered_status=unbilled),
        "_list": Operation(semconv.OP_LIST_BATCHES, model=hooks.no_model, on_raw=hooks.on_list,
                           unmetered_status=unbilled),
        "cancel": Operation(semconv.OP_CANCEL_BATCH, model=hooks.model_of_name, on_raw=hooks.on_cancel,
                            unmetered_status=unbilled),
        "delete": Operation(semconv.OP_DELETE_BATCH, model=hooks.model_of_name, on_raw=hooks.on_delete,
                            unmetered_status=unbilled),
    }
    wrapped: list[tuple[Any, str]] = []
    for owner, is_async in (("Batches", False), ("AsyncBatches", True)):
        for method, op in operations.items():
            pair = wrap(telemetry, _MODULE, f"{owner}.{method}", op, is_async)
            if pair is not None:
                wrapped.append(pair)
    return wrapped
