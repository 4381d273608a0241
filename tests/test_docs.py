"""The docs are part of the contract: every setting and every metric name the code has is documented."""

from __future__ import annotations

from pathlib import Path

from otel_gemini import semconv
from otel_gemini.settings.config import _ENV

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_in_configuration_md() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [variable for variable in _ENV.values() if variable not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"
    for variable in ("OTEL_GEMINI_MULTIPROC_DIR", "OTEL_GEMINI_MULTIPROC_INTERVAL"):
        assert variable in text


def test_every_metric_is_in_metrics_md_with_both_names() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    for metric in semconv.COUNTERS + semconv.HISTOGRAMS + semconv.GAUGES:
        assert f"`{metric.otel_name}`" in text, metric.otel_name
        assert f"`{metric.prometheus_name}`" in text, metric.prometheus_name
