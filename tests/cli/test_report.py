"""``otel-gemini report`` against a real Prometheus scraping an instrumented app: its totals equal PromQL's."""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from otel_gemini import attributes
from otel_gemini.cli import main
from otel_gemini.exporters import prometheus as exposition
from otel_gemini.pricing import pacific
from otel_gemini.testing import Reply, response, usage
from tests._prometheus import prometheus, query, wait

MODEL = "gemini-3.1-pro-preview"


def test_report_totals_equal_promql_by_project_model_feature_tenant_and_what_if(
    fake, client, instrument_with: Any, tmp_path: Path,
) -> None:
    telemetry = instrument_with(prometheus_port=0, prometheus_host="127.0.0.1", project="shop", whatif="batch",
                                whatif_models="gemini-3.5-flash-lite")
    port = telemetry.instrumentor.prometheus_port
    try:
        for prompt, tenant, feature in ((10_000, "acme", "chat"), (250_000, "globex", "summarize"),
                                        (2_000, "<b>x</b>,\"q\"", "chat")):
            fake.push(Reply(body=response("ok", model_version=MODEL, usage_metadata=usage(prompt=prompt,
                                                                                        candidates=700))))
            with attributes(tenant=tenant, feature=feature):
                client.models.generate_content(model=MODEL, contents="hi")
        expected = telemetry.exact("gemini_cost_usd_total")
        with prometheus(tmp_path, "app", [f"127.0.0.1:{port}"]) as base:
            wait("the scrape", lambda: query(base, "sum(gemini_cost_usd_total)").get("") == float(expected),
                 time.monotonic() + 30)
            out_csv, out_html = tmp_path / "report.csv", tmp_path / "report.html"
            today = pacific.pacific_date(time.time()).isoformat()
            assert main(["report", "--prometheus", base, "--from", today, "--csv", str(out_csv),
                         "--html", str(out_html)]) == 0
            rows = {(r["section"], r["key"]): Decimal(r["usd"]) for r in csv.DictReader(out_csv.open())}
            promql = {
                "tenant": query_by(base, "sum by (tenant) (gemini_cost_usd_total)", "tenant"),
                "feature": query_by(base, "sum by (feature) (gemini_cost_usd_total)", "feature"),
                "model": query_by(base, "sum by (gen_ai_request_model) (gemini_cost_usd_total)",
                                  "gen_ai_request_model"),
                "project": query_by(base, "sum by (gemini_project) (gemini_cost_usd_total)", "gemini_project"),
                "whatif": query_by(base, "sum by (gemini_whatif) (gemini_whatif_cost_usd_total)", "gemini_whatif"),
            }
    finally:
        exposition.shutdown_all()
    assert rows[("total", today + " to " + today)] == expected.quantize(Decimal("0.000001"))
    for section, values in promql.items():
        assert values, section
        for key, value in values.items():
            assert abs(rows[(section, key)] - Decimal(repr(value))) < Decimal("0.000001"), (section, key)
    assert set(promql["whatif"]) == {"actual", "batch", "model:gemini-3.5-flash-lite"}
    page = out_html.read_text()
    assert "<svg" in page and "<script" not in page and "http" not in page.split("</title>")[1].replace(
        "http://127.0.0.1", "")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def query_by(base: str, expr: str, label: str) -> dict[str, float]:
    from tests._prometheus import series

    return {row["metric"].get(label, "") or "(none)": float(row["value"][1]) for row in series(base, expr)}


def test_report_without_a_period_or_a_prometheus_says_so() -> None:
    import pytest

    with pytest.raises(SystemExit, match="--month YYYY-MM or --from"):
        main(["report", "--prometheus", "http://127.0.0.1:9"])
    with pytest.raises(SystemExit, match="cannot query http://127.0.0.1:9"):
        main(["report", "--prometheus", "http://127.0.0.1:9", "--month", "2026-11"])
