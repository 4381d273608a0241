"""Maintainer tooling for price refreshes, through the real CLI: ``prices diff`` and ``prices check --against``.

The tables here are small whole price files written by the tests, so the expected lines do not move when the
bundled table is refreshed. The peer files under tests/data/ are hand-made in litellm's and genai-prices' real
shapes (a few Gemini models, plus entries the check must ignore: other providers, Vertex, Claude on Vertex).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent.parent / "data"
LITELLM = DATA / "litellm_prices.json"
GENAI = DATA / "genai_prices.json"

GROUNDING_3 = {"unit": "query", "per_1000": "14.00", "free_allowance": 5000, "allowance_period": "month",
               "allowance_group": "gemini-3"}
TABLE: dict[str, Any] = {
    "schema_version": 1,
    "currency": "USD",
    "checked_on": "2026-11-20",
    "sources": {"page-2026-11": {"url": "https://ai.google.dev/gemini-api/docs/pricing", "captured": "2026-11-20"}},
    "tier_multipliers": {"flex": "0.5", "priority": "1.8", "source": "page-2026-11"},
    "models": {
        "gemini-2.5-pro": {
            "kind": "text", "retired_on": "2026-10-16",
            "periods": [{
                "effective_from": "2025-10-31", "effective_to": None, "source": "page-2026-11",
                "standard": {"input": "1.25", "cache_read": "0.125", "output": "10.00",
                             "long_context": {"threshold": 200000, "input": "2.50", "cache_read": "0.25",
                                              "output": "15.00"},
                             "grounding": {"unit": "prompt", "per_1000": "35.00"}},
                "batch": {"input": "0.625", "cache_read": "0.125", "output": "5.00",
                          "long_context": {"threshold": 200000, "input": "1.25", "cache_read": "0.25",
                                           "output": "7.50"}},
            }],
        },
        "gemini-3.5-flash": {
            "kind": "text",
            "periods": [{
                "effective_from": "2026-09-26", "effective_to": None, "source": "page-2026-11",
                "standard": {"input": "1.50", "cache_read": "0.15", "output": "9.00"},
                "batch": {"input": "0.75", "cache_read": "0.075", "output": "4.50"},
            }],
        },
        "gemini-4-argon": {
            "kind": "text",
            "periods": [
                {"effective_from": "2026-10-15", "effective_to": "2026-12-01", "source": "page-2026-11",
                 "standard": {"input": "2.00", "cache_read": "0.10", "output": "10.00", "grounding": GROUNDING_3},
                 "batch": {"input": "1.00", "cache_read": "0.05", "output": "5.00"}},
                {"effective_from": "2026-12-01", "effective_to": None, "source": "page-2026-11",
                 "standard": {"input": "4.00", "cache_read": "0.20", "output": "20.00", "grounding": GROUNDING_3},
                 "batch": {"input": "2.00", "cache_read": "0.10", "output": "10.00"}},
            ],
        },
        "gemini-embedding-001": {
            "kind": "embedding",
            "periods": [{"effective_from": "2025-10-31", "effective_to": None, "source": "page-2026-11",
                         "standard": {"input": "0.15", "output": "0"}, "batch": {"input": "0.075", "output": "0"}}],
        },
        "imagen-4.0-generate-001": {
            "kind": "imagen",
            "periods": [{"effective_from": "2025-10-31", "effective_to": None, "source": "page-2026-11",
                         "standard": {"input": "0", "output": "0", "per_image": "0.04"}}],
        },
    },
}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "otel_gemini.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, check=False)


def write(path: Path, table: dict[str, Any]) -> str:
    path.write_text(json.dumps(table))
    return str(path)


def refreshed() -> dict[str, Any]:
    """TABLE after a refresh: one rate edited in place, one model added, one removed, one new dated period."""
    new = copy.deepcopy(TABLE)
    new["checked_on"] = "2026-12-04"
    new["sources"]["page-2026-12"] = {"url": "https://ai.google.dev/gemini-api/docs/pricing", "captured": "2026-12-04"}
    new["models"]["gemini-2.5-pro"]["retired_on"] = "2026-12-01"
    new["models"]["gemini-3.5-flash"]["periods"][0]["standard"]["output"] = "10.00"
    del new["models"]["imagen-4.0-generate-001"]
    new["models"]["gemini-5-flash"] = {"kind": "text", "periods": [{
        "effective_from": "2026-12-01", "effective_to": None, "source": "page-2026-12",
        "standard": {"input": "1.00", "cache_read": "0.10", "output": "6.00"}}]}
    argon = new["models"]["gemini-4-argon"]["periods"]
    argon[1]["effective_to"] = "2027-03-01"
    argon.append({**copy.deepcopy(argon[1]), "effective_from": "2027-03-01", "effective_to": None,
                  "source": "page-2026-12"})
    argon[2]["standard"]["input"] = "5.00"
    return new


# Sample bill = 10,000 input + 2,000 cached + 1,000 output tokens (+ one unit for per-unit models), by hand:
#   3.5 Flash old: 10,000 x $1.50/1M + 2,000 x $0.15/1M + 1,000 x $9.00/1M  = 0.015 + 0.0003 + 0.009 = $0.0243
#   3.5 Flash new: output $10.00/1M -> 0.015 + 0.0003 + 0.010                                    = $0.0253 (+4.1%)
#   4 Argon on 2027-03-01 old: 10,000 x $4 + 2,000 x $0.20 + 1,000 x $20 (per 1M) = 0.04 + 0.0004 + 0.02 = $0.0604
#   4 Argon on 2027-03-01 new: input $5 -> 0.05 + 0.0004 + 0.02 = $0.0704 (+16.6%)
#   5 Flash (added): 0.01 + 0.0002 + 0.006 = $0.0162
#   Imagen 4 (removed): tokens at the "0" placeholders + one image at $0.04 = $0.04
EXPECTED_DIFF = """\
prices diff: old.json (checked 2026-11-20) -> new.json (checked 2026-12-04)
Rates in force on 2026-12-04 (Pacific) and on the first day of each new period; USD per 1M tokens,
per-unit prices in USD per unit. Sample bill: 10,000 input + 2,000 cached + 1,000 output tokens;
per-unit models add one image/second/song.

table checked_on: 2026-11-20 -> 2026-12-04
table sources added: page-2026-12

~ gemini-2.5-pro
    retired_on: 2026-10-16 -> 2026-12-01
~ gemini-3.5-flash
    period gemini from 2026-09-26 changed: prices edited in place (rewrites what past calls cost;
      add a dated period instead?)
    2026-12-04  standard.output                                       9 -> 10          (+11.1%)
    2026-12-04  sample bill standard                            $0.0243 -> $0.0253     (+4.1%)
~ gemini-4-argon
    period gemini from 2026-12-01 changed: effective_to open -> 2027-03-01
    period gemini from 2027-03-01 added (to open, source page-2026-12)
    2027-03-01  standard.input                                        4 -> 5           (+25.0%)
    2027-03-01  sample bill standard                            $0.0604 -> $0.0704     (+16.6%)
+ gemini-5-flash (added, text)
    2026-12-04  standard.cache_read                                   - -> 0.1
    2026-12-04  standard.input                                        - -> 1
    2026-12-04  standard.output                                       - -> 6
    2026-12-04  sample bill standard                                  - -> $0.0162
- imagen-4.0-generate-001 (removed, imagen)
    2026-12-04  standard.input                                        0 -> -
    2026-12-04  standard.output                                       0 -> -
    2026-12-04  standard.per_image                                 0.04 -> -
    2026-12-04  sample bill standard                              $0.04 -> -

Models: 3 changed, 1 added, 1 removed.
"""


def test_diff_lists_each_change_with_sample_bills(tmp_path: Path) -> None:
    write(tmp_path / "old.json", TABLE), write(tmp_path / "new.json", refreshed())
    result = run("prices", "diff", "old.json", "new.json", "--at", "2026-12-04", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout == EXPECTED_DIFF
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_diff_json_and_no_differences(tmp_path: Path) -> None:
    old, new = write(tmp_path / "old.json", TABLE), write(tmp_path / "new.json", refreshed())
    result = run("prices", "diff", old, new, "--at", "2026-12-04", "--json")
    assert result.returncode == 1, result.stderr
    models = {m["model"]: m for m in json.loads(result.stdout)["models"]}
    assert models["gemini-3.5-flash"]["sample_bills"] == [
        {"at": "2026-12-04", "platform": "gemini", "tier": "standard", "old": "0.0243", "new": "0.0253",
         "change_pct": "4.1"}]
    assert models["gemini-4-argon"]["rates"] == [
        {"at": "2027-03-01", "rate": "standard.input", "old": "4", "new": "5", "change_pct": "25.0"}]
    same = run("prices", "diff", "bundled", "bundled")
    assert same.returncode == 0 and same.stdout.rstrip().endswith("No differences."), same.stderr


def test_diff_bundled_against_an_edited_copy(tmp_path: Path) -> None:
    """The refresh procedure's review step: the bundled table against an edited copy of it."""
    from otel_gemini.pricing import table as price_table

    edited = copy.deepcopy(price_table.load().raw)
    model = edited["models"]["gemini-4-argon"]
    model["retired_on"] = "2027-06-01"
    result = run("prices", "diff", "bundled", write(tmp_path / "p.json", edited), "--at", "2026-12-04")
    assert result.returncode == 1, result.stderr
    assert "~ gemini-4-argon\n    retired_on: - -> 2027-06-01\n" in result.stdout


# litellm stores per-token floats; 1.5000000000000002e-07 (3.5 Flash cache) reads as $0.15/1M at 6 digits.
# Flex: ours is standard x 0.5 (2.5 Pro cache 0.125 x 0.5 = 0.0625); litellm does not discount flex caching.
EXPECTED_CHECK_LITELLM = """\
Only in ours (1):
  gemini-embedding-001
Only in theirs (1, Gemini models of that file):
  gemini/gemini-9-ultra-preview
Disagreements (3):
  gemini-2.5-pro  (theirs: gemini/gemini-2.5-pro)
    rate                                               ours    theirs
    retired_on                                   2026-10-16    2026-12-01
    flex.cache_read                                  0.0625    0.125
  gemini-3.5-flash  (theirs: gemini/gemini-3.5-flash)
    rate                                               ours    theirs
    standard.input[audio]                               1.5    3
  gemini-4-argon  (theirs: gemini/gemini-4-argon)
    rate                                               ours    theirs
    batch.cache_read                                    0.1    0.05
    batch.input                                           2    1
    batch.output                                         10    5
    standard.cache_read                                 0.2    0.1
    standard.input                                        4    2
    standard.output                                      20    10

1 model entries agree on every rate both sides state.
"""

# genai-prices: 2.5 Pro's batch variant names input and output only, so its batch cache is the standard 0.125
# (genai-prices' rule), as ours; 4 Argon's dated prices and batch variants resolve to the 2026-12-01 figures.
EXPECTED_CHECK_GENAI = """\
Only in ours (1):
  imagen-4.0-generate-001
Only in theirs (1, Gemini models of that file):
  gemini-1.5-pro
Disagreements (1):
  gemini-3.5-flash  (theirs: gemini-3.5-flash)
    rate                                               ours    theirs
    batch.cache_read                                  0.075    -
    batch.input                                        0.75    -
    batch.output                                        4.5    -
    standard.output                                       9    9.5

3 model entries agree on every rate both sides state.
"""


@pytest.mark.parametrize("peer, expected, kind", [(LITELLM, EXPECTED_CHECK_LITELLM, "litellm"),
                                                  (GENAI, EXPECTED_CHECK_GENAI, "genai-prices")])
def test_check_lists_disagreements_and_missing_models(tmp_path: Path, peer: Path, expected: str, kind: str) -> None:
    table = write(tmp_path / "t.json", TABLE)
    result = run("prices", "check", "--against", peer.name, "--prices", table, "--at", "2026-12-04", cwd=DATA)
    assert result.returncode == 1, result.stderr
    head, _, body = result.stdout.partition("\n\n")
    assert head == (
        f"prices check: table checked 2026-11-20 against {kind} data {peer.name}\n"
        "Rates in force on 2026-12-04 (Pacific), USD per 1M tokens (per-unit prices per unit), compared at 6\n"
        "significant digits. Our flex/priority rates are the tier multipliers applied to standard; '-' means\n"
        "that side has no such rate.")
    assert body == expected
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_check_follows_dated_peer_prices(tmp_path: Path) -> None:
    """On 2026-11-15 both sides charge 4 Argon's introductory prices: genai-prices' conditional prices agree."""
    table = write(tmp_path / "t.json", TABLE)
    result = run("prices", "check", "--against", str(GENAI), "--prices", table, "--at", "2026-11-15", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "genai-prices" and report["at"] == "2026-11-15"
    assert [d["model"] for d in report["disagreements"]] == ["gemini-3.5-flash"]
    litellm = json.loads(run("prices", "check", "--against", str(LITELLM), "--prices", table, "--at", "2026-11-15",
                             "--json").stdout)
    assert "gemini-4-argon" not in [d["model"] for d in litellm["disagreements"]]


def test_check_the_bundled_table(tmp_path: Path) -> None:
    result = run("prices", "check", "--against", str(LITELLM))
    assert result.returncode == 1, result.stderr
    assert "gemini/gemini-9-ultra-preview" in result.stdout


@pytest.mark.parametrize("content, problem", [
    (None, "No such file or directory"),
    ("{not json", "is not JSON"),
    ('{"models": {}}', "neither litellm's model price JSON nor genai-prices' data.json"),
])
def test_bad_peer_file_is_one_line_and_exit_2(tmp_path: Path, content: str | None, problem: str) -> None:
    peer = tmp_path / "peer.json"
    if content is not None:
        peer.write_text(content)
    result = run("prices", "check", "--against", str(peer))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
    assert result.stderr.startswith("otel-gemini prices check: ")


def test_bad_table_or_date_is_one_line_and_exit_2(tmp_path: Path) -> None:
    broken = copy.deepcopy(TABLE)
    broken["models"]["gemini-3.5-flash"]["periods"][0]["standard"]["input"] = 1.5  # a float, not a string
    cases = [
        ("prices", "diff", "bundled", write(tmp_path / "b.json", broken)),
        ("prices", "diff", "bundled", str(tmp_path / "missing.json")),
        ("prices", "diff", str(tmp_path / "b.json"), "bundled"),
        ("prices", "diff", "bundled", str(LITELLM.parent / "genai_prices.json")),  # a list, not a table
        ("prices", "diff", "bundled", "bundled", "--at", "2026-13-01"),
        ("prices", "check", "--against", str(LITELLM), "--prices", str(DATA)),  # a directory
    ]
    for args in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "periods[0].standard.input: prices are strings" in run(*cases[0]).stderr
    (tmp_path / "b.json").write_text("{not json")
    assert "b.json is not JSON" in run(*cases[2]).stderr


BLOCKER = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("opentelemetry", "google"):
            raise ImportError("blocked by the test: " + name)
sys.meta_path.insert(0, Blocked())
from otel_gemini import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_diff_and_check_run_without_opentelemetry_or_the_sdk(tmp_path: Path) -> None:
    old, new = write(tmp_path / "old.json", TABLE), write(tmp_path / "new.json", refreshed())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for args in (["prices", "diff", old, new, "--at", "2026-12-04"], ["prices", "check", "--against", str(GENAI)],
                 ["prices", "--at", "2026-12-04"]):
        result = subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True, text=True, timeout=120,
                                env=env, check=False)
        assert result.returncode in (0, 1), result.stderr
        assert "blocked by the test" not in result.stderr
