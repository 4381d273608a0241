"""The agent's dialect reader on plain span dicts: each emitter's real attribute set in, one Gemini call out.

No network and no OTLP here (the receiver tests own that); every expected count is derived by hand in a comment.
Attribute sets follow what the emitters write: the official google-genai instrumentation 1.3b0 and OpenLLMetry's
google_generativeai 0.62.4 (both installed in .venv-genai2, read from their source), OpenInference's and OpenLIT's
names from /work/shared/reference/semconv.md §8, and otel-gemini's own _span_attributes.py.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import pytest

from otel_gemini.agent import spans
from otel_gemini.agent.spans import GenAISpan, read, sample_weight
from otel_gemini.usage import MAX_TOKENS, extract_usage

DEV = "generativelanguage.googleapis.com"


def span(attributes: dict[str, Any], scope: str = "", **extra: Any) -> dict[str, Any]:
    base = {
        "name": "generate_content gemini-2.5-flash", "kind": "CLIENT", "start_ns": 1_000_000_000,
        "end_ns": 3_500_000_000, "status_code": "UNSET", "trace_state": "", "attributes": attributes,
        "resource": {"service.name": "app"}, "scope": scope, "scope_version": "",
    }
    base.update(extra)
    return base


def read_ok(s: dict[str, Any]) -> GenAISpan:
    result = read(s)
    assert result is not None
    return result


# -- official OTel instrumentation (otel-semconv) ------------------------------------------------------------------

def test_official_google_genai_developer_api() -> None:
    # generate_content.py 1.3b0: input = prompt_token_count (cached inside), output = candidates + thoughts.
    got = read_ok(span({
        "gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gemini",
        "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.response.model": "gemini-2.5-flash-001",
        "server.address": DEV, "server.port": 443,
        "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 473,
        "gen_ai.usage.cache_read.input_tokens": 400, "gen_ai.usage.reasoning.output_tokens": 17,
        "gen_ai.response.finish_reasons": ["stop"],
    }, scope="opentelemetry.instrumentation.google_genai"))
    assert (got.dialect, got.provider, got.platform, got.operation) == (
        "otel-semconv", "gcp.gemini", "gemini", "generate_content")
    assert (got.request_model, got.response_model, got.server_address) == (
        "gemini-2.5-flash", "gemini-2.5-flash-001", DEV)
    # candidates = output 473 − reasoning 17 = 456; cached 400 stays inside the prompt's 1200.
    assert got.usage_metadata == {
        "promptTokenCount": 1200, "candidatesTokenCount": 456, "thoughtsTokenCount": 17,
        "cachedContentTokenCount": 400,
    }
    assert got.gaps == ("no_modality_split",)
    assert got.duration_s == pytest.approx(2.5)  # 3.5e9 − 1.0e9 ns
    assert (got.already_priced, got.provider_cost, got.sample_weight, got.error_type) == (False, None, 1.0, "")
    usage = extract_usage(got.usage_metadata)
    assert usage is not None  # 1200 prompt = 800 uncached + 400 cache_read; 456 output; 17 reasoning
    assert (usage.input_total, usage.cache_read_total, usage.output_total, usage.reasoning) == (800, 400, 456, 17)


@pytest.mark.parametrize(("attributes", "platform", "location", "gaps"), [
    # The official instrumentation's deprecated spelling on the new attribute, with the regional host.
    ({"gen_ai.provider.name": "vertex_ai", "server.address": "us-central1-aiplatform.googleapis.com"},
     "vertex_ai", "us-central1", ()),
    ({"gen_ai.provider.name": "gcp.vertex_ai"}, "vertex_ai", None, ()),
    ({"gen_ai.provider.name": "gcp.gemini"}, "gemini", None, ()),
    # gcp.gen_ai = "any Google endpoint": the address decides; without one the Developer API is assumed, and said.
    ({"gen_ai.provider.name": "gcp.gen_ai", "server.address": "aiplatform.googleapis.com"}, "vertex_ai", "global", ()),
    ({"gen_ai.provider.name": "gcp.gen_ai"}, "gemini", None, ("platform_assumed",)),
    # server.address beats a provider name that contradicts it.
    ({"gen_ai.provider.name": "gemini", "server.address": "europe-west4-aiplatform.googleapis.com"},
     "vertex_ai", "europe-west4", ()),
    ({"gen_ai.provider.name": "gcp.gen_ai", "url.full": "https://generativelanguage.googleapis.com/v1beta/x"},
     "gemini", None, ()),
])
def test_provider_and_address_pick_the_platform(
    attributes: dict[str, Any], platform: str, location: str | None, gaps: tuple[str, ...],
) -> None:
    attributes = {"gen_ai.operation.name": "generate_content", "gen_ai.request.model": "gemini-2.5-pro",
                  "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
                  "gen_ai.usage.reasoning.output_tokens": 0, **attributes}
    got = read_ok(span(attributes))
    assert (got.platform, got.location) == (platform, location)
    assert got.provider == ("gcp.vertex_ai" if platform == "vertex_ai" else "gcp.gemini")
    assert got.gaps == ("no_modality_split",) + gaps


def test_legacy_semconv_gen_ai_system_and_prompt_tokens() -> None:
    # Old contrib copy (0.7b1): gen_ai.system, deprecated prompt/completion names, no reasoning attribute.
    got = read_ok(span({
        "gen_ai.system": "vertex_ai", "gen_ai.operation.name": "generate_content",
        "gen_ai.request.model": "gemini-2.0-flash", "gen_ai.usage.prompt_tokens": 90,
        "gen_ai.usage.completion_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 50,
    }, scope="opentelemetry.instrumentation.google_genai"))
    assert (got.dialect, got.platform) == ("otel-semconv-legacy", "vertex_ai")
    assert got.usage_metadata == {"promptTokenCount": 90, "candidatesTokenCount": 30, "thoughtsTokenCount": 0,
                                  "cachedContentTokenCount": 50}
    assert got.gaps == ("no_thinking_split", "no_modality_split")


def test_per_modality_attributes_map_to_token_details() -> None:
    # The semconv note's example: 100 text (40 cached) + 200 image → input 300, cache_read 40; plus 50 audio out.
    got = read_ok(span({
        "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.usage.input_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 40,
        "gen_ai.usage.text.input_tokens": 100, "gen_ai.usage.text.cache_read.input_tokens": 40,
        "gen_ai.usage.image.input_tokens": 200, "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.audio.output_tokens": 50, "gen_ai.usage.reasoning.output_tokens": 0,
    }))
    assert got.gaps == ()
    assert got.usage_metadata is not None
    assert got.usage_metadata["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": 100}, {"modality": "IMAGE", "tokenCount": 200}]
    assert got.usage_metadata["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": 40}]
    assert got.usage_metadata["candidatesTokensDetails"] == [{"modality": "AUDIO", "tokenCount": 50}]
    usage = extract_usage(got.usage_metadata)
    assert usage is not None  # uncached text 100 − 40 = 60, image 200; cached text 40; audio out 50
    assert (dict(usage.input), dict(usage.cache_read), dict(usage.output)) == (
        {"text": 60, "image": 200}, {"text": 40}, {"audio": 50})


# -- OpenLLMetry ---------------------------------------------------------------------------------------------------

def test_openllmetry_python_reasoning_recovered_from_total() -> None:
    # google_generativeai 0.62.4: output = candidates only, total = prompt + candidates + thoughts (any-llm #1290:
    # prompt 20, candidates 198, thoughts 405, total 623). 623 − 20 − 198 = 405 thinking tokens, priced as output.
    got = read_ok(span({
        "gen_ai.provider.name": "gcp.gen_ai", "gen_ai.operation.name": "generate_content",
        "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.response.model": "gemini-2.5-flash",
        "gen_ai.usage.total_tokens": 623, "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 198,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }, scope="opentelemetry.instrumentation.google_generativeai"))
    assert (got.dialect, got.platform) == ("openllmetry", "gemini")
    assert got.usage_metadata == {"promptTokenCount": 20, "candidatesTokenCount": 198, "thoughtsTokenCount": 405,
                                  "cachedContentTokenCount": 0}
    assert got.gaps == ("reasoning_from_total", "no_modality_split", "platform_assumed")


def test_openllmetry_js_deprecated_names() -> None:
    # openllmetry-js @google/genai: gcp.gemini, prompt/completion tokens, llm.usage.total_tokens, old cache spelling.
    got = read_ok(span({
        "gen_ai.provider.name": "gcp.gemini", "llm.request.type": "chat", "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.usage.prompt_tokens": 500, "gen_ai.usage.completion_tokens": 120, "llm.usage.total_tokens": 620,
        "gen_ai.usage.cache_read_input_tokens": 200, "traceloop.workflow.name": "support",
    }, scope="@traceloop/instrumentation-google-genai"))
    assert (got.dialect, got.platform, got.operation) == ("openllmetry", "gemini", "chat")
    # total 620 = 500 + 120: nothing left over for thinking, so the split is unknown.
    assert got.usage_metadata == {"promptTokenCount": 500, "candidatesTokenCount": 120, "thoughtsTokenCount": 0,
                                  "cachedContentTokenCount": 200}
    assert got.gaps == ("no_thinking_split", "no_modality_split")


def test_openllmetry_workflow_span_is_not_a_call() -> None:
    assert read(span({"traceloop.span.kind": "workflow", "gen_ai.request.model": "gemini-2.5-flash",
                      "gen_ai.usage.input_tokens": 10})) is None


# -- OpenInference -------------------------------------------------------------------------------------------------

def test_openinference_llm_span() -> None:
    # completion 300 includes reasoning 100 (total 1300 = 1000 + 300) → candidates 200; its own cost is ignored.
    got = read_ok(span({
        "openinference.span.kind": "LLM", "llm.model_name": "gemini-2.5-pro", "llm.provider": "google",
        "llm.system": "vertexai", "llm.token_count.prompt": 1000, "llm.token_count.completion": 300,
        "llm.token_count.total": 1300, "llm.token_count.prompt_details.cache_read": 200,
        "llm.token_count.completion_details.reasoning": 100, "llm.cost.total": 0.42,
    }, scope="openinference.instrumentation.google_genai"))
    assert (got.dialect, got.platform, got.request_model, got.operation) == (
        "openinference", "vertex_ai", "gemini-2.5-pro", "generate_content")
    assert got.usage_metadata == {"promptTokenCount": 1000, "candidatesTokenCount": 200, "thoughtsTokenCount": 100,
                                  "cachedContentTokenCount": 200}
    assert got.gaps == ("no_modality_split",)
    assert got.provider_cost is None


def test_openinference_reasoning_outside_completion() -> None:
    # total 1400 = 1000 + 300 + 100: this emitter left reasoning out of completion, so candidates stay 300.
    got = read_ok(span({
        "openinference.span.kind": "LLM", "llm.model_name": "gemini-2.5-pro", "llm.provider": "google",
        "llm.token_count.prompt": 1000, "llm.token_count.completion": 300, "llm.token_count.total": 1400,
        "llm.token_count.completion_details.reasoning": 100, "llm.token_count.prompt_details.audio": 400,
    }))
    assert got.usage_metadata is not None
    assert (got.usage_metadata["candidatesTokenCount"], got.usage_metadata["thoughtsTokenCount"]) == (300, 100)
    assert got.usage_metadata["promptTokensDetails"] == [{"modality": "AUDIO", "tokenCount": 400}]
    assert got.gaps == ("platform_assumed",)  # provider "google" names no backend


def test_openinference_chain_span_ignored() -> None:
    assert read(span({"openinference.span.kind": "CHAIN", "llm.model_name": "gemini-2.5-pro"})) is None


# -- OpenLIT and costs ---------------------------------------------------------------------------------------------

def test_openlit_cost_is_ignored() -> None:
    got = read_ok(span({
        "gen_ai.system": "gemini", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gemini-2.0-flash",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20, "gen_ai.usage.cost": 0.99,
        "server.address": DEV,
    }, scope="openlit.otel.tracing", resource={"telemetry.sdk.name": "openlit"}))
    assert (got.dialect, got.provider_cost, got.already_priced) == ("openlit", None, False)


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"gen_ai.usage.cost.amount": 0.0123, "gen_ai.usage.cost.currency": "USD", "gen_ai.usage.cost.source": "provider"},
     Decimal("0.0123")),
    ({"gen_ai.usage.cost.amount": "0.5", "gen_ai.usage.cost.source": "provider"}, Decimal("0.5")),
    ({"gen_ai.usage.cost.amount": 0.5, "gen_ai.usage.cost.currency": "EUR", "gen_ai.usage.cost.source": "provider"},
     None),
    ({"gen_ai.usage.cost.amount": 0.5, "gen_ai.usage.cost.currency": "USD", "gen_ai.usage.cost.source": "local"}, None),
    ({"gen_ai.usage.cost.amount": 0.5}, None),
    ({"gen_ai.usage.cost.amount": math.nan, "gen_ai.usage.cost.source": "provider"}, None),
    ({"gen_ai.usage.cost.amount": -1, "gen_ai.usage.cost.source": "provider"}, None),
    ({"gen_ai.usage.cost.amount": "lots", "gen_ai.usage.cost.source": "provider"}, None),
])
def test_provider_cost_adopted_only_from_the_provider(attributes: dict[str, Any], expected: Decimal | None) -> None:
    got = read_ok(span({"gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash",
                        **attributes}, scope="gateway"))
    assert got.provider_cost == expected
    assert got.usage_metadata is None  # no token counts on this span


# -- otel-gemini's own spans ---------------------------------------------------------------------------------------

def _own(extra: dict[str, Any]) -> dict[str, Any]:
    # As _span_attributes.py writes them: modality outputs hold reasoning under text (40 candidates + 20 thinking).
    return {
        "gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-flash", "server.address": DEV, "gemini.pricing.status": "priced",
        "gen_ai.usage.input_tokens": 300, "gen_ai.usage.output_tokens": 60,
        "gen_ai.usage.cache_read.input_tokens": 40, "gen_ai.usage.reasoning.output_tokens": 20,
        "gen_ai.usage.text.input_tokens": 100, "gen_ai.usage.image.input_tokens": 200,
        "gen_ai.usage.text.cache_read.input_tokens": 40, "gen_ai.usage.text.output_tokens": 60, **extra,
    }


def test_own_span_is_already_priced() -> None:
    got = read_ok(span(_own({"gen_ai.usage.cost.amount": 0.0001, "gen_ai.usage.cost.currency": "USD",
                             "gen_ai.usage.cost.source": "local", "gemini.service_tier": "flex"}),
                       scope="otel_gemini"))
    assert (got.dialect, got.already_priced, got.provider_cost, got.service_tier) == (
        "otel-gemini", True, None, "flex")
    assert got.gaps == ()
    assert got.usage_metadata is not None
    # text output 60 includes the 20 thinking tokens: candidates 60 − 20 = 40, all text.
    assert got.usage_metadata["candidatesTokenCount"] == 40
    assert got.usage_metadata["candidatesTokensDetails"] == [{"modality": "TEXT", "tokenCount": 40}]


def test_own_unpriced_span_and_foreign_local_cost_are_priced_again() -> None:
    assert read_ok(span(_own({"gemini.pricing.status": "unpriced"}), scope="otel_gemini")).already_priced is False
    # "local" from someone else's scope is their own computation: repriced, not trusted.
    foreign = read_ok(span(_own({"gen_ai.usage.cost.source": "local", "gen_ai.usage.cost.amount": 1.0}),
                           scope="opentelemetry.instrumentation.google_genai"))
    assert (foreign.already_priced, foreign.provider_cost) == (False, None)
    # Our cost reported on the official instrumentation's span (OTEL_GEMINI_SPANS=auto): already priced in the app.
    ours_on_theirs = read_ok(span(_own({"gen_ai.usage.cost.source": "local", "gemini.cost.usd_exact": "0.00155"}),
                                  scope="opentelemetry.instrumentation.google_genai"))
    assert ours_on_theirs.already_priced is True


# -- Gemini or not -------------------------------------------------------------------------------------------------

def test_openai_sdk_aimed_at_gemini_openai_compatible_endpoint() -> None:
    got = read_ok(span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.response.model": "gemini-2.5-flash", "server.address": DEV, "server.port": 443,
        "url.path": "/v1beta/openai/chat/completions",
        "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 12,
    }, scope="opentelemetry.instrumentation.openai_v2"))
    assert (got.provider, got.platform, got.operation, got.dialect) == ("gcp.gemini", "gemini", "chat", "otel-semconv")
    assert got.gaps == ("no_thinking_split", "no_modality_split")


def test_gemini_model_alone_counts() -> None:
    got = read_ok(span({"gen_ai.provider.name": "openai", "gen_ai.request.model": "google/gemini-2.5-flash",
                        "server.address": "openrouter.ai"}))
    assert (got.platform, got.gaps) == ("gemini", ("platform_assumed",))


@pytest.mark.parametrize("attributes", [
    {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
     "server.address": "api.openai.com", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5},
    {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4"},
    # The HTTP client span under a Gemini call: same host, but counting it would double the call.
    {"http.request.method": "POST", "server.address": DEV, "url.full": f"https://{DEV}/v1beta/models/x"},
    # Agent spans aggregate their children's usage.
    {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "gcp.gemini",
     "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 1000},
    {},
])
def test_not_gemini_inference(attributes: dict[str, Any]) -> None:
    assert read(span(attributes)) is None


# -- sampling, errors, malformed values ----------------------------------------------------------------------------

@pytest.mark.parametrize(("trace_state", "weight"), [
    ("ot=th:8", 2.0),          # th 0x80000000000000 = 2^55 → p = 1 − 1/2 = 0.5 → weight 2
    ("ot=th:0", 1.0),          # th 0 → p 1
    ("ot=th:c", 4.0),          # 0xc0000000000000 = 0.75·2^56 → p 0.25
    ("ot=rv:0123456789abcd;th:8", 2.0),
    ("vendor=abc,ot=th:8", 2.0),
    ("ot=th:zz", 1.0), ("ot=th:", 1.0), ("ot=th:8000000000000000", 1.0), ("ot=th:8G", 1.0), ("ot=th:C", 1.0),
    ("", 1.0), ("garbage", 1.0), (None, 1.0), (12, 1.0), ("ot=rv:ab", 1.0),
])
def test_sample_weight(trace_state: Any, weight: float) -> None:
    assert sample_weight(trace_state) == pytest.approx(weight)
    got = read_ok(span({"gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash"},
                       trace_state=trace_state))
    assert got.sample_weight == pytest.approx(weight)


def test_errors_duration_and_tier() -> None:
    base = {"gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash"}
    assert read_ok(span({**base, "error.type": "429"}, status_code="ERROR")).error_type == "429"
    assert read_ok(span(base, status_code="ERROR")).error_type == "_OTHER"
    assert read_ok(span(base, start_ns=5, end_ns=1)).duration_s == 0.0
    assert read_ok(span({**base, "gemini.service_tier": "Priority"})).service_tier == "priority"
    assert read_ok(span({**base, "gemini.service_tier": "default"})).service_tier is None


def test_non_numeric_counts_are_ignored_field_by_field() -> None:
    got = read_ok(span({
        "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": ["gemini-2.5-flash"],
        "gen_ai.response.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": "abc",
        "gen_ai.usage.prompt_tokens": True, "gen_ai.usage.output_tokens": 7.0,
    }))
    assert (got.request_model, got.response_model) == ("", "gemini-2.5-flash")
    # input unreadable (another dialect's text, not a count) → 0; output 7.0 is integral → 7.
    assert got.usage_metadata == {"promptTokenCount": 0, "candidatesTokenCount": 7, "thoughtsTokenCount": 0,
                                  "cachedContentTokenCount": 0}


@pytest.mark.parametrize(("attribute", "value"), [
    ("gen_ai.usage.cache_read.input_tokens", -5), ("gen_ai.usage.reasoning.output_tokens", 10**15),
    ("gen_ai.usage.input_tokens", 10**9), ("gen_ai.usage.output_tokens", 2.5), ("gen_ai.usage.output_tokens", "-3"),
    ("gen_ai.usage.image.input_tokens", -1),
])
def test_a_count_that_cannot_be_a_bill_refuses_the_whole_usage(attribute: str, value: Any) -> None:
    # Never priced on the other counts (10^9 input tokens booked $300; 10^13 was dropped and the rest "priced").
    got = read_ok(span({
        "gen_ai.provider.name": "gcp.gemini", "gen_ai.response.model": "gemini-2.5-flash",
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 7, attribute: value,
    }))
    assert got.usage_metadata is None


_JUNK: list[Any] = [
    None, True, False, -1, 0, 7, 2**70, -(2**70), 1.5, math.nan, math.inf, -math.inf, "", "gemini-2.5-flash",
    "12", "x" * 5000, b"bytes", [1, 2], ["a"], {"a": 1}, {1: 2}, (1,), object(), "ot=th:8", "generativelanguage"
    ".googleapis.com", "gcp.vertex_ai", "provider", "local", "ERROR",
]
_KEYS = [
    "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model", "server.address",
    "url.full", "gen_ai.operation.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.total_tokens", "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.text.output_tokens", "gen_ai.usage.image.input_tokens", "gen_ai.usage.cost.amount",
    "gen_ai.usage.cost.source", "gen_ai.usage.cost.currency", "llm.token_count.prompt", "llm.model_name",
    "openinference.span.kind", "traceloop.span.kind", "error.type", "gemini.service_tier", "gemini.grounding.units",
]


def test_fuzz_never_raises() -> None:
    # The readers themselves (not read()'s last-resort net, which would hide a bug as "not Gemini") never raise.
    rng = random.Random(7)
    seen = 0
    for _ in range(3000):
        attributes: Any = {rng.choice(_KEYS + [1, None]): rng.choice(_JUNK) for _ in range(rng.randint(0, 12))}
        attributes.setdefault("gen_ai.request.model", rng.choice(["gemini-2.5-flash", 3, None]))
        s: Any = span(attributes, scope=rng.choice(["otel_gemini", "", None, 5, "openlit"]),
                      trace_state=rng.choice(_JUNK), start_ns=rng.choice(_JUNK), end_ns=rng.choice(_JUNK),
                      status_code=rng.choice(_JUNK), resource=rng.choice([{}, None, [], {"telemetry.sdk.name": 1}]))
        if rng.random() < 0.05:
            s = rng.choice(_JUNK + [{"attributes": rng.choice(_JUNK)}])
        got = spans._read(s)
        if got is None:
            continue
        seen += 1
        assert got.platform in ("gemini", "vertex_ai") and math.isfinite(got.sample_weight) and got.sample_weight >= 1
        assert got.duration_s >= 0 and isinstance(got.gaps, tuple)
        for name, value in (got.usage_metadata or {}).items():
            if name.endswith("Count"):
                assert isinstance(value, int) and 0 <= value <= MAX_TOKENS, (name, value)
        if got.usage_metadata is not None:
            extract_usage(got.usage_metadata)  # whatever we hand on, the library can split
    assert seen > 100  # the fuzz really reached the readers, not only the early exits
