"""The attribute names each GenAI dialect uses for the same facts, and the names of the agent's dialects and gaps.

Kept apart from the reading logic (spans.py) so a new dialect's names are added here, in one table per fact, in
the order they are tried: the first key present with a sane value wins.
"""

from __future__ import annotations

import re

from otel_gemini import semconv
from otel_gemini.usage import MAX_TOKENS as USAGE_MAX_TOKENS
from otel_gemini.usage import MODALITIES

OTEL_SEMCONV, OTEL_SEMCONV_LEGACY = "otel-semconv", "otel-semconv-legacy"
OPENLLMETRY, OPENINFERENCE, OPENLIT, OTEL_GEMINI = "openllmetry", "openinference", "openlit", "otel-gemini"

GAP_NO_THINKING_SPLIT = "no_thinking_split"
"""No reasoning count: thinking (if any) is priced inside output, at the output rate."""
GAP_REASONING_FROM_TOTAL = "reasoning_from_total"
"""No reasoning count, but total > input + output: the rest is priced as thinking (output rate; may hold tool-use)."""
GAP_NO_MODALITY_SPLIT = "no_modality_split"
"""No per-modality counts: every token is priced as text (audio/image input is under-priced)."""
GAP_PLATFORM_ASSUMED = "platform_assumed"
"""Neither server.address nor the provider named the backend: priced as the Developer API."""

MAX_TOKENS = USAGE_MAX_TOKENS  # beyond any context window: refused as hostile or corrupt (usage.py)
MAX_TEXT = 256
HEX_TH = re.compile(r"[0-9a-f]{1,14}")

DEVELOPER = frozenset({"gemini", "gcp.gemini", "google_ai_studio", "google.generativeai", "googleai", "ai_studio"})
VERTEX = frozenset({"vertex_ai", "gcp.vertex_ai", "vertexai", "vertex", "google_vertex", "google.vertex_ai"})
GOOGLE = frozenset({"gcp.gen_ai", "google", "google_genai", "google.genai", "gcp"})
# Other dialects' names that also pick the dialect (agent/spans.py _dialect): this module is where they are spelled.
LEGACY_SYSTEM, LEGACY_PROMPT_TOKENS = "gen_ai.system", "gen_ai.usage.prompt_tokens"  # semconv before 1.37
TOTAL_TOKENS = "gen_ai.usage.total_tokens"  # OpenLLMetry
CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read_input_tokens"  # OpenLLMetry
OPENLIT_COST = "gen_ai.usage.cost"  # OpenLIT's own estimate, never adopted
PROVIDER_KEYS = (semconv.PROVIDER, LEGACY_SYSTEM, "llm.provider", "llm.system")
MODEL_REQUEST_KEYS = (semconv.REQUEST_MODEL, "llm.request.model", "llm.model_name", "gen_ai.model.name")
MODEL_RESPONSE_KEYS = (semconv.RESPONSE_MODEL, "llm.response.model", "llm.model_name")
URL_KEYS = ("url.full", "http.url")

INPUT_KEYS = (semconv.USAGE_INPUT, LEGACY_PROMPT_TOKENS, "llm.token_count.prompt", "llm.usage.prompt_tokens")
OUTPUT_KEYS = (
    semconv.USAGE_OUTPUT, "gen_ai.usage.completion_tokens", "llm.token_count.completion", "llm.usage.completion_tokens",
)
TOTAL_KEYS = (TOTAL_TOKENS, "llm.usage.total_tokens", "llm.token_count.total")
CACHE_KEYS = (
    semconv.USAGE_CACHE_READ, CACHE_READ_INPUT_TOKENS, "gen_ai.usage.cached_input_tokens",
    "gen_ai.usage.cached_tokens", "llm.token_count.prompt_details.cache_read",
)
REASONING_KEYS = (
    semconv.USAGE_REASONING, "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning", "gen_ai.usage.thoughts_tokens",
)
# Per-modality subsets (semconv: modality input includes that modality's cached tokens, like promptTokensDetails).
MODALITY_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "prompt": {m: (semconv.usage_input_of(m),) for m in MODALITIES},
    "cache": {m: (semconv.usage_cache_read_of(m),) for m in MODALITIES},
    "candidates": {m: (semconv.usage_output_of(m),) for m in MODALITIES},
}
MODALITY_KEYS["prompt"]["audio"] += ("llm.token_count.prompt_details.audio",)
MODALITY_KEYS["candidates"]["audio"] += ("llm.token_count.completion_details.audio",)
MODALITY_KEY_INDEX = {
    key: (part, modality, rank)
    for part, by_modality in MODALITY_KEYS.items() for modality, keys in by_modality.items()
    for rank, key in enumerate(keys)
}
"""attribute name -> (usage part, modality, rank among that modality's names): one dict lookup per span key."""
DETAIL_FIELDS = {
    "prompt": "promptTokensDetails", "cache": "cacheTokensDetails", "candidates": "candidatesTokensDetails",
}

# Spans that describe work around inference, not inference: their usage (when any) sums child calls.
NOT_INFERENCE_OPS = frozenset({
    "invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "plan", "search_memory", "create_memory",
    "update_memory", "upsert_memory", "delete_memory", "create_memory_store", "delete_memory_store",
})
OPENINFERENCE_KINDS = frozenset({"LLM", "EMBEDDING"})
TRACELOOP_WRAPPERS = frozenset({"workflow", "task", "agent", "tool"})
TIERS = frozenset({"standard", "flex", "priority", "batch"})
TIER_KEYS = (semconv.SERVICE_TIER, "gen_ai.response.service_tier", "gen_ai.request.service_tier",
              "gcp.gen_ai.operation.config.service_tier")
