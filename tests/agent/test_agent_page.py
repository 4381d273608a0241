"""The agent's page at ``/`` of its metrics listener, and its what-ifs: the same bill path as the library's."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.settings.config import load_settings
from tests._browser import browser
from tests.agent.test_agent import http_exporter, send, total

# 250,000 prompt tokens (over the 200k cliff) + 1,000 output on gemini-3.1-pro-preview:
# actual 250k x $4.00/1M + 1k x $18.00/1M = 1.018; batch 250k x 2.00 + 1k x 9.00 = 0.509;
# gemini-3.5-flash-lite (no long-context tier) 250k x 0.30 + 1k x 2.50 = 0.0775.
SPAN = {
    "gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
    "gen_ai.request.model": "gemini-3.1-pro-preview", "gen_ai.usage.input_tokens": 250_000,
    "gen_ai.usage.output_tokens": 1000, "gemini.attribution.tenant": "</script><b>acme</b>",
}


@pytest.fixture
def agent() -> Iterator[Agent]:
    settings = load_settings({"whatif": "batch", "whatif_models": "gemini-3.5-flash-lite"}, environ={})
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, settings=settings)) as running:
        yield running


def test_agent_prices_what_ifs_and_its_page_shows_its_metrics(agent: Agent, tmp_path: Path) -> None:
    send(http_exporter(agent), SPAN)
    assert total(agent, "gemini_cost_usd_total") == Decimal("1.018")
    for scenario, amount in (("actual", "1.018"), ("batch", "0.509"), ("model:gemini-3.5-flash-lite", "0.0775")):
        assert total(agent, "gemini_whatif_cost_usd_total", gemini_whatif=scenario) == Decimal(amount), scenario
    base = f"http://127.0.0.1:{agent.metrics_port}"
    with urllib.request.urlopen(base + "/api/summary", timeout=5) as reply:
        document = json.loads(reply.read())
    assert Decimal(document["spend"]["total"]) == Decimal("1.018")
    assert dict(document["whatif"])["batch"] == "0.509000"
    with browser(tmp_path) as page:
        page.go(base + "/")
        page.until("the page drew", "return document.body.getAttribute('data-loaded')")
        assert Decimal(page.run("return document.getElementById('spend-total').getAttribute('data-value')")) \
            == total(agent, "gemini_cost_usd_total")
        assert page.run("return document.querySelectorAll('b').length") == page.run(
            "return document.querySelectorAll('header b, .card b').length")  # the tenant's <b> stayed text
        names = page.run("return [...document.querySelectorAll('#by_attribution_tenant .name')]"
                         ".map(e => e.textContent)")
        assert names == [SPAN["gemini.attribution.tenant"]]
