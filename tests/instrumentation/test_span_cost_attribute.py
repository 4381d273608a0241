"""``gen_ai.usage.cost`` on spans, opt-in (issue 16): the name Langfuse, SigNoz and OpenLIT read.

Which tool reads what: docs/coexistence.md.
"""

from __future__ import annotations

import pytest

from otel_gemini.config import ConfigError
from otel_gemini.testing import Reply, response, usage

MODEL = "gemini-2.5-flash"
# gemini-2.5-flash standard tier: 1,000 × $0.30/1M = $0.00030 input + 500 × $2.50/1M = $0.00125 output = $0.00155
COST = 0.00155


def _call(fake, client) -> None:
    fake.push(Reply(body=response("x", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=500))))
    client.models.generate_content(model=MODEL, contents="hi")


def test_off_by_default(fake, client, telemetry) -> None:
    _call(fake, client)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.cost.amount"] == COST
    assert "gen_ai.usage.cost" not in attributes


def test_opt_in_by_variable(fake, client, instrument_with, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_GEMINI_SPAN_COST_ATTRIBUTE", "true")
    telemetry = instrument_with()
    _call(fake, client)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.cost"] == attributes["gen_ai.usage.cost.amount"] == COST


def test_opt_in_by_keyword_and_bad_value(fake, client, instrument_with, monkeypatch: pytest.MonkeyPatch) -> None:
    telemetry = instrument_with(span_cost_attribute=True)
    _call(fake, client)
    assert telemetry.span().attributes["gen_ai.usage.cost"] == COST
    monkeypatch.setenv("OTEL_GEMINI_SPAN_COST_ATTRIBUTE", "maybe")
    with pytest.raises(ConfigError, match="OTEL_GEMINI_SPAN_COST_ATTRIBUTE"):
        instrument_with()
