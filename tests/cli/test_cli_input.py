"""Every bad input to ``otel-gemini`` gets one clear line on stderr and exit status 2, never a traceback; ``price``
shows tokens × rate = amount per line; ``prices`` fits 100 columns and shows every rate the table has.

Run as users run it: ``python -m otel_gemini`` in a subprocess (which also proves the module entry point).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LONG_PRO = {"usageMetadata": {"promptTokenCount": 250000, "cachedContentTokenCount": 1000,
                              "toolUsePromptTokenCount": 500, "candidatesTokenCount": 4000,
                              "thoughtsTokenCount": 6000, "totalTokenCount": 260500},
            "modelVersion": "gemini-2.5-pro"}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "otel_gemini", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def one_line_refusal(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_version() -> None:
    from otel_gemini.version import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"otel-gemini {__version__}"


def test_price_reads_stdin_and_shows_tokens_times_rate_per_line() -> None:
    """Hand-computed, gemini-2.5-pro above 200k on 2026-10-01: input 249,000 × $2.50/1M = $0.6225, cached
    1,000 × $0.25/1M = $0.00025, tool-use 500 × $2.50/1M = $0.00125, output 4,000 × $15/1M = $0.06, thinking
    6,000 × $15/1M = $0.09; total $0.774."""
    result = run("price", "--usage", "-", "--at", "2026-10-01", stdin=json.dumps(LONG_PRO))
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert lines == [
        ["input", "text", "249,000", "tok", "×", "$2.5/1M", "=", "$0.6225"],
        ["cached", "input", "text", "1,000", "tok", "×", "$0.25/1M", "=", "$0.00025"],
        ["tool-use", "input", "text", "500", "tok", "×", "$2.5/1M", "=", "$0.00125"],
        ["output", "text", "4,000", "tok", "×", "$15/1M", "=", "$0.06"],
        ["thinking", "text", "6,000", "tok", "×", "$15/1M", "(output", "rate)", "=", "$0.09"],
    ]
    assert "total $0.774 " in result.stdout


def test_price_markup_shows_in_the_rate() -> None:
    result = run("price", "--usage", "-", "--at", "2026-10-01", "--markup", "1.1", stdin=json.dumps(LONG_PRO))
    assert "output text  " in result.stdout and "4,000 tok × $16.5/1M = $0.066" in result.stdout


def test_price_a_saved_stream_is_billed_by_its_last_usage_metadata() -> None:
    """Each chunk's usageMetadata is the running total: the last one is the bill (10 × $0.30/1M + 50 × $2.50/1M)."""
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "modelVersion": "gemini-2.5-flash",
         "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}},
        {"candidates": [{"content": {"parts": [{"text": "lo"}]}}], "modelVersion": "gemini-2.5-flash",
         "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 50, "totalTokenCount": 60}},
    ]
    result = run("price", "--usage", "-", "--at", "2026-10-01", stdin=json.dumps(chunks))
    assert result.returncode == 0, result.stderr
    assert "a stream of 2 chunks: priced by the last chunk's usageMetadata" in result.stdout
    assert "total $0.000128 " in result.stdout


def test_price_missing_file(tmp_path: Path) -> None:
    one_line_refusal(run("price", "--usage", str(tmp_path / "nope.json")), "cannot read", "nope.json",
                     "No such file")


def test_price_bad_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_line_refusal(run("price", "--usage", str(bad)), "bad.json is not JSON")
    one_line_refusal(run("price", "--usage", "-", stdin=""), "standard input is not JSON")


def test_price_neither_body_nor_stream() -> None:
    one_line_refusal(run("price", "--usage", "-", stdin="[1, 2]"), "neither a response body")


def test_price_bad_markup() -> None:
    for markup in ("abc", "0", "-1", "nan"):
        one_line_refusal(run("price", "--usage", "-", "--markup", markup, stdin="{}"), "--markup",
                         "positive number")


def test_price_no_model() -> None:
    one_line_refusal(run("price", "--usage", "-", stdin=json.dumps({"promptTokenCount": 10})),
                     "no model", "pass --model")


def test_price_before_the_first_price_says_when_pricing_starts() -> None:
    line = one_line_refusal(run("price", "--usage", "-", "--model", "gemini-4-carbon", "--at", "2026-01-01",
                                stdin=json.dumps({"promptTokenCount": 10})))
    assert line == "otel-gemini price: no price for gemini-4-carbon on 2026-01-01 (first priced from 2026-11-10)"


def test_bad_day() -> None:
    one_line_refusal(run("price", "--usage", "-", "--model", "gemini-2.5-flash", "--at", "2026-13-01", stdin="{}"),
                     "'2026-13-01' is not a YYYY-MM-DD day")
    one_line_refusal(run("prices", "--at", "yesterday"), "is not a YYYY-MM-DD day")


def test_a_usage_error_is_one_line() -> None:
    one_line_refusal(run("price"), "--usage", "required")
    one_line_refusal(run("no-such-command"), "invalid choice")


def test_prices_unknown_model() -> None:
    one_line_refusal(run("prices", "--model", "gemini-nope"), "no model 'gemini-nope'")
    line = one_line_refusal(run("prices", "--model", "gemini-4-carbon", "--at", "2026-01-01"))
    assert line == "otel-gemini prices: no price for gemini-4-carbon on 2026-01-01 (first priced from 2026-11-10)"


def test_prices_fits_100_columns_and_shows_every_rate() -> None:
    result = run("prices", "--at", "2026-11-01")
    assert result.returncode == 0, result.stderr
    wide = [line for line in result.stdout.splitlines() if len(line) > 100]
    assert not wide, wide
    pro = result.stdout.split("\ngemini-2.5-pro  (", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in pro.splitlines()]
    assert ["tier", "class", "≤200k", ">200k", "other", "modalities"] in rows
    assert ["standard", "input", "1.25", "2.50"] in rows  # and the long-context rate beside it
    assert ["batch", "output", "5.00", "7.50"] in rows  # listed in the table
    assert ["flex", "×0.5", "output", "5.00", "7.50"] in rows  # the standard rate × the table's flex multiplier
    assert ["priority", "×1.8", "input", "2.25", "4.50"] in rows
    assert ["any", "tier", "cache", "storage", "4.50", "per", "1M", "tokens", "per", "hour"] in rows
    assert "per 1,000 grounded prompts, 1500 free per day" in pro
    out = result.stdout
    assert "  standard       per image                   0.04\n" in out
    assert "  standard       per second (4k)             0.35\n" in out
    assert "  standard       per song                    0.04\n" in out
    assert "  standard       input                       0.30            audio 1.00\n" in out  # other modalities


def test_prices_json() -> None:
    result = run("prices", "--model", "gemini-2.5-pro", "--at", "2026-11-01", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    developer = next(m for m in document["models"] if m["platform"] == "gemini")
    standard = developer["tiers"]["standard"]
    assert standard["per_1m_tokens"]["input"] == {"default": "1.25"}
    assert standard["long_context"]["above_prompt_tokens"] == 200000
    assert standard["long_context"]["output"] == {"default": "15.00"}
    assert standard["cache_storage_per_1m_tokens_per_hour"] == "4.50"
    assert developer["tiers"]["flex"]["basis"] == "×0.5 of standard"
    assert developer["tiers"]["batch"]["basis"] == "listed"
    assert developer["source_url"].startswith("https://ai.google.dev/")


@pytest.mark.parametrize("blocked", ["grpc", "opentelemetry.proto"])
def test_agent_without_its_extra(blocked: str) -> None:
    """What `pip install otel-gemini` without [agent] gives: one line naming the extra."""
    code = (
        "import importlib.abc, sys\n"
        "class Blocker(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {blocked!r} or name.startswith({blocked!r} + '.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "from otel_gemini.cli import main\n"
        "sys.exit(main(['agent', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--metrics-port', '0']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    one_line_refusal(result, "the agent needs: pip install 'otel-gemini[agent]'")
