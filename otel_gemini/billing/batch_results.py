"""Batch jobs read as bills: a job's raw JSON in, one charge per successful inlined response out.

A batch job is billed when Google runs it, but its usage only becomes visible when someone reads the finished
job (``batches.get``). So the job's results are priced when they are read, once per process, at the model's
Batch rates (billing reference §2.7: "priced at 50% of the standard interactive API cost"). Three decisions:

* **Which price date.** A job's responses are priced at the job's ``createTime`` -- the prices in force when
  the work was submitted -- not at the time someone happens to read the results (that can be days later, and a
  dated price change such as 4 Argon's on 2026-12-01 would otherwise depend on when a dashboard polled).
  Google does not say which instant it uses [I]; a job that straddles a price change may be billed differently.
* **Failed requests cost nothing.** An inlined entry with ``error`` instead of ``response`` is counted, never
  charged (billing reference §2.11).
* **Once per process.** :class:`PricedJobs` remembers the names of the last 10,000 jobs priced here; another
  process reading the same job prices it again (docs/batches.md explains and gives the mitigation).

This module knows neither the SDK nor OpenTelemetry (the agent reuses it): raw camelCase bodies as the REST API
sends them (Developer API operations ``{name, metadata: {...}}`` and Vertex ``batchPredictionJobs``), a
:class:`~otel_gemini.pricing.pricer.Pricer`, and :class:`~otel_gemini.recording.Charge` records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from otel_gemini import semconv
from otel_gemini.billing.once import OncePerKey
from otel_gemini.pricing import engine
from otel_gemini.pricing.bill import Facts
from otel_gemini.pricing.bill import bill as price_bill
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.recording import Charge
from otel_gemini.usage import extract_usage

BATCH_TIER = "batch"
TERMINAL_STATES = frozenset({"succeeded", "partially_succeeded", "failed", "cancelled", "expired"})
_STATE_PREFIX = re.compile(r"^(?:BATCH_STATE_|JOB_STATE_)")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_TEXT_KEYS = frozenset({"text", "contents", "content", "parts", "system_instruction", "systemInstruction"})
CHARS_PER_TOKEN = 4
"""The enqueued-tokens estimate (semconv BATCH_ENQUEUED): the API reports no token count before a job ends."""


def normalize_state(state: Any) -> str:
    """``BATCH_STATE_SUCCEEDED`` (Developer API wire), ``JOB_STATE_SUCCEEDED`` (SDK 2.x/3.x, Vertex)
    -> ``succeeded``."""
    name = str(getattr(state, "value", state) or "").strip()
    return _STATE_PREFIX.sub("", name).lower() or "unspecified"


def model_label(model: Any) -> str:
    """``models/gemini-2.5-flash`` or ``publishers/google/models/x`` -> the id an app would pass as ``model=``."""
    text = str(model or "").strip()
    return text.rsplit("/", 1)[-1] if text else "unknown"


def job_key(name: Any) -> str:
    """The job's id, whatever spelling the caller used (``batches/abc``, ``abc``, a Vertex resource path)."""
    return str(name or "").rstrip("/").rsplit("/", 1)[-1]


def parse_time(value: Any) -> float | None:
    """RFC 3339 (nanosecond fractions included, as Google sends them) -> Unix seconds; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@dataclass
class Job:
    """What billing needs from one batch job body, in either API's shape."""

    name: str
    model: str
    state: str
    created_at: float | None
    embeddings: bool
    inlined: list[Mapping[str, Any]] | None
    """Inlined responses (None: the job has none, e.g. results in a file or on GCS/BigQuery)."""
    results_file: str | None
    stats: Mapping[str, Any]

    @property
    def key(self) -> str:
        return job_key(self.name)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def _output(meta: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
    output = meta.get("output")
    if isinstance(output, Mapping):
        return output
    response = body.get("response")  # the finished operation may carry the output as its response
    return response if isinstance(response, Mapping) else {}


def _inlined(output: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]] | None, bool]:
    for key, embed in (("inlinedResponses", False), ("inlinedEmbedContentResponses", True)):
        holder = output.get(key)
        items = holder.get("inlinedResponses") if isinstance(holder, Mapping) else holder
        if isinstance(items, list):
            return [item for item in items if isinstance(item, Mapping)], embed
    return None, False


def read_job(body: Mapping[str, Any]) -> Job | None:
    """The job in a raw body (a Developer API operation or a Vertex batchPredictionJob); None if it is not one."""
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return None
    meta = body.get("metadata")
    meta = meta if isinstance(meta, Mapping) else body  # Vertex: the job's fields are top level
    output = _output(meta, body)
    inlined, embed_key = _inlined(output)
    kind = str(meta.get("@type", ""))
    embeddings = embed_key or "Embed" in kind or any(
        isinstance(item.get("response"), Mapping)
        and ("embedding" in item["response"] or "embeddings" in item["response"])
        for item in inlined or ()
    )
    stats = meta.get("batchStats") or meta.get("completionStats") or {}
    results_file = output.get("responsesFile") or output.get("gcsOutputDirectory") or output.get("bigqueryOutputTable")
    if not results_file:
        info = meta.get("outputInfo")
        if isinstance(info, Mapping):
            results_file = info.get("gcsOutputDirectory") or info.get("bigqueryOutputTable")
    return Job(
        name=name,
        model=model_label(meta.get("model")),
        state=normalize_state(meta.get("state")),
        created_at=parse_time(meta.get("createTime")),
        embeddings=bool(embeddings),
        inlined=inlined,
        results_file=str(results_file) if results_file else None,
        stats=stats if isinstance(stats, Mapping) else {},
    )


@dataclass
class JobBill:
    """The charges of one finished job, and the counts that explain them."""

    job: Job
    charges: list[Charge] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    unmetered: bool = False
    """The results exist but were not in the body (a results file, GCS/BigQuery): nothing could be priced."""

    @property
    def operation(self) -> str:
        return semconv.OP_EMBEDDINGS if self.job.embeddings else semconv.OP_GENERATE_CONTENT


def price_job(
    job: Job, pricer: Pricer, *, fallback_at: float, platform: str = "gemini", location: str | None = None,
) -> JobBill:
    """Each successful inlined response at the job model's Batch rates; errors counted, never charged.

    A model whose price table has no ``batch`` row is *unpriced* (the table's tier multipliers cover only flex
    and priority, so the engine does not invent a 50% rate); a response without ``usageMetadata`` is
    *unmetered*. Charges are labelled with the job's operation and model, not with the call that read them.
    """
    bill = JobBill(job)
    at = job.created_at if job.created_at is not None else fallback_at
    operation = bill.operation
    if job.inlined is None:
        bill.unmetered = job.results_file is not None or successful_count(job.stats) > 0
        if bill.unmetered:
            bill.charges.append(
                Charge(engine.Cost(engine.UNMETERED, service_tier=BATCH_TIER), None, operation, job.model)
            )
        return bill
    for item in job.inlined:
        response = item.get("response")
        if "error" in item or not isinstance(response, Mapping):
            bill.failed += 1
            continue
        bill.succeeded += 1
        usage = extract_usage(response.get("usageMetadata"))
        served = response.get("modelVersion")
        served = str(served) if served else None
        facts = Facts(usage, job.model, served, BATCH_TIER, at=at, platform=platform, location=location)
        for charge in price_bill(pricer, facts).charges:
            charge.operation, charge.request_model, charge.response_model = operation, job.model, served
            bill.charges.append(charge)
    return bill


def successful_count(stats: Mapping[str, Any]) -> int:
    """Successful requests in ``batchStats`` (Developer API, int64 as a string) or ``completionStats`` (Vertex)."""
    try:
        return int(stats.get("successfulRequestCount") or stats.get("successfulCount") or 0)
    except (TypeError, ValueError):
        return 0


class PricedJobs(OncePerKey):
    """Names of jobs whose results this process has already priced (either spelling of a job name is one job)."""

    def claim(self, name: str) -> bool:  # type: ignore[override]
        return super().claim(job_key(name))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(job_key(str(name)))


def _plain(value: Any) -> Any:
    """SDK pydantic objects -> dicts, so one walk reads dicts and objects alike."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:
            return {}
    return value


def _chars(node: Any, key: str | None) -> int:
    node = _plain(node)
    if isinstance(node, str):
        return len(node) if key in _TEXT_KEYS else 0
    if isinstance(node, Mapping):
        return sum(_chars(value, str(name)) for name, value in node.items())
    if isinstance(node, (list, tuple)):
        return sum(_chars(value, key) for value in node)
    return 0


def estimate_tokens(src: Any) -> int:
    """Enqueued input tokens of a job's inlined requests: 1 token per 4 characters of text, rounded up.

    A source that names a file (``"files/..."``, GCS, BigQuery) is not read (it would mean downloading the
    user's data): 0. Images, audio and other inline bytes are not estimated either.
    """
    if isinstance(src, str):
        return 0
    chars = _chars(src, None)
    return -(-chars // CHARS_PER_TOKEN)
