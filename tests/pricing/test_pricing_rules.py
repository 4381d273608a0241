"""The billing rules of the cost engine, each pinned by a figure computed by hand to the micro-dollar.

Figures and usages follow the billing reference (/work/shared/reference/gemini-billing.md): §2 for the rules,
§3 for the rates, §5 for the worked examples E1–E11. Every docstring shows the arithmetic; every assertion is
exact ``Decimal`` equality (never approx). Rates are USD per 1,000,000 tokens, read from the bundled
prices.json; ``mtok(rate, tokens)`` is tokens × rate / 1,000,000.

Requests are dated with ``at=`` instants built from Pacific days, so nothing here depends on today's date.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from otel_gemini.pricing import engine, pacific
from otel_gemini.pricing.bill import SEARCH, Facts, bill
from otel_gemini.pricing.engine import (
    FREE,
    PRICED,
    UNBILLED,
    UNMETERED,
    UNPRICED,
    CostLine,
    normalize_tier,
    price_cache_storage,
    price_units,
)
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.pricing.table import PriceTable, load
from otel_gemini.usage import extract_usage

TABLE: PriceTable = load()


def mtok(rate: str, tokens: int) -> Decimal:
    """tokens × rate / 1,000,000, exactly."""
    return Decimal(tokens) * Decimal(rate) / Decimal(1_000_000)


def at(year: int, month: int, day: int, seconds: float = 12 * 3600) -> float:
    """An instant on a Pacific calendar day (noon by default)."""
    return pacific.day_start_epoch(date(year, month, day)) + seconds


# 2.5 Flash / Pro / Flash Image / 2.0 Flash are priced here on a day inside their open periods and before
# their retirement dates (retired models keep their prices for historical traffic anyway).
MID_2026 = at(2026, 6, 1)
LATE_2026 = at(2026, 11, 15)


def price(
    model: str | None, usage_metadata: Any, *, when: float = MID_2026, service_tier: str | None = None,
    platform: str = "gemini", http_ok: bool = True, grounded_retrieval: bool = False, markup: Decimal = Decimal(1),
    free_tier: bool = False,
) -> engine.Cost:
    """The tokens charge of one response, priced by the production billing function (pricing/bill.py).

    A grounded response also carries a grounding fee charge; the token rules below look at the tokens alone.
    """
    pricer = Pricer(TABLE, billing_tier="free" if free_tier else "tier1", markup=markup)
    usage = extract_usage(usage_metadata)
    grounding = ((SEARCH, 1),) if grounded_retrieval else ()
    billed = bill(pricer, Facts(usage, model, None, service_tier, grounding, when, platform, http_failed=not http_ok))
    assert len(billed.charges) == 1 or grounded_retrieval
    return billed.charges[0].cost


def fee(model: str, queries: int, when: float = MID_2026, platform: str = "gemini") -> CostLine | None:
    """The grounding fee line of a response that ran ``queries`` searches (0: not grounded), as bill() charges it."""
    grounding = ((SEARCH, queries),) if queries else ()
    billed = bill(Pricer(TABLE), Facts(None, model, grounding=grounding, at=when, platform=platform))
    lines = [line for charge in billed.charges[1:] for line in charge.cost.lines]
    assert len(lines) <= 1
    return lines[0] if lines else None


def lines(cost: engine.Cost) -> dict[tuple[str, str], Decimal]:
    """The cost lines summed by (cost type, modality)."""
    out: dict[tuple[str, str], Decimal] = {}
    for line in cost.lines:
        out[(line.cost_type, line.modality)] = out.get((line.cost_type, line.modality), Decimal(0)) + line.amount
    return out


def card(model: str, when: float = MID_2026, tier: str = "standard", platform: str = "gemini"):
    found = TABLE.rate_card(model, at=when, service_tier=tier, platform=platform)
    assert found is not None, (model, tier, platform)
    return found


# -- usages of the reference's worked examples (§5), as the wire sends them --------------------------------

E1 = {"promptTokenCount": 250000, "candidatesTokenCount": 4000, "thoughtsTokenCount": 6000,
      "totalTokenCount": 260000,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 250000}],
      "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 4000}]}


def e1_with_prompt(prompt: int) -> dict[str, Any]:
    return {**E1, "promptTokenCount": prompt, "totalTokenCount": prompt + 10000,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}


E2 = {"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 8500, "totalTokenCount": 10000,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}]}

E3 = {"promptTokenCount": 50000, "cachedContentTokenCount": 48000, "candidatesTokenCount": 500,
      "totalTokenCount": 50500,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 50000}],
      "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 48000}]}

E4 = {"promptTokenCount": 9640, "candidatesTokenCount": 700, "thoughtsTokenCount": 260, "totalTokenCount": 10600,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 40}, {"modality": "AUDIO", "tokenCount": 9600}]}

E5 = {"promptTokenCount": 20, "candidatesTokenCount": 1302, "totalTokenCount": 1322,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
      "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 12}, {"modality": "IMAGE", "tokenCount": 1290}]}

E6 = {"promptTokenCount": 10000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 1000, "totalTokenCount": 12000,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10000}]}

E7A = {"promptTokenCount": 70, "candidatesTokenCount": 53, "thoughtsTokenCount": 199,
       "toolUsePromptTokenCount": 79, "totalTokenCount": 401}

E7B = {"promptTokenCount": 151, "candidatesTokenCount": 1089, "thoughtsTokenCount": 1120,
       "toolUsePromptTokenCount": 18329, "totalTokenCount": 20689,
       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 151}],
       "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 18329}]}

E8 = {"promptTokenCount": 4000, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 4000}]}

E11 = {"promptTokenCount": 20000, "cachedContentTokenCount": 8192, "candidatesTokenCount": 900,
       "thoughtsTokenCount": 2100, "totalTokenCount": 23000}


# -- E1: the >200k cliff ------------------------------------------------------------------------------------


def test_e1_long_context_cliff_prices_whole_request_at_over_200k_rates() -> None:
    """E1. gemini-2.5-pro, promptTokenCount 250,000 > 200,000: input and output at the >200k rates.

    input   250,000 × 2.50/1M            = 0.625000
    output  (4,000 + 6,000) × 15.00/1M   = 0.150000   (candidates 0.060000 + thoughts 0.090000)
    total                                  0.775000
    """
    cost = price("gemini-2.5-pro", E1)
    assert cost.status == PRICED and cost.long_context is True
    assert lines(cost) == {
        ("input", "text"): mtok("2.50", 250000),
        ("output", "text"): mtok("15.00", 4000),
        ("reasoning", "text"): mtok("15.00", 6000),
    }
    assert cost.total == Decimal("0.775000")


def test_e1_boundary_200000_is_the_low_tier() -> None:
    """E1 boundary: "prompts <= 200k" — exactly 200,000 prompt tokens stays on the low tier.

    input   200,000 × 1.25/1M            = 0.250000
    output  (4,000 + 6,000) × 10.00/1M   = 0.100000
    total                                  0.350000
    """
    cost = price("gemini-2.5-pro", e1_with_prompt(200000))
    assert cost.long_context is False
    assert cost.total == Decimal("0.350000") == mtok("1.25", 200000) + mtok("10.00", 10000)


def test_e1_boundary_200001_jumps_the_cliff() -> None:
    """E1 boundary: 200,001 prompt tokens move the whole request (not the marginal token) to >200k rates.

    input   200,001 × 2.50/1M            = 0.5000025
    output  (4,000 + 6,000) × 15.00/1M   = 0.1500000
    total                                  0.6500025
    """
    cost = price("gemini-2.5-pro", e1_with_prompt(200001))
    assert cost.long_context is True
    assert cost.total == Decimal("0.6500025") == mtok("2.50", 200001) + mtok("15.00", 10000)


def test_long_context_threshold_counts_cached_tokens_and_moves_the_cache_rate() -> None:
    """§2.3: the threshold compares promptTokenCount, cached tokens included; the cache rate moves too.

    gemini-2.5-pro, prompt 210,000 of which 150,000 cached (so 60,000 uncached), 1,000 candidates:
    input   60,000 × 2.50/1M     = 0.150000
    cache  150,000 × 0.25/1M     = 0.037500
    output   1,000 × 15.00/1M    = 0.015000
    total                          0.202500
    """
    usage = {"promptTokenCount": 210000, "cachedContentTokenCount": 150000, "candidatesTokenCount": 1000,
             "totalTokenCount": 211000}
    cost = price("gemini-2.5-pro", usage)
    assert cost.long_context is True
    assert lines(cost) == {
        ("input", "text"): mtok("2.50", 60000),
        ("cache_read", "text"): mtok("0.25", 150000),
        ("output", "text"): mtok("15.00", 1000),
    }
    assert cost.total == Decimal("0.202500")


def test_long_context_threshold_ignores_tool_use_tokens() -> None:
    """§2.3 open point 2, decided: promptTokenCount alone is compared; toolUse tokens do not push a request over.

    gemini-2.5-pro, prompt 200,000 + toolUse 5,000 (billed as input, not grounded), 1,000 candidates:
    input  (200,000 + 5,000) × 1.25/1M = 0.256250
    output 1,000 × 10.00/1M            = 0.010000
    total                                0.266250
    """
    usage = {"promptTokenCount": 200000, "toolUsePromptTokenCount": 5000, "candidatesTokenCount": 1000,
             "totalTokenCount": 206000}
    cost = price("gemini-2.5-pro", usage)
    assert cost.long_context is False
    assert cost.total == Decimal("0.266250")


# -- E2: thinking -------------------------------------------------------------------------------------------


def test_e2_thinking_tokens_bill_at_the_output_rate() -> None:
    """E2. gemini-2.5-flash: "Output price (including thinking tokens)".

    input    1,200 × 0.30/1M            = 0.000360
    output     300 × 2.50/1M            = 0.000750
    thoughts 8,500 × 2.50/1M            = 0.021250
    total                                 0.022360
    """
    cost = price("gemini-2.5-flash", E2)
    assert cost.status == PRICED and cost.long_context is False and cost.model_id == "gemini-2.5-flash"
    assert lines(cost) == {
        ("input", "text"): Decimal("0.000360"),
        ("output", "text"): Decimal("0.000750"),
        ("reasoning", "text"): Decimal("0.021250"),
    }
    assert cost.total == Decimal("0.022360")
    assert cost.source == "dev-pricing-2026-03"


def test_thoughts_already_inside_candidates_are_not_added_twice() -> None:
    """§1.1 caveat: prompt + candidates + toolUse == total while thoughts > 0 → candidates already hold thoughts.

    E2's tokens reported the other way: candidates 8,800 (300 answer + 8,500 thoughts), total 10,000 = 1,200 + 8,800.
    input    1,200 × 0.30/1M            = 0.000360
    output     300 × 2.50/1M            = 0.000750
    thoughts 8,500 × 2.50/1M            = 0.021250
    total                                 0.022360   (not 0.043610, which bills 8,500 thoughts twice)
    """
    usage = {"promptTokenCount": 1200, "candidatesTokenCount": 8800, "thoughtsTokenCount": 8500,
             "totalTokenCount": 10000}
    cost = price("gemini-2.5-flash", usage)
    assert cost.total == Decimal("0.022360")
    assert lines(cost)[("reasoning", "text")] == Decimal("0.021250")
    assert lines(cost)[("output", "text")] == Decimal("0.000750")


def test_thoughts_inside_candidates_with_tool_use() -> None:
    """The identity includes toolUse: E7a reported with thoughts inside candidates (252 = 53 + 199).

    70 + 252 + 79 = 401 = total → candidates are 53 + thoughts 199, not 252 + 199. Grounded (toolUse exempt):
    input   70 × 0.30/1M               = 0.000021
    output  (53 + 199) × 2.50/1M       = 0.000630
    total                                0.000651
    """
    usage = {**E7A, "candidatesTokenCount": 252}
    assert price("gemini-2.5-flash", usage, grounded_retrieval=True).total == Decimal("0.000651")


# -- E3: explicit cache hit ------------------------------------------------------------------------------


def test_e3_cache_hit_bills_cached_tokens_at_cache_rate_once() -> None:
    """E3. gemini-2.5-flash, 48,000 of 50,000 prompt tokens from an explicit cache.

    uncached (50,000 − 48,000) × 0.30/1M = 0.000600
    cached   48,000 × 0.03/1M            = 0.001440
    output   500 × 2.50/1M               = 0.001250
    total                                  0.003290
    """
    cost = price("gemini-2.5-flash", E3)
    assert lines(cost) == {
        ("input", "text"): Decimal("0.000600"),
        ("cache_read", "text"): Decimal("0.001440"),
        ("output", "text"): Decimal("0.001250"),
    }
    assert cost.total == Decimal("0.003290")


def test_e3_cached_tokens_are_not_counted_twice() -> None:
    """cachedContentTokenCount ⊂ promptTokenCount: cached tokens are not also billed as input.

    Double counting would give 50,000 × 0.30/1M + 48,000 × 0.03/1M + 500 × 2.50/1M = 0.017690.
    Without any cache the call costs 50,000 × 0.30/1M + 500 × 2.50/1M = 0.016250; with it, 0.003290.
    """
    cost = price("gemini-2.5-flash", E3)
    assert cost.total == Decimal("0.003290")
    assert cost.total != Decimal("0.017690")
    input_tokens = sum(line.amount for line in cost.lines if line.cost_type == "input") / mtok("0.30", 1)
    assert input_tokens == 2000
    uncached = {k: v for k, v in E3.items() if not k.startswith("cache")}
    assert price("gemini-2.5-flash", uncached).total == Decimal("0.016250")


def test_cache_hit_by_modality_uses_the_modality_cache_rate() -> None:
    """§2.4: "Cached audio likewise ($0.03 text / $0.1 audio)"; uncached = prompt − cache per modality.

    gemini-2.5-flash, prompt 1,000 TEXT + 9,000 AUDIO, cache 8,000 AUDIO, 100 candidates:
    input  text  1,000 × 0.30/1M           = 0.000300
    input  audio (9,000 − 8,000) × 1.00/1M = 0.001000
    cache  audio 8,000 × 0.10/1M           = 0.000800
    output 100 × 2.50/1M                   = 0.000250
    total                                    0.002350
    """
    usage = {"promptTokenCount": 10000, "cachedContentTokenCount": 8000, "candidatesTokenCount": 100,
             "totalTokenCount": 10100,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000},
                                     {"modality": "AUDIO", "tokenCount": 9000}],
             "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 8000}]}
    cost = price("gemini-2.5-flash", usage)
    assert lines(cost) == {
        ("input", "text"): Decimal("0.000300"),
        ("input", "audio"): Decimal("0.001000"),
        ("cache_read", "audio"): Decimal("0.000800"),
        ("output", "text"): Decimal("0.000250"),
    }
    assert cost.total == Decimal("0.002350")


# -- E4: audio input -----------------------------------------------------------------------------------


def test_e4_audio_input_priced_by_modality() -> None:
    """E4. gemini-2.5-flash, 300 s of audio (9,600 tokens) + 40 text tokens.

    input  text  40 × 0.30/1M             = 0.000012
    input  audio 9,600 × 1.00/1M          = 0.009600
    output (700 + 260) × 2.50/1M          = 0.002400
    total                                   0.012012   (all at the text rate would be 0.005292 — wrong)
    """
    cost = price("gemini-2.5-flash", E4)
    assert lines(cost)[("input", "audio")] == Decimal("0.009600")
    assert lines(cost)[("input", "text")] == Decimal("0.000012")
    assert cost.total == Decimal("0.012012")
    assert cost.total != Decimal("0.005292")


# -- E5: image output ----------------------------------------------------------------------------------


def test_e5_image_output_tokens_at_their_own_rate() -> None:
    """E5. gemini-2.5-flash-image: 1,290 IMAGE output tokens at $30/1M, the 12 text tokens at $2.50/1M.

    input        20 × 0.30/1M     = 0.000006
    output text  12 × 2.50/1M     = 0.000030
    output image 1,290 × 30/1M    = 0.038700
    total                           0.038736   (not the rounded per-image "$0.039")
    """
    cost = price("gemini-2.5-flash-image", E5)
    assert lines(cost) == {
        ("input", "text"): Decimal("0.000006"),
        ("output", "text"): Decimal("0.000030"),
        ("output", "image"): Decimal("0.038700"),
    }
    assert cost.total == Decimal("0.038736")


# -- E6: batch --------------------------------------------------------------------------------------------


def test_e6_batch_tier_uses_the_batch_table() -> None:
    """E6. gemini-2.5-flash, one inlined response of a batch job (batch in $0.15, out $1.25).

    input  10,000 × 0.15/1M            = 0.001500
    output (1,000 + 1,000) × 1.25/1M   = 0.002500
    total                                0.004000   (Standard: 0.003000 + 0.005000 = 0.008000)
    """
    cost = price("gemini-2.5-flash", E6, service_tier="batch")
    assert cost.service_tier == "batch"
    assert cost.total == Decimal("0.004000")
    assert price("gemini-2.5-flash", E6).total == Decimal("0.008000")


def test_batch_not_offered_is_unpriced() -> None:
    """gemini-2.5-computer-use-preview-10-2025 has no Batch tab (and batch has no multiplier): unpriced, not $0."""
    cost = price("gemini-2.5-computer-use-preview-10-2025", E2, service_tier="batch")
    assert cost.status == UNPRICED and cost.total == 0 and cost.lines == ()


# -- E7: tool use and grounding -------------------------------------------------------------------------


def test_e7a_grounded_tool_use_tokens_are_exempt() -> None:
    """E7a tokens. gemini-2.5-flash with Google Search: retrieved context "not charged as input tokens".

    input  70 × 0.30/1M              = 0.000021
    output (53 + 199) × 2.50/1M      = 0.000630
    total                              0.000651   (toolUse 79 not billed)
    """
    cost = price("gemini-2.5-flash", E7A, grounded_retrieval=True)
    assert cost.total == Decimal("0.000651")


def test_e7a_ungrounded_tool_use_tokens_bill_as_input() -> None:
    """E7a, toolUse billed as input (URL context, code execution, file search: not Search/Maps grounding).

    input  (70 + 79) × 0.30/1M       = 0.0000447
    output (53 + 199) × 2.50/1M      = 0.0006300
    total                              0.0006747
    """
    cost = price("gemini-2.5-flash", E7A, grounded_retrieval=False)
    assert lines(cost)[("input", "text")] == Decimal("0.0000447")
    assert cost.total == Decimal("0.0006747")


def test_e7a_grounding_fee_per_grounded_prompt_on_2_5() -> None:
    """E7a fee. 2.5 models: "$35 / 1,000 grounded prompts" — one prompt = 35/1,000 = 0.035 (list price).

    With the tokens: 0.035 + 0.000651 = 0.035651. The query count does not matter for a per-prompt unit.
    """
    line = fee("gemini-2.5-flash", 1)
    assert line is not None and line.cost_type == "grounding" and line.amount == Decimal("0.035")
    assert fee("gemini-2.5-flash", 4).amount == Decimal("0.035")  # type: ignore[union-attr]
    assert fee("gemini-2.5-flash", 0) is None
    tokens = price("gemini-2.5-flash", E7A, grounded_retrieval=True).total
    assert tokens + line.amount == Decimal("0.035651")


def test_e7b_grounded_tool_use_tokens_are_exempt_on_3_8_flash() -> None:
    """E7b tokens. gemini-3.8-flash through 2026-12-31 (in $0.75, out $3.75), 18,329 retrieved tokens exempt.

    input  151 × 0.75/1M                = 0.00011325
    output (1,089 + 1,120) × 3.75/1M    = 0.00828375
    total                                 0.00839700
    """
    cost = price("gemini-3.8-flash", E7B, when=LATE_2026, grounded_retrieval=True)
    assert cost.total == Decimal("0.008397")


def test_e7b_ungrounded_tool_use_tokens_bill_as_input_on_3_8_flash() -> None:
    """E7b with toolUse billed as input: + 18,329 × 0.75/1M = 0.01374675.

    total 0.008397 + 0.01374675 = 0.02214375 (genai-prices' figure, which always bills toolUse)
    """
    cost = price("gemini-3.8-flash", E7B, when=LATE_2026, grounded_retrieval=False)
    assert cost.total == Decimal("0.02214375")


def test_e7b_grounding_fee_per_search_query_on_3_8_flash() -> None:
    """E7b fee. 3.x models: "$14 / 1,000 search queries" — 3 queries × 14/1,000 = 0.042 (list price).

    With the tokens: 0.042 + 0.008397 = 0.050397. No query, no fee, grounded prompt or not.
    """
    line = fee("gemini-3.8-flash", 3, LATE_2026)
    assert line is not None and line.amount == Decimal("0.042")
    assert fee("gemini-3.8-flash", 0, LATE_2026) is None
    tokens = price("gemini-3.8-flash", E7B, when=LATE_2026, grounded_retrieval=True).total
    assert tokens + line.amount == Decimal("0.050397")


def test_grounding_not_offered_is_none() -> None:
    """A model without a grounding price (gemini-2.0-flash-lite) gives no grounding line."""
    assert fee("gemini-2.0-flash-lite", 2) is None


# -- E8: embeddings ----------------------------------------------------------------------------------------


def test_e8_embedding_input_tokens() -> None:
    """E8. gemini-embedding-2 (batchEmbedContents usage, 2026 shape with ``promptTokenDetails``).

    input 4,000 × 0.20/1M = 0.000800; no output tokens.
    """
    cost = price("gemini-embedding-2", E8, when=at(2026, 10, 20))
    assert lines(cost) == {("input", "text"): Decimal("0.000800")}
    assert cost.total == Decimal("0.000800")


def test_e8_embedding_001_input_tokens() -> None:
    """E8. The same 4,000 tokens on gemini-embedding-001 (count from countTokens): 4,000 × 0.15/1M = 0.000600."""
    cost = price("gemini-embedding-001", {"promptTokenCount": 4000}, when=at(2026, 10, 20))
    assert cost.total == Decimal("0.000600")


def test_e8_embedding_usage_prompt_token_details_spelling_splits_modalities() -> None:
    """E8 shape, multimodal: embeddings spell the list ``promptTokenDetails`` (no "s" after Token).

    gemini-embedding-2, 1,000 TEXT + 258 IMAGE tokens:
    input text   1,000 × 0.20/1M = 0.0002000
    input image    258 × 0.45/1M = 0.0001161
    total                          0.0003161   (all at the text rate: 1,258 × 0.20/1M = 0.0002516 — wrong)
    """
    usage = {"promptTokenCount": 1258,
             "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 1000}, {"modality": "IMAGE", "tokenCount": 258}]}
    cost = price("gemini-embedding-2", usage, when=at(2026, 10, 20))
    assert lines(cost) == {("input", "text"): Decimal("0.0002000"), ("input", "image"): Decimal("0.0001161")}
    assert cost.total == Decimal("0.0003161")


# -- E9, E10: free tier and failed calls ---------------------------------------------------------------


def test_e9_free_tier_costs_nothing_and_keeps_the_list_price() -> None:
    """E9. Free-tier project, E2's usage on gemini-2.5-flash ("Free of charge"): $0, list price 0.022360."""
    cost = price("gemini-2.5-flash", E2, free_tier=True)
    assert cost.status == FREE
    assert cost.lines == () and cost.total == Decimal("0")
    assert cost.list_price == Decimal("0.022360")
    assert cost.model_id == "gemini-2.5-flash"


def test_free_tier_project_is_not_billed_when_the_table_has_no_free_flag() -> None:
    """§2.10: "cost = 0 for projects configured as free" — the project decides, not the table's column.

    gemini-3.7-flash carries no ``free_tier`` key (no source says). A free-tier project still pays $0; the list
    price is E2's usage at $0.75 / $3.75: 1,200 × 0.75/1M + 8,800 × 3.75/1M = 0.0009 + 0.033 = 0.033900.
    """
    cost = price("gemini-3.7-flash", E2, when=LATE_2026, free_tier=True)
    assert cost.status == FREE
    assert cost.total == Decimal("0")
    assert cost.list_price == Decimal("0.033900")


def test_free_only_model_free_tier() -> None:
    """Gemma (free-only, every rate "0"): a free-tier call is free with a $0 list price."""
    cost = price("gemma-3-27b-it", E2, free_tier=True)
    assert cost.status == FREE and cost.total == 0 and cost.list_price == Decimal("0")


def test_e10_failed_call_is_unbilled() -> None:
    """E10. HTTP 429/400/500: "you won't be charged" — $0, status unbilled (even if some usage was seen)."""
    cost = price("gemini-2.5-flash", None, http_ok=False)
    assert cost.status == UNBILLED and cost.total == Decimal("0") and cost.lines == ()
    cost = price("gemini-2.5-flash", E2, http_ok=False)
    assert cost.status == UNBILLED and cost.total == Decimal("0") and cost.lines == ()


# -- E11 and dated prices ---------------------------------------------------------------------------------


def test_e11_dated_price_3_8_flash_last_day_of_2026() -> None:
    """E11. gemini-3.8-flash on 2026-12-31 (Pacific), implicit cache, no cache details.

    input  (20,000 − 8,192) = 11,808 × 0.75/1M = 0.0088560
    cache  8,192 × 0.075/1M                    = 0.0006144
    output (900 + 2,100) × 3.75/1M             = 0.0112500
    total                                        0.0207204
    """
    last_second = pacific.day_start_epoch(date(2027, 1, 1)) - 1
    cost = price("gemini-3.8-flash", E11, when=last_second)
    assert lines(cost) == {
        ("input", "text"): Decimal("0.0088560"),
        ("cache_read", "text"): Decimal("0.0006144"),
        ("output", "text"): mtok("3.75", 900),
        ("reasoning", "text"): mtok("3.75", 2100),
    }
    assert cost.total == Decimal("0.0207204")


def test_e11_dated_price_3_8_flash_from_2027_01_01() -> None:
    """E11. The same request from 2027-01-01 00:00 Pacific: every rate doubled.

    11,808 × 1.50/1M + 8,192 × 0.15/1M + 3,000 × 7.50/1M = 0.017712 + 0.0012288 + 0.0225 = 0.0414408
    """
    cost = price("gemini-3.8-flash", E11, when=pacific.day_start_epoch(date(2027, 1, 1)))
    assert cost.total == Decimal("0.0414408")


def test_e11_price_change_follows_the_pacific_day_not_utc() -> None:
    """2027-01-01 01:00 UTC is still 2026-12-31 17:00 Pacific: the old price (0.0207204) applies."""
    utc_new_year = calendar.timegm((2027, 1, 1, 1, 0, 0))
    assert price("gemini-3.8-flash", E11, when=utc_new_year).total == Decimal("0.0207204")


ARGON = {"promptTokenCount": 10000, "cachedContentTokenCount": 2000, "candidatesTokenCount": 600,
         "thoughtsTokenCount": 400, "totalTokenCount": 11000}


def test_dated_price_4_argon_before_2026_12_01() -> None:
    """gemini-4-argon introductory price until 2026-11-30 (Pacific): in $2, cache $0.10, out $10.

    input  8,000 × 2.00/1M          = 0.016000
    cache  2,000 × 0.10/1M          = 0.000200
    output (600 + 400) × 10.00/1M   = 0.010000
    total                             0.026200
    """
    last_second = pacific.day_start_epoch(date(2026, 12, 1)) - 1
    assert price("gemini-4-argon", ARGON, when=last_second).total == Decimal("0.026200")


def test_dated_price_4_argon_from_2026_12_01() -> None:
    """gemini-4-argon from 2026-12-01 00:00 Pacific: in $4, cache $0.20, out $20.

    8,000 × 4.00/1M + 2,000 × 0.20/1M + 1,000 × 20.00/1M = 0.032 + 0.0004 + 0.02 = 0.052400
    """
    assert price("gemini-4-argon", ARGON, when=pacific.day_start_epoch(date(2026, 12, 1))).total == Decimal("0.052400")


def test_request_before_a_models_first_period_is_unpriced() -> None:
    """gemini-4-argon's first price starts at its GA, 2026-10-13: a call on 2026-10-12 is unpriced (never $0)."""
    cost = price("gemini-4-argon", ARGON, when=at(2026, 10, 12))
    assert cost.status == UNPRICED and cost.model_id == "gemini-4-argon" and cost.total == 0


# -- flex and priority --------------------------------------------------------------------------------------


def test_flex_tier_is_half_of_standard() -> None:
    """Flex = 0.5 × Standard (tier_multipliers). E2 on gemini-2.5-flash:

    input  1,200 × 0.15/1M  = 0.000180
    output 8,800 × 1.25/1M  = 0.011000
    total                     0.011180
    """
    cost = price("gemini-2.5-flash", E2, service_tier="flex")
    assert cost.service_tier == "flex"
    assert cost.total == Decimal("0.011180")


def test_priority_tier_is_1_8_times_standard() -> None:
    """Priority = 1.8 × Standard. E2 on gemini-2.5-flash:

    input  1,200 × 0.54/1M  = 0.000648
    output 8,800 × 4.50/1M  = 0.039600
    total                     0.040248
    """
    cost = price("gemini-2.5-flash", E2, service_tier="priority")
    assert cost.service_tier == "priority"
    assert cost.total == Decimal("0.040248")


def test_tier_multiplier_scales_every_modality_rate() -> None:
    """Flex and Priority scale the audio rate as well. E4 on gemini-2.5-flash:

    flex:     40 × 0.15/1M + 9,600 × 0.50/1M + 960 × 1.25/1M = 0.000006 + 0.0048 + 0.0012     = 0.006006
    priority: 40 × 0.54/1M + 9,600 × 1.80/1M + 960 × 4.50/1M = 0.0000216 + 0.01728 + 0.00432 = 0.0216216
    """
    assert price("gemini-2.5-flash", E4, service_tier="flex").total == Decimal("0.006006")
    assert price("gemini-2.5-flash", E4, service_tier="priority").total == Decimal("0.0216216")


def test_tier_multiplier_scales_long_context_rates() -> None:
    """Priority on E1 (gemini-2.5-pro, >200k): 250,000 × 4.50/1M + 10,000 × 27.00/1M = 1.125 + 0.27 = 1.395000."""
    cost = price("gemini-2.5-pro", E1, service_tier="priority")
    assert cost.long_context is True and cost.total == Decimal("1.395000")


@pytest.mark.parametrize(
    ("spelling", "tier"),
    [
        ("priority", "priority"),
        ("PRIORITY", "priority"),
        ("Priority", "priority"),
        ("ON_DEMAND_PRIORITY", "priority"),
        ("flex", "flex"),
        ("FLEX", "flex"),
        ("ON_DEMAND_FLEX", "flex"),
        ("standard", "standard"),
        ("STANDARD", "standard"),
        ("ON_DEMAND", "standard"),
        ("unspecified", "standard"),
        ("SERVICE_TIER_UNSPECIFIED", "standard"),
        ("batch", "batch"),
        ("", "standard"),
        (None, "standard"),
    ],
)
def test_service_tier_normalisation(spelling: str | None, tier: str) -> None:
    """Header (x-gemini-service-tier), usageMetadata.serviceTier and Vertex trafficType spellings → closed set."""
    assert normalize_tier(spelling) == tier


def test_service_tier_normalisation_of_sdk_enum() -> None:
    """The SDK's ServiceTier enum (value "flex", "priority"...) normalises like its string."""
    from google.genai import types

    assert normalize_tier(types.ServiceTier.FLEX) == "flex"
    assert normalize_tier(types.ServiceTier.PRIORITY) == "priority"
    assert normalize_tier(types.TrafficType.ON_DEMAND_FLEX) == "flex"


def test_service_tier_header_spelling_reaches_the_price() -> None:
    """bill() normalises the tier it is given.

    "PRIORITY" prices E2 at 0.040248 and "ON_DEMAND_FLEX" at 0.011180 (see the flex and priority tests above).
    """
    cost = price("gemini-2.5-flash", E2, service_tier="PRIORITY")
    assert cost.service_tier == "priority" and cost.total == Decimal("0.040248")
    cost = price("gemini-2.5-flash", E2, service_tier="ON_DEMAND_FLEX")
    assert cost.service_tier == "flex" and cost.total == Decimal("0.011180")


# -- cache storage -------------------------------------------------------------------------------------


def test_cache_storage_per_token_hour_e3() -> None:
    """E3's cache resource: 48,000 tokens × 1 h × $1.00/1M/h = 0.048000 per hour of TTL (gemini-2.5-flash)."""
    line = price_cache_storage(card("gemini-2.5-flash"), 48000, 3600)
    assert line is not None and line.cost_type == "cache_storage"
    assert line.amount == Decimal("0.048000")


def test_cache_storage_half_hour() -> None:
    """30 minutes: 48,000 × (1,800 / 3,600) h × 1.00/1M = 0.024000."""
    assert price_cache_storage(card("gemini-2.5-flash"), 48000, 1800).amount == Decimal("0.024000")


def test_cache_storage_pro_rate() -> None:
    """gemini-2.5-pro storage $4.50/1M/h: 10,000 tokens × 2 h × 4.50/1M = 0.090000."""
    assert price_cache_storage(card("gemini-2.5-pro"), 10000, 7200).amount == Decimal("0.090000")


def test_cache_storage_dated_3_8_flash() -> None:
    """gemini-3.8-flash storage $0.50/1M/h through 2026-12-31, then $1.00:

    100,000 tokens × 1 h × 0.50/1M = 0.050000 on 2026-12-31; × 1.00/1M = 0.100000 on 2027-01-01.
    """
    before = card("gemini-3.8-flash", at(2026, 12, 31))
    after = card("gemini-3.8-flash", at(2027, 1, 1))
    assert price_cache_storage(before, 100000, 3600).amount == Decimal("0.050000")
    assert price_cache_storage(after, 100000, 3600).amount == Decimal("0.100000")


def test_cache_storage_is_not_scaled_by_service_tier() -> None:
    """Storage is billed on the cache resource, not per request: a flex or priority card still charges 0.048000."""
    assert price_cache_storage(card("gemini-2.5-flash", tier="flex"), 48000, 3600).amount == Decimal("0.048000")
    assert price_cache_storage(card("gemini-2.5-flash", tier="priority"), 48000, 3600).amount == Decimal("0.048000")


def test_cache_storage_not_offered_is_none() -> None:
    """gemini-4-argon has implicit caching only: no storage price, no line."""
    assert price_cache_storage(card("gemini-4-argon", LATE_2026), 48000, 3600) is None


# -- per-unit media --------------------------------------------------------------------------------------


def test_imagen_per_image() -> None:
    """Imagen 4 Fast / Standard / Ultra: $0.02 / $0.04 / $0.06 per image.

    Fast 1 × 0.02 = 0.02; Standard 3 × 0.04 = 0.12; Ultra 2 × 0.06 = 0.12; Imagen 3 1 × 0.03 = 0.03.
    """
    fast = price_units(card("imagen-4.0-fast-generate-001"), "per_image", 1)
    assert fast is not None and (fast.cost_type, fast.modality, fast.amount) == ("media", "image", Decimal("0.02"))
    assert price_units(card("imagen-4.0-generate-001"), "per_image", 3).amount == Decimal("0.12")
    assert price_units(card("imagen-4.0-ultra-generate-001"), "per_image", 2).amount == Decimal("0.12")
    assert price_units(card("imagen-3.0-generate-002"), "per_image", 1).amount == Decimal("0.03")


def test_veo_per_second_by_resolution_variant() -> None:
    """Veo 3.1: $0.40/s at 720p and 1080p, $0.60/s at 4k; Veo 3.1 Fast $0.15 / $0.35.

    8 s 720p = 3.20; 8 s 1080p = 3.20; 8 s 4k = 4.80; Fast 8 s 4k = 2.80; an unknown variant uses the default 0.40.
    """
    veo = card("veo-3.1-generate-preview")
    line = price_units(veo, "per_second", 8, "720p")
    assert (line.cost_type, line.modality, line.amount) == ("media", "video", Decimal("3.20"))
    assert price_units(veo, "per_second", 8, "1080p").amount == Decimal("3.20")
    assert price_units(veo, "per_second", 8, "4k").amount == Decimal("4.80")
    assert price_units(veo, "per_second", 8, "8k").amount == Decimal("3.20")
    assert price_units(card("veo-3.1-fast-generate-preview"), "per_second", 8, "4k").amount == Decimal("2.80")


def test_veo_flat_price_ignores_variant() -> None:
    """Veo 3 prints one price ($0.40/s) for every resolution: 5 s at "4k" = 2.00; Veo 2 5 s × 0.35 = 1.75."""
    assert price_units(card("veo-3.0-generate-001"), "per_second", 5, "4k").amount == Decimal("2.00")
    assert price_units(card("veo-2.0-generate-001"), "per_second", 5).amount == Decimal("1.75")


def test_lyria_per_song_and_unit_not_offered() -> None:
    """Lyria 3 Pro: 1 song × 0.08 = 0.08 (modality audio). A token model has no per-unit price: None."""
    line = price_units(card("lyria-3-pro-preview"), "per_song", 1)
    assert (line.modality, line.amount) == ("audio", Decimal("0.08"))
    assert price_units(card("gemini-2.5-flash"), "per_image", 1) is None


def test_per_unit_model_token_placeholders_add_nothing() -> None:
    """Per-unit models carry "0" token rates: their usage (if any) adds $0 and status stays priced."""
    cost = price("imagen-4.0-generate-001", {"promptTokenCount": 12, "totalTokenCount": 12})
    assert cost.status == PRICED and cost.total == Decimal("0")


# -- markup -------------------------------------------------------------------------------------------------


def test_markup_multiplies_every_line() -> None:
    """markup 1.15 (a proxy's 15% fee) on E2:

    input    0.000360 × 1.15 = 0.000414
    output   0.000750 × 1.15 = 0.0008625
    thoughts 0.021250 × 1.15 = 0.0244375
    total    0.022360 × 1.15 = 0.025714
    """
    cost = price("gemini-2.5-flash", E2, markup=Decimal("1.15"))
    assert lines(cost) == {
        ("input", "text"): Decimal("0.000414"),
        ("output", "text"): Decimal("0.0008625"),
        ("reasoning", "text"): Decimal("0.0244375"),
    }
    assert cost.total == Decimal("0.025714")


# -- statuses: unpriced, unmetered ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gemini-9-ultra", "gpt-4o", "models/gemini-2.5-flash-preview-09-2025", None])
def test_unknown_model_is_unpriced_never_zero_priced(model: str | None) -> None:
    """A model the table does not know is "unpriced" with no lines — never a $0 "priced"."""
    cost = price(model, E2)
    assert cost.status == UNPRICED
    assert cost.status != PRICED and cost.lines == () and cost.total == 0


def test_no_usage_is_unmetered() -> None:
    """A 2xx response without usageMetadata (or with an empty one) is "unmetered", not $0 priced."""
    for usage_metadata in (None, {}, {"promptTokenCount": 0, "totalTokenCount": 0}):
        cost = price("gemini-2.5-flash", usage_metadata)
        assert cost.status == UNMETERED and cost.model_id == "gemini-2.5-flash" and cost.lines == ()


# -- model ids ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "billed_as"),
    [
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("Models/Gemini-2.5-Flash", "gemini-2.5-flash"),
        (" models/gemini-2.5-flash ", "gemini-2.5-flash"),
        ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("projects/p/locations/l/publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("google/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("models/gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"),
        ("gemini-2.5-flash-latest", "gemini-2.5-flash"),
        ("gemini-3.1-flash-lite-preview", "gemini-3.1-flash-lite"),
        ("models/gemini-3.1-pro-preview-customtools", "gemini-3.1-pro-preview"),
        ("gemini-2.5-flash-lite-preview-09-2025", "gemini-2.5-flash-lite"),
        ("gemini-3-pro-image-preview", "gemini-3-pro-image"),
        ("gemma-3n-e2b-it", "gemma-3-27b-it"),
        ("gemini-embedding-001", "gemini-embedding-001"),
        ("imagen-4.0-generate-001", "imagen-4.0-generate-001"),
    ],
)
def test_model_id_normalisation(requested: str, billed_as: str) -> None:
    assert TABLE.normalize(requested) == billed_as


@pytest.mark.parametrize(
    "requested",
    [
        "gemini-2.5-flash-preview-09-2025",   # a preview id the table has no row or alias for
        "gemini-2.5-flash-preview-05-20",
        "gemini-3-pro-preview",               # shut down 2026-03-09, not in the table
        "gemini-3.9-flash-preview",
        "gemini-flash-latest",
        "gemini-embedding-002",               # -NNN stripped gives "gemini-embedding": still unknown
        "tunedModels/my-model-123",
        "",
        None,
    ],
)
def test_unknown_ids_stay_unknown(requested: str | None) -> None:
    assert TABLE.normalize(requested) is None


# -- Vertex AI rows -------------------------------------------------------------------------------------


VERTEX_20 = {"promptTokenCount": 2000, "candidatesTokenCount": 500, "totalTokenCount": 2500,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000},
                                     {"modality": "AUDIO", "tokenCount": 1000}]}


def test_vertex_row_where_prices_differ_gemini_2_0_flash() -> None:
    """gemini-2.0-flash: Developer API $0.10 / audio $0.70 / out $0.40; Vertex $0.15 / audio $1.00 / out $0.60.

    gemini:    1,000 × 0.10/1M + 1,000 × 0.70/1M + 500 × 0.40/1M = 0.0001 + 0.0007 + 0.0002  = 0.00100
    vertex_ai: 1,000 × 0.15/1M + 1,000 × 1.00/1M + 500 × 0.60/1M = 0.00015 + 0.001 + 0.0003 = 0.00145
    """
    dev = price("gemini-2.0-flash", VERTEX_20, when=at(2026, 5, 1))
    vertex = price("gemini-2.0-flash", VERTEX_20, when=at(2026, 5, 1), platform="vertex_ai")
    assert dev.total == Decimal("0.00100") and dev.source == "dev-pricing-2026-03"
    assert vertex.total == Decimal("0.00145") and vertex.source == "vertex-pricing-2026-06"


def test_vertex_row_batch_gemini_2_0_flash() -> None:
    """Vertex batch = half of the Vertex row.

    1,000 × 0.075/1M + 1,000 × 0.50/1M + 500 × 0.30/1M = 0.000075 + 0.0005 + 0.00015 = 0.000725
    """
    cost = price("gemini-2.0-flash", VERTEX_20, when=at(2026, 5, 1), platform="vertex_ai", service_tier="batch")
    assert cost.total == Decimal("0.000725")


def test_vertex_row_cache_rate_gemini_2_5_pro() -> None:
    """gemini-2.5-pro cached: Developer API $0.125, Vertex prints "$0.13".

    gemini:    20,000 × 1.25/1M + 80,000 × 0.125/1M + 1,000 × 10/1M = 0.025 + 0.0100 + 0.01 = 0.0450
    vertex_ai: 20,000 × 1.25/1M + 80,000 × 0.13/1M  + 1,000 × 10/1M = 0.025 + 0.0104 + 0.01 = 0.0454
    """
    usage = {"promptTokenCount": 100000, "cachedContentTokenCount": 80000, "candidatesTokenCount": 1000,
             "totalTokenCount": 101000}
    assert price("gemini-2.5-pro", usage).total == Decimal("0.0450")
    assert price("gemini-2.5-pro", usage, platform="vertex_ai").total == Decimal("0.0454")


def test_vertex_falls_back_to_developer_api_rows() -> None:
    """No Vertex row for gemini-2.5-flash or 3.8 Flash: Vertex bills like the Developer API.

    E2 on 2.5 Flash = 0.022360 with the Developer API source; E11 on 3.8 Flash = 0.0207204 / 0.0414408 by date.
    """
    cost = price("gemini-2.5-flash", E2, platform="vertex_ai")
    assert cost.total == Decimal("0.022360") and cost.source == "dev-pricing-2026-03"
    assert price("gemini-3.8-flash", E11, when=at(2026, 12, 31), platform="vertex_ai").total == Decimal("0.0207204")
    assert price("gemini-3.8-flash", E11, when=at(2027, 1, 1), platform="vertex_ai").total == Decimal("0.0414408")


def test_vertex_grounding_allowance_differs_but_fee_does_not() -> None:
    """gemini-2.5-pro grounding on Vertex: same $35/1,000 (1 prompt = 0.035), allowance 10,000/day vs 1,500."""
    dev, vertex = card("gemini-2.5-pro"), card("gemini-2.5-pro", platform="vertex_ai")
    assert fee("gemini-2.5-pro", 1, platform="vertex_ai").amount == Decimal("0.035")  # type: ignore[union-attr]
    assert dev.grounding["free_allowance"] == 1500 and vertex.grounding["free_allowance"] == 10000


def _mapping_total(mapping: Mapping[str, Decimal]) -> Decimal:
    return sum(mapping.values(), Decimal(0))


def test_cost_total_is_the_sum_of_its_lines() -> None:
    """Cost.total is exactly the sum of its lines (E4: 0.000012 + 0.009600 + 0.00175 + 0.00065 = 0.012012)."""
    cost = price("gemini-2.5-flash", E4)
    assert _mapping_total(lines(cost)) == cost.total == Decimal("0.012012")
