"""The page at ``/`` of the in-app metrics server and of the agent, driven in a real headless chromium.

A scripted workload through the real client; the page's numbers must equal /metrics; more calls must show up
without a reload (the page polls /api/summary); nothing may be requested from anywhere but the listener itself.
"""

from __future__ import annotations

import re
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors

from otel_gemini import attributes
from otel_gemini.exporters import prometheus
from otel_gemini.page.serve import CSP
from otel_gemini.testing import Reply, quota_exceeded, response, usage
from tests._browser import browser, distinct_pixels
from tests.conftest import page_sum

MODEL = "gemini-3.1-pro-preview"
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'
QUOTA = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"


def _call(fake: Any, client: Any, prompt: int, tenant: str, feature: str) -> None:
    fake.push(Reply(body=response("ok", model_version=MODEL, usage_metadata=usage(prompt=prompt, candidates=800))))
    with attributes(tenant=tenant, feature=feature):
        client.models.generate_content(model=MODEL, contents="hi")


def _workload(fake: Any, client: Any) -> None:
    for prompt, tenant, feature in ((12_000, "acme", "chat"), (250_000, "globex", "summarize"),
                                    (3_000, HOSTILE, "chat"), (40_000, "acme", "search")):
        _call(fake, client, prompt, tenant, feature)
    fake.push(Reply(status=429, body=quota_exceeded(QUOTA, model=MODEL, retry_delay=None)))
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="hi")


def _get(url: str) -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return dict(reply.headers.items()), reply.read()


@pytest.fixture
def served(instrument_with: Any) -> Any:
    yield instrument_with(prometheus_port=0, prometheus_host="127.0.0.1", whatif="batch,flex,cache",
                          whatif_models="gemini-3.5-flash-lite")
    prometheus.shutdown_all()


VALUES = """
const out = {};
for (const el of document.querySelectorAll('[data-value]')) {
  const row = el.closest('[data-key]');
  const key = row ? row.parentElement.id + ':' + row.getAttribute('data-key') : el.id;
  out[key] = el.getAttribute('data-value');
}
return out;
"""


def test_the_page_shows_what_metrics_shows_updates_live_and_fetches_nothing_else(
    fake, client, served, tmp_path: Path,
) -> None:
    base = f"http://127.0.0.1:{served.instrumentor.prometheus_port}"
    _workload(fake, client)
    with browser(tmp_path) as page:
        page.go(base + "/")
        page.until("the page drew", "return document.body.getAttribute('data-loaded')")
        shown = page.run(VALUES)
        metrics = _get(base + "/metrics")[1].decode()
        cost = page_sum(metrics, "gemini_cost_usd_total")
        assert Decimal(shown["spend-total"]) == cost > 0
        assert Decimal(shown["spend-month"]) == page_sum(metrics, "gemini_cost_pacific_month_usd_total")
        assert Decimal(shown["by_model:" + MODEL]) == cost
        assert Decimal(shown["calls"]) == page_sum(metrics, "gemini_requests_total") == 5
        for tenant in ("acme", "globex", HOSTILE):
            assert Decimal(shown["by_attribution_tenant:" + tenant]) == page_sum(
                metrics, "gemini_cost_usd_total", tenant=tenant.replace('"', '\\"'))
        for token_type in ("input", "output"):
            assert Decimal(shown["tokens:" + token_type]) == page_sum(
                metrics, "gemini_tokens_total", gen_ai_token_type=token_type)
        for scenario in ("actual", "batch", "flex", "cache", "model:gemini-3.5-flash-lite"):
            assert Decimal(shown["whatif:" + scenario]) == page_sum(
                metrics, "gemini_whatif_cost_usd_total", gemini_whatif=scenario)
        assert Decimal(shown["errors:429"]) == 1, shown
        assert Decimal(shown["quota:" + QUOTA]) == page_sum(metrics, "gemini_quota_exceeded_total") == 1
        assert page.run("return document.title") != "pwned"  # the hostile tenant stayed text
        assert page.run("return document.querySelectorAll('img').length") == 0

        before = shown["spend-total"]
        _call(fake, client, 1_000, "initech", "chat")  # more calls: the open page picks them up by itself
        page.until("the page refreshed", f"return document.getElementById('spend-total')"
                                         f".getAttribute('data-value') !== '{before}'", timeout_s=20)
        metrics = _get(base + "/metrics")[1].decode()
        assert Decimal(page.run(VALUES)["spend-total"]) == page_sum(metrics, "gemini_cost_usd_total")

        resources = page.run("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(url.startswith(base + "/") for url in resources), resources
        png = page.screenshot()
    assert distinct_pixels(png) > 50  # not blank: text, bars and colours
    (tmp_path / "page.png").write_bytes(png)


def test_every_page_answer_is_same_origin_only_and_read_only(served) -> None:
    base = f"http://127.0.0.1:{served.instrumentor.prometheus_port}"
    for path in ("/", "/page.js", "/page.css", "/api/summary"):
        headers, body = _get(base + path)
        assert headers["Content-Security-Policy"] == CSP and "default-src 'self'" in CSP
        assert "unsafe-inline" not in CSP and headers["X-Content-Type-Options"] == "nosniff"
        urls = set(re.findall(rb"(?:https?:)?//[\w.-]+", body)) - {b"http://www.w3.org"}  # the SVG namespace name
        assert not urls, (path, urls)
    assert "gemini_cost_usd_total" in _get(base + "/metrics")[1].decode()  # /metrics is still prometheus_client's
    request = urllib.request.Request(base + "/api/summary", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405
