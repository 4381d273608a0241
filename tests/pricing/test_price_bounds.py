"""The price-file schema bounds prices (issue 15): a price of 1e308 would export +Inf dollars on every series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import otel_gemini
from otel_gemini.pricing.schema import MAX_PRICE
from otel_gemini.testing import Reply, response, usage
from tests._price_tables import MODEL, cli, table, write

HOSTILE = ["1e308", str(MAX_PRICE + 1), "0.0000000000001"]


def _hostile(value: str) -> dict[str, Any]:
    raw = table(60)
    raw["models"][MODEL]["periods"][0]["standard"]["input"] = value
    return raw


@pytest.mark.parametrize("value", HOSTILE)
def test_prices_update_file_refuses_an_unbounded_price(tmp_path: Path, value: str) -> None:
    refused = cli("prices", "update", "--file", str(write(tmp_path / "p.json", _hostile(value))),
                  "--cache-dir", str(tmp_path / "cache"))
    assert refused.returncode == 1
    assert refused.stderr.startswith("refused: not a valid price table: $.models.gemini-2.5-flash.periods[0]"), \
        refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_an_unbounded_price_file_is_refused_at_load(fake: Any, client: Any, tmp_path: Path) -> None:
    otel_gemini.uninstrument()
    instrumentor = otel_gemini.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider(),
                                          prices_path=str(write(tmp_path / "p.json", _hostile("1e308"))))
    try:
        fake.push(Reply(body=response("hello", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200))))
        assert client.models.generate_content(model=MODEL, contents="hi").text == "hello"
        recorder = instrumentor.telemetry.recorder
        assert recorder.counters[otel_gemini.semconv.INTERNAL_ERRORS] == {("price_table",): 1}
        total = sum(recorder.counters[otel_gemini.semconv.COST].values())
        assert 0 < total < 1  # priced with the bundled table, never +Inf
    finally:
        otel_gemini.uninstrument()
