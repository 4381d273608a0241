"""Every name otel-gemini emits, in one place: GenAI semantic-convention attributes and the metric contract.

Dashboards, alert rules and other people's tests read these exact names (docs/metrics.md), so they are data
here, shared by the span code and both metric exporters, never spelled twice.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- span / metric attributes (OpenTelemetry spelling) -------------------------------------------------------
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
TOKEN_TYPE = "gen_ai.token.type"
TOKEN_MODALITY = "gen_ai.token.modality"
COST_TYPE = "gemini.cost.type"
SERVICE_TIER = "gemini.service_tier"
PRICING_STATUS = "gemini.pricing.status"
REQUEST_STREAM = "gen_ai.request.stream"
RPC_STATUS = "gemini.rpc.status"
HTTP_STATUS = "http.response.status_code"
PROJECT = "gemini.project"
"""Added by the exporters to every series: the Google Cloud project the team declares (quotas are per project)."""

USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
USAGE_TOOL_USE = "gemini.usage.tool_use_prompt_tokens"
"""Tool results fed back as prompt (inside ``gen_ai.usage.input_tokens``): the agent needs them apart, as
Search/Maps retrieved context is not billed as input."""
COST_AMOUNT = "gen_ai.usage.cost.amount"
COST_CURRENCY = "gen_ai.usage.cost.currency"
COST_SOURCE = "gen_ai.usage.cost.source"
COST_SOURCE_LOCAL = "local"
COST_PLAIN = "gen_ai.usage.cost"
"""The call's dollars under the plain name Langfuse, SigNoz and OpenLIT read (OTEL_GEMINI_SPAN_COST_ATTRIBUTE)."""
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"

# -- span attributes and events only (not metric labels; docs/metrics.md "Span attributes") -----------------
COST_USD_EXACT = "gemini.cost.usd_exact"
"""The exact Decimal total as a string: the float in gen_ai.usage.cost.amount rounds; the agent reads this one."""
COST_PAID_TIER_EQUIVALENT = "gemini.cost.paid_tier_equivalent_usd"
PRICING_SOURCE, PRICING_LONG_CONTEXT = "gemini.pricing.source", "gemini.pricing.long_context"
GROUNDING_UNIT_COUNT, GROUNDING_SEARCH_QUERIES = "gemini.grounding.units", "gemini.grounding.search_queries"
GROUNDED = "gemini.grounded"
ATTRIBUTION_PREFIX = "gemini.attribution."
ESTIMATE = "gemini.estimate"
"""Agent-only label of the call metrics: why the figures are estimates (empty when they are not)."""
STREAM_ABANDONED = "gemini.stream.abandoned"
HTTP_REQUEST_COUNT, HTTP_ATTEMPT_COUNT = "gemini.http.requests", "gemini.http.attempts"
RETRY_DELAY = "gemini.retry.delay_s"
# The semantic-conventions release the gen_ai.* names follow (gen_ai.provider.name and the
# gen_ai.client.inference.operation.details event arrived in 1.37.0): given to the tracer, meter and logger.
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
QUOTA_VIOLATIONS, QUOTA_EXCEEDED_EVENT = "gemini.quota.violations", "gemini.quota.exceeded"
QUOTA_ID, QUOTA_METRIC, QUOTA_UNIT = "gemini.quota.id", "gemini.quota.metric", "gemini.quota.unit"
QUOTA_WINDOW, QUOTA_TIER, QUOTA_VALUE = "gemini.quota.window", "gemini.quota.tier", "gemini.quota.value"
BATCH_ENQUEUED_ESTIMATE, BATCH_ALREADY_PRICED = "gemini.batch.enqueued_tokens_estimate", "gemini.batch.already_priced"
BATCH_RESULTS, BATCH_JOB_NAME, BATCH_STATE = "gemini.batch.results", "gemini.batch.job", "gemini.batch.state"
BATCH_SUCCEEDED_REQUESTS, BATCH_FAILED_REQUESTS = "gemini.batch.succeeded_requests", "gemini.batch.failed_requests"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"
INPUT_MESSAGES, OUTPUT_MESSAGES = "gen_ai.input.messages", "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
EMBEDDINGS_DIMENSION = "gen_ai.embeddings.dimension.count"
FILE_SIZE, FILE_MIME_TYPE = "gemini.file.size_bytes", "gemini.file.mime_type"
INTERACTION_STATUS = "gemini.interaction.status"
USAGE_THOUGHTS_INFERRED = "gemini.usage.thoughts_inferred"
LIVE_TURNS, LIVE_RESPONSE_MODALITIES = "gemini.live.turns", "gemini.live.response_modalities"
CONVERSATION_ID = "gen_ai.conversation.id"
IMAGES_RETURNED, OPERATION_FAILED = "gemini.images.returned", "gemini.operation.failed"
VIDEO_COUNT, VIDEO_SECONDS = "gemini.video.count", "gemini.video.seconds"
VIDEO_RESOLUTION, VIDEO_RAI_FILTERED = "gemini.video.resolution", "gemini.video.rai_filtered"
COUNT_TOKENS_TOTAL = "gemini.count_tokens.total"


def usage_input_of(modality: str) -> str:
    """Per-modality input tokens (semconv: includes that modality's cached tokens, like promptTokensDetails)."""
    return f"gen_ai.usage.{modality}.input_tokens"


def usage_cache_read_of(modality: str) -> str:
    return f"gen_ai.usage.{modality}.cache_read.input_tokens"


def usage_output_of(modality: str) -> str:
    return f"gen_ai.usage.{modality}.output_tokens"


def grounding_count_of(kind: str) -> str:
    """Interactions' grounding calls by kind (``google_search``, ``google_maps``…)."""
    return f"gemini.grounding.{kind}.count"


def quota_dimension_of(key: str) -> str:
    """One dimension of an exceeded quota (``location``, ``model``…) on the ``gemini.quota.exceeded`` event."""
    return f"gemini.quota.dimensions.{key}"


PROVIDER_GEMINI = "gcp.gemini"
PROVIDER_VERTEX = "gcp.vertex_ai"
OP_GENERATE_CONTENT = "generate_content"
# Semconv names where the conventions have one (generate_content, embeddings); the SDK method's name otherwise.
OP_EMBEDDINGS = "embeddings"
OP_COUNT_TOKENS = "count_tokens"
OP_COMPUTE_TOKENS = "compute_tokens"
OP_CREATE_CACHE, OP_GET_CACHE, OP_UPDATE_CACHE, OP_DELETE_CACHE, OP_LIST_CACHES = (
    "create_cache", "get_cache", "update_cache", "delete_cache", "list_caches",
)
OP_CACHE_STORAGE = "cache_storage"
OP_CREATE_BATCH, OP_GET_BATCH, OP_LIST_BATCHES, OP_CANCEL_BATCH, OP_DELETE_BATCH = (
    "create_batch", "get_batch", "list_batches", "cancel_batch", "delete_batch",
)
OP_GENERATE_IMAGES = "generate_images"
OP_EDIT_IMAGE, OP_UPSCALE_IMAGE, OP_RECONTEXT_IMAGE, OP_SEGMENT_IMAGE = (
    "edit_image", "upscale_image", "recontext_image", "segment_image",
)
OP_GENERATE_VIDEOS, OP_GET_OPERATION = "generate_videos", "get_operation"
OP_LIVE_SESSION = "live_session"
OP_CREATE_INTERACTION, OP_GET_INTERACTION = "create_interaction", "get_interaction"
OP_FILES = {m: f"{m}_file" for m in ("upload", "get", "delete", "download")} | {"list": "list_files"}

# Request config fields -> span attributes (semconv "request attributes").
REQUEST_CONFIG_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "stop_sequences": "gen_ai.request.stop_sequences",
    "seed": "gen_ai.request.seed",
    "candidate_count": "gen_ai.request.choice.count",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
}

# Semconv advice: ExplicitBucketBoundaries of gen_ai.client.* histograms.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

BASE_LABELS = (OPERATION, PROVIDER, REQUEST_MODEL, RESPONSE_MODEL)


@dataclass(frozen=True, eq=False)
class MetricDef:
    """One metric of the contract: its OTel name and unit, its Prometheus name, and its attribute names.

    Compared and hashed by identity (each is a module-level singleton): the recorder looks one up per series
    update, and a field-wise dataclass hash cost more than the update itself.
    """

    otel_name: str
    unit: str
    prometheus_name: str
    kind: str  # "counter", "histogram" or "gauge"
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    attributed: bool = False
    """Carries the allow-listed attribution labels (``feature``, ``tenant``…) after its own labels."""


DURATION = MetricDef(
    "gen_ai.client.operation.duration", "s", "gen_ai_client_operation_duration_seconds", "histogram",
    "GenAI operation duration.", BASE_LABELS + (ERROR_TYPE,), DURATION_BUCKETS, attributed=True,
)
TOKEN_USAGE = MetricDef(
    "gen_ai.client.token.usage", "{token}", "gen_ai_client_token_usage", "histogram",
    "Tokens used per operation (semconv meaning: input includes cached and tool-use tokens, output includes "
    "thinking).", BASE_LABELS + (TOKEN_TYPE,), TOKEN_BUCKETS, attributed=True,
)
TIME_TO_FIRST_CHUNK_METRIC = MetricDef(
    "gen_ai.client.operation.time_to_first_chunk", "s", "gen_ai_client_operation_time_to_first_chunk_seconds",
    "histogram", "Time from request to the first streamed chunk.", BASE_LABELS, DURATION_BUCKETS, attributed=True,
)
COST = MetricDef(
    "gemini.cost.usd", "{USD}", "gemini_cost_usd_total", "counter",
    "Dollars billed by Google, by cost type, modality and service tier as served.",
    BASE_LABELS + (COST_TYPE, TOKEN_MODALITY, SERVICE_TIER), attributed=True,
)
TOKENS = MetricDef(
    "gemini.tokens", "{token}", "gemini_tokens_total", "counter",
    "Tokens by disjoint type (input, cache_read, tool_use, output, reasoning) summing to totalTokenCount.",
    BASE_LABELS + (TOKEN_TYPE, TOKEN_MODALITY), attributed=True,
)
REQUESTS = MetricDef(
    "gemini.requests", "{request}", "gemini_requests_total", "counter",
    "Gemini SDK calls by outcome and pricing status.", BASE_LABELS + (ERROR_TYPE, RPC_STATUS, PRICING_STATUS),
    attributed=True,
)
INTERNAL_ERRORS = MetricDef(
    "otel_gemini.internal_errors", "{error}", "otel_gemini_internal_errors_total", "counter",
    "Failures inside otel-gemini, caught so the app's call was unharmed.", ("component",),
)
PRICE_TABLE_CHECKED = MetricDef(
    "otel_gemini.price_table.checked_timestamp", "s", "otel_gemini_price_table_checked_timestamp_seconds", "gauge",
    "When the price table was last compared against Google's pricing pages (Unix time).", (),
)
PRICE_TABLE_INFO = MetricDef(
    "otel_gemini.price_table.info", "{info}", "otel_gemini_price_table_info", "gauge",
    "Always 1; its labels name the price table this process prices with now (checked_on, digest, origin), so "
    "replicas running different tables can be found.", ("checked_on", "digest", "origin"),
)
LABEL_OVERFLOW = MetricDef(
    "otel_gemini.label_overflow", "{value}", "otel_gemini_label_overflow_total", "counter",
    "Label values replaced by _other because a label reached its distinct-value cap.", ("label",),
)
REFUSED = MetricDef(
    "otel_gemini.refused", "{value}", "otel_gemini_refused_total", "counter",
    "Values from outside refused as data (a negative or impossible token count, a negative amount), by why.",
    ("what", "reason"),
)

PAID_TIER_EQUIVALENT = MetricDef(
    "gemini.cost.paid_tier_equivalent.usd", "{USD}", "gemini_cost_paid_tier_equivalent_usd_total", "counter",
    "What calls billed at $0 on the free tier would have cost on the paid tier (the price of leaving it).",
    BASE_LABELS, attributed=True,
)
GROUNDING_UNITS = MetricDef(
    "gemini.grounding.units", "{unit}", "gemini_grounding_units_total", "counter",
    "Billable grounding units (grounded prompts on 2.x models, search queries on 3.x), before free allowances.",
    BASE_LABELS + ("gemini.grounding.tool", "gemini.grounding.unit"), attributed=True,
)
CACHED_TOKENS = MetricDef(
    "gemini.cache.tokens", "{token}", "gemini_cache_tokens", "gauge",
    "Tokens held in explicit context caches this process created or read and that have not expired.",
    (PROVIDER, REQUEST_MODEL),
)
BATCH_ENQUEUED = MetricDef(
    "gemini.batch.enqueued_tokens", "{token}", "gemini_batch_enqueued_tokens", "gauge",
    "Input tokens of batch jobs this process saw created and not yet finished (the batch quota is enqueued tokens "
    "per model); estimated at 1 token per 4 characters of inlined text where the API reports none.",
    (PROVIDER, REQUEST_MODEL),
)
BATCH_JOBS = MetricDef(
    "gemini.batch.jobs", "{job}", "gemini_batch_jobs", "gauge",
    "Batch jobs this process has seen, by last known state.", (PROVIDER, REQUEST_MODEL, "gemini.batch.state"),
)

# -- quota, errors, retries (docs/quota.md) -------------------------------------------------------------------
RPC_STATUSES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)
"""The closed set of ``gemini_rpc_status`` values (google.rpc.Code names), plus "" (success or no body) and OTHER."""
QUOTA_OPERATIONS = (
    OP_GENERATE_CONTENT, OP_EMBEDDINGS, OP_CREATE_INTERACTION, OP_GENERATE_IMAGES, OP_GENERATE_VIDEOS,
    OP_EDIT_IMAGE, OP_UPSCALE_IMAGE, OP_RECONTEXT_IMAGE, OP_SEGMENT_IMAGE, OP_LIVE_SESSION,
)
"""Operations that spend inference quota (RPM/TPM/RPD); token counting, caches, files and batch control do not."""

HTTP_ATTEMPTS = MetricDef(
    "gemini.http.attempts", "{attempt}", "gemini_http_attempts_total", "counter",
    "Every HTTP attempt inside SDK calls (the SDK's own retries and continuation hops included); outcome "
    "'retried' marks attempts the SDK sent again.",
    BASE_LABELS + (HTTP_STATUS, RPC_STATUS, "gemini.attempt.outcome"), attributed=True,
)
QUOTA_EXCEEDED = MetricDef(
    "gemini.quota.exceeded", "{violation}", "gemini_quota_exceeded_total", "counter",
    "Quota violations reported by 429 responses (google.rpc.QuotaFailure), one per violation.",
    (PROVIDER, REQUEST_MODEL, QUOTA_ID, QUOTA_UNIT, QUOTA_WINDOW, QUOTA_TIER), attributed=True,
)
TIER_DOWNGRADES = MetricDef(
    "gemini.service_tier.downgrades", "{request}", "gemini_service_tier_downgrades_total", "counter",
    "Responses served at a lower service tier than requested (priority asked, standard served).",
    BASE_LABELS + ("gemini.service_tier.requested", SERVICE_TIER), attributed=True,
)
REQUESTS_PACIFIC_DAY = MetricDef(
    "gemini.requests.pacific_day", "{request}", "gemini_requests_pacific_day_total", "counter",
    "Quota-spending calls keyed by their Pacific day (RPD resets at midnight Pacific); see docs/quota.md.",
    (PROVIDER, REQUEST_MODEL, "gemini.pacific_day"),
)
COST_PACIFIC_MONTH = MetricDef(
    "gemini.cost.pacific_month.usd", "{USD}", "gemini_cost_pacific_month_usd_total", "counter",
    "Dollars keyed by the Pacific calendar month they were spent in (monthly spend caps).",
    (PROVIDER, "gemini.pacific_month"),
)
PACIFIC_CALENDAR = MetricDef(
    "gemini.pacific_calendar.info", "{info}", "gemini_pacific_calendar_info", "gauge",
    "Always 1; its labels name today's Pacific day and month, to select the current window's series in PromQL.",
    ("gemini.pacific_day", "gemini.pacific_month"),
)
PACIFIC_MONTH_END = MetricDef(
    "gemini.pacific_month.end_timestamp", "s", "gemini_pacific_month_end_timestamp_seconds", "gauge",
    "Unix time the current Pacific month ends: PromQL cannot do time zones, and a month-end spend projection needs it.",
    (),
)
QUOTA_LIMIT = MetricDef(
    "gemini.quota.limit", "{1}", "gemini_quota_limit", "gauge",
    "Rate limits the team declared (OTEL_GEMINI_LIMITS): requests or input tokens per minute or per Pacific day.",
    (REQUEST_MODEL, "gemini.quota.unit", "gemini.quota.window"),
)
SPEND_LIMIT = MetricDef(
    "gemini.spend.limit.usd", "{USD}", "gemini_spend_limit_usd", "gauge",
    "Spend limits: the billing tier's rolling 10-minute and monthly caps, and the project's own cap if declared.",
    ("gemini.spend.window", "gemini.spend.scope"),
)
WHATIF = "gemini.whatif"
"""The what-if scenario of ``gemini_whatif_cost_usd_total``: ``actual``, ``batch``, ``flex``, ``cache``,
``model:<id>``."""
WHATIF_COST = MetricDef(
    "gemini.whatif.cost.usd", "{USD}", "gemini_whatif_cost_usd_total", "counter",
    "What the priced responses would have cost under each what-if scenario (OTEL_GEMINI_WHATIF); 'actual' is their "
    "real bill. Never part of gemini_cost_usd_total: compare a scenario with 'actual', never sum across them.",
    BASE_LABELS + (WHATIF,), attributed=True,
)

COUNTERS = (
    COST, TOKENS, REQUESTS, INTERNAL_ERRORS, LABEL_OVERFLOW, PAID_TIER_EQUIVALENT, GROUNDING_UNITS, HTTP_ATTEMPTS,
    REFUSED, QUOTA_EXCEEDED, TIER_DOWNGRADES, REQUESTS_PACIFIC_DAY, COST_PACIFIC_MONTH, WHATIF_COST,
)
HISTOGRAMS = (DURATION, TOKEN_USAGE, TIME_TO_FIRST_CHUNK_METRIC)
GAUGES = (
    PRICE_TABLE_CHECKED, PRICE_TABLE_INFO, CACHED_TOKENS, BATCH_ENQUEUED, BATCH_JOBS, PACIFIC_CALENDAR,
    PACIFIC_MONTH_END, QUOTA_LIMIT, SPEND_LIMIT,
)


ALL_LABELS = frozenset(label for metric in COUNTERS + HISTOGRAMS + GAUGES for label in metric.labels) | {PROJECT, "le"}


def prometheus_label(attribute: str) -> str:
    """OTel attribute name -> Prometheus label name, as the OTel Prometheus exporter converts it."""
    return attribute.replace(".", "_")

# -- the exception event, written by otel-gemini itself so its message and stack can be scrubbed (scrub.py) --------
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EXCEPTION_ESCAPED = "exception.escaped"
REDACTED_API_KEY = "[REDACTED:api_key]"
REDACTED_CONTENT = "[REDACTED:content]"
