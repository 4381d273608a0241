"""Account-level billing facts through the real client: free tier, grounding fees and allowances, tuned models,
Vertex regional endpoints. Each figure is computed by hand from otel_gemini/pricing/prices.json.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from otel_gemini.settings.config import ConfigError
from otel_gemini.testing import Reply, response, usage, vertex_client_kwargs

FLASH = "gemini-2.5-flash"
FLASH3 = "gemini-3-flash-preview"


@pytest.fixture
def plan(instrument_with: Any) -> Any:
    return instrument_with


def thousand(model: str = FLASH, **kwargs: Any) -> Reply:
    """1,000 prompt + 500 candidates on 2.5 Flash: 1,000 × $0.30/1M + 500 × $2.50/1M = $0.00155."""
    return Reply(body=response("hi", model_version=model, usage_metadata=usage(prompt=1000, candidates=500), **kwargs))


# -- free tier -------------------------------------------------------------------------------------------------


def test_free_tier_costs_nothing_counts_tokens_and_keeps_what_it_would_have_cost(
    fake, client, plan, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_GEMINI_BILLING_TIER", "free")
    telemetry = plan()
    fake.push(thousand())
    client.models.generate_content(model=FLASH, contents="hi")

    attrs = telemetry.span().attributes
    assert attrs["gemini.pricing.status"] == "free"
    assert attrs["gemini.cost.usd_exact"] == "0"
    assert attrs["gemini.cost.paid_tier_equivalent_usd"] == pytest.approx(0.00155)
    assert telemetry.exact("gemini_cost_usd_total") == 0
    assert telemetry.exact("gemini_cost_paid_tier_equivalent_usd_total",
                           gen_ai_request_model=FLASH) == Decimal("0.00155")
    assert telemetry.exact("gemini_tokens_total", gen_ai_token_type="input") == 1000
    assert telemetry.prom("gemini_requests_total", gemini_pricing_status="free") == 1
    assert telemetry.prom("gemini_cost_paid_tier_equivalent_usd_total") == pytest.approx(0.00155)


def test_per_model_billing_tier_overrides(fake, client, plan) -> None:
    """tier1 project with 2.5 Flash on a free-tier key: Flash is free, 2.5 Pro pays.

    2.5 Pro: 1,000 × $1.25/1M + 500 × $10.00/1M = $0.00125 + $0.005 = $0.00625.
    """
    telemetry = plan(billing_tier=f"tier1,{FLASH}=free")
    fake.push(thousand())
    client.models.generate_content(model=FLASH, contents="hi")
    fake.push(thousand("gemini-2.5-pro"))
    client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model=FLASH) == 0
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model="gemini-2.5-pro") == Decimal("0.00625")
    assert telemetry.exact("gemini_cost_paid_tier_equivalent_usd_total") == Decimal("0.00155")


def test_bad_billing_tier_fails_at_instrument_time(plan) -> None:
    with pytest.raises(ConfigError, match="OTEL_GEMINI_BILLING_TIER"):
        plan(billing_tier="gold")


# -- grounding -------------------------------------------------------------------------------------------------


def test_search_grounding_on_2x_is_per_grounded_prompt(fake, client, plan) -> None:
    """2.5 Flash: $35 / 1,000 grounded prompts → one prompt (however many queries) = $0.035, at list price by default.

    Tokens: 1,000 × $0.30/1M + 500 × $2.50/1M = $0.00155; call total $0.03655.
    """
    telemetry = plan()
    fake.push(thousand(web_search_queries=["a", "b", "c"]))
    client.models.generate_content(model=FLASH, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="grounding") == Decimal("0.035")
    assert telemetry.exact("gemini_grounding_units_total", gemini_grounding_unit="prompt") == 1
    assert telemetry.span().attributes["gemini.cost.usd_exact"] == "0.03655"


def test_search_grounding_on_3x_is_per_query(fake, client, plan) -> None:
    """3 Flash: $14 / 1,000 search queries → 3 queries = $0.042."""
    telemetry = plan()
    fake.push(thousand(FLASH3, web_search_queries=["a", "b", "c"]))
    client.models.generate_content(model=FLASH3, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="grounding") == Decimal("0.042")
    assert telemetry.exact("gemini_grounding_units_total", gemini_grounding_tool="google_search",
                           gemini_grounding_unit="query") == 3


def test_grounding_allowance_from_the_table_and_per_group(fake, client, plan) -> None:
    """``table``: 2.5 Flash's 1,500 free prompts a day cover the call → $0 fee; units still counted.
    ``gemini-3=2``: two free queries this month, the third of three is billed → 1 × $0.014.
    """
    telemetry = plan(grounding_allowance="table,gemini-3=2")
    fake.push(thousand(web_search_queries=["a"]))
    client.models.generate_content(model=FLASH, contents="hi")
    fake.push(thousand(FLASH3, web_search_queries=["a", "b", "c"]))
    client.models.generate_content(model=FLASH3, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="grounding", gen_ai_request_model=FLASH) == 0
    assert telemetry.exact("gemini_cost_usd_total", gemini_cost_type="grounding",
                           gen_ai_request_model=FLASH3) == Decimal("0.014")
    assert telemetry.exact("gemini_grounding_units_total") == 4


# -- tuned models and Vertex --------------------------------------------------------------------------------


def test_tuned_model_bills_at_base_rate_on_developer_api(fake, client, plan) -> None:
    """Developer API: a tuned model bills as its base model (billing FAQ) → $0.00155, as 2.5 Flash."""
    telemetry = plan(tuned_models=f"tunedModels/support-bot-7={FLASH}")
    fake.push(thousand("tunedModels/support-bot-7"))
    client.models.generate_content(model="tunedModels/support-bot-7", contents="hi")
    assert telemetry.span().attributes["gemini.pricing.status"] == "priced"
    assert telemetry.exact("gemini_cost_usd_total",
                           gen_ai_request_model="tunedModels/support-bot-7") == Decimal("0.00155")


def test_tuned_model_base_learned_from_models_get(fake, client, plan) -> None:
    """No mapping configured: ``models.get`` of the tuned model says its base is 2.5 Flash → $0.00155."""
    telemetry = plan()
    name = "tunedModels/learned-9"
    fake.push(Reply(body={"name": name, "baseModel": f"models/{FLASH}", "state": "ACTIVE"},
                    route=r"GET .*tunedModels/learned-9"))
    assert client.models.get(model=name).tuned_model_info.base_model == f"models/{FLASH}"
    fake.push(thousand(name))
    client.models.generate_content(model=name, contents="hi")
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_request_model=name) == Decimal("0.00155")


def test_vertex_regional_endpoint_and_tuned_endpoint(fake, plan) -> None:
    """Vertex after 2026-07-01: a non-global location pays ×1.10, a tuned endpoint ×1.5 on top.

    global: $0.00155. us-central1: $0.00155 × 1.10 = $0.001705. Tuned on us-central1: × 1.5 = $0.0025575.
    """
    from google import genai

    telemetry = plan(tuned_models=f"projects/p/locations/us-central1/endpoints/42={FLASH}")
    regional = genai.Client(**vertex_client_kwargs(fake))
    global_ = genai.Client(**{**vertex_client_kwargs(fake), "location": "global"})
    fake.push(thousand())
    global_.models.generate_content(model=FLASH, contents="hi")
    assert telemetry.spans()[-1].attributes["gemini.cost.usd_exact"] == "0.00155"
    fake.push(thousand())
    regional.models.generate_content(model=FLASH, contents="hi")
    assert telemetry.spans()[-1].attributes["gemini.cost.usd_exact"] == "0.001705"
    endpoint = "projects/p/locations/us-central1/endpoints/42"
    fake.push(thousand(endpoint))
    regional.models.generate_content(model=endpoint, contents="hi")
    assert telemetry.spans()[-1].attributes["gemini.cost.usd_exact"] == "0.0025575"
    # 0.00155 + 0.001705 + 0.0025575
    assert telemetry.exact("gemini_cost_usd_total", gen_ai_provider_name="gcp.vertex_ai") == Decimal("0.0058125")
