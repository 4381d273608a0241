"""The otel-gemini command: prices, price (one call by hand) and the demo, as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "otel_gemini.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_prices_lists_models_with_sources_and_dates() -> None:
    result = run("prices", "--at", "2026-11-23")
    assert result.returncode == 0, result.stderr
    assert "Price table checked on" in result.stdout
    assert "gemini-2.5-pro" in result.stdout and "https://ai.google.dev/gemini-api/docs/pricing" in result.stdout


def test_prices_warns_when_older_than_60_days(tmp_path) -> None:
    override = tmp_path / "p.json"
    override.write_text(json.dumps({"checked_on": "2020-01-01", "models": {}}))
    result = run("prices", "--prices", str(override))
    assert "older than 60 days" in result.stderr


def test_price_one_call_breakdown_e1(tmp_path) -> None:
    usage_file = tmp_path / "usage.json"
    usage_file.write_text(json.dumps({"usageMetadata": {"promptTokenCount": 250000, "candidatesTokenCount": 4000,
                                                        "thoughtsTokenCount": 6000, "totalTokenCount": 260000},
                                      "modelVersion": "gemini-2.5-pro"}))
    result = run("price", "--usage", str(usage_file), "--at", "2026-10-01")
    assert result.returncode == 0, result.stderr
    assert "total $0.775" in result.stdout
    assert "long-context" in result.stdout
    flex = run("price", "--usage", str(usage_file), "--at", "2026-10-01", "--service-tier", "flex")
    assert "total $0.3875" in flex.stdout


def test_price_unknown_model_is_not_zero(tmp_path) -> None:
    usage_file = tmp_path / "usage.json"
    usage_file.write_text(json.dumps({"promptTokenCount": 10, "totalTokenCount": 10}))
    result = run("price", "--model", "gemini-nope", "--usage", str(usage_file))
    assert result.returncode == 2 and "unpriced" in result.stdout


def test_demo_once_prints_a_cost_table() -> None:
    result = run("demo", "--once", "--port", "0")
    assert result.returncode == 0, result.stderr
    assert "gemini-2.5-pro" in result.stdout and "0.775000" in result.stdout
    assert "unpriced" in result.stdout and "unbilled (429)" in result.stdout
    assert re.search(r"page: +http://127\.0\.0\.1:\d+/ ", result.stdout)  # the page's URL, with the bound port
    # Every surface of issue 4 shows in the table, none was skipped (the legacy SDK only where it is installed).
    for operation in ("embeddings", "count_tokens", "upload_file", "create_cache", "cache_storage", "get_batch",
                      "generate_images", "generate_videos", "create_interaction", "live_session"):
        assert f"\n{operation} " in result.stdout, operation
    for cost_type in ("grounding", "cache_write", "cache_storage", "media", "@batch", "free tier, would cost"):
        assert cost_type in result.stdout, cost_type
    skipped = [line for line in result.stdout.splitlines() if "skipped:" in line]
    assert all("google.generativeai is not installed" in line for line in skipped), skipped


def test_demo_cost_table_rows_read_plainly() -> None:
    """Every row has a status; a row whose charge another call found is starred and footnoted; media rows say
    what was bought (8 s of 4k video: 4.80 / 8 = $0.60 a second; 3 images at $0.04 = $0.12)."""
    result = run("demo", "--once", "--port", "0")
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("\noperation ", 1)[1].split("\n\n", 1)[0].splitlines()
    header, rows = table[0], [line for line in table[1:] if not line.startswith(("total", "*", "  "))]
    status_at = header.index("status") + len("operation ")
    for line in rows:
        assert line[status_at:status_at + 28].strip(), line  # never a blank status
    by_key = {tuple(line.split()[:2]): line for line in rows}
    video = by_key["generate_videos", "veo-3.1-generate-preview"]
    assert "1 unbilled*" in video and video.endswith("4.800000  media: 8 s × $0.6/s (4k)")
    assert "1 priced*, 1 unbilled" in by_key["get_operation", "veo-3.1-generate-preview"]
    assert by_key["generate_images", "imagen-4.0-generate-001"].endswith("0.120000  media: 3 image(s) × $0.04/image")
    assert "no call of its own*" in by_key["cache_storage", "gemini-2.5-pro"]
    assert "9 priced, 1 unbilled (503)" in by_key["generate_content", "gemini-3.8-flash"]
    assert any(line.startswith("* its charge is recorded under the operation it pays for") for line in table)
