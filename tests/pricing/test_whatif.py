"""What-if savings, hand-computed to the micro-dollar for a mixed workload through the real client.

gemini-3.1-pro-preview per 1M tokens: input $2.00, cache read $0.20, output $12.00; above 200k prompt tokens
$4.00 / $0.40 / $18.00. Batch: $1.00 / $6.00, long $2.00 / $9.00. Flex: half of standard (tier multiplier 0.5).
gemini-3.5-flash-lite: $0.30 / $0.03 / $2.50, no long-context tier.

Call A: 1,000 prompt + 500 output.   Call B: 250,000 prompt (over the cliff) + 1,000 output.
  actual  A 0.002 + 0.006 = 0.008                 B 1.000 + 0.018 = 1.018              = 1.026
  batch   A 0.001 + 0.003 = 0.004                 B 0.500 + 0.009 = 0.509              = 0.513
  flex    A 0.004                                 B 0.509                              = 0.513
  cache   A 500×2 + 500×0.2 + 500×12 = 0.0071     B 125k×4 + 125k×0.4 + 0.018 = 0.568  = 0.5751
  lite    A 0.0003 + 0.00125 = 0.00155            B 0.075 + 0.0025 = 0.0775            = 0.07905
Token totals priced once would miss B's cliff: the amounts need per-response bills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from otel_gemini.config import ConfigError
from otel_gemini.pricing import whatif
from otel_gemini.testing import Reply, response, usage
from tests.conftest import page_sum

MODEL = "gemini-3.1-pro-preview"
EXPECTED = {
    "actual": Decimal("1.026"), "batch": Decimal("0.513"), "flex": Decimal("0.513"), "cache": Decimal("0.5751"),
    "model:gemini-3.5-flash-lite": Decimal("0.07905"),
}


def _workload(fake: Any, client: Any) -> None:
    fake.push(
        Reply(body=response("a", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))),
        Reply(body=response("b", model_version=MODEL, usage_metadata=usage(prompt=250_000, candidates=1000))),
    )
    for _ in range(2):
        client.models.generate_content(model=MODEL, contents="hi")


def test_what_ifs_of_a_mixed_workload_are_exact_and_never_join_the_real_spend(fake, client, instrument_with) -> None:
    telemetry = instrument_with(whatif="batch,flex,cache", whatif_models="gemini-3.5-flash-lite",
                                whatif_cache_ratio="0.5")
    _workload(fake, client)
    for scenario, amount in EXPECTED.items():
        assert telemetry.exact("gemini_whatif_cost_usd_total", gemini_whatif=scenario) == amount, scenario
    assert telemetry.exact("gemini_cost_usd_total") == EXPECTED["actual"]  # the real bill is untouched
    page = generate_latest(REGISTRY).decode()
    assert page_sum(page, "gemini_whatif_cost_usd_total", gemini_whatif="batch") == EXPECTED["batch"]
    assert page_sum(page, "gemini_cost_usd_total") == EXPECTED["actual"]


def test_what_ifs_are_off_by_default(fake, client, telemetry) -> None:
    _workload(fake, client)
    assert telemetry.exact("gemini_whatif_cost_usd_total") == 0
    assert telemetry.exact("gemini_cost_usd_total") == EXPECTED["actual"]


def test_an_unknown_what_if_model_saves_nothing_never_zero_and_is_named(fake, client, instrument_with, caplog) -> None:
    telemetry = instrument_with(whatif_models="no-such-model")
    assert "'no-such-model' is not in the price table" in caplog.text
    _workload(fake, client)
    assert telemetry.exact("gemini_whatif_cost_usd_total", gemini_whatif="actual") == EXPECTED["actual"]
    assert telemetry.exact("gemini_whatif_cost_usd_total", gemini_whatif="model:no-such-model") == EXPECTED["actual"]


@pytest.mark.parametrize("option, value", [("whatif", "cheaper"), ("whatif_cache_ratio", "1.5"),
                                           ("whatif_cache_ratio", "half")])
def test_a_bad_what_if_setting_fails_at_instrument_time(instrument_with, option: str, value: str) -> None:
    with pytest.raises(ConfigError):
        instrument_with(**{"whatif": "cache", option: value})


def test_cache_scenario_moves_the_share_of_uncached_input_and_keeps_the_prompt_count() -> None:
    from otel_gemini.usage import Usage

    moved = whatif.cached(Usage(input={"text": 1001, "image": 10}, cache_read={"text": 5}, prompt_tokens=1016),
                          Decimal("0.5"))
    assert moved.input == {"text": 501, "image": 5}
    assert moved.cache_read == {"text": 505, "image": 5}
    assert moved.prompt_tokens == 1016


def test_a_scenario_the_table_cannot_price_is_not_logged_as_an_unpriced_model(fake, client, instrument_with,
                                                                               caplog) -> None:
    """2.5 Computer Use has no Batch price: the batch scenario saves nothing, and no "no price" warning misleads.

    1,000 in × $1.25/1M + 500 out × $10.00/1M = 0.00125 + 0.005 = 0.00625, the actual bill and the batch figure.
    """
    model = "gemini-2.5-computer-use-preview-10-2025"
    telemetry = instrument_with(whatif="batch")
    fake.push(Reply(body=response("a", model_version=model, usage_metadata=usage(prompt=1000, candidates=500))))
    with caplog.at_level("WARNING", logger="otel_gemini"):
        client.models.generate_content(model=model, contents="hi")
    assert telemetry.exact("gemini_whatif_cost_usd_total", gemini_whatif="batch") == Decimal("0.00625")
    assert telemetry.exact("gemini_cost_usd_total") == Decimal("0.00625")
    assert "no price for model" not in caplog.text
