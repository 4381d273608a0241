"""``otel-gemini price`` refuses usage that cannot be a bill: one clear line, a non-zero exit (issue 15)."""

from __future__ import annotations

import json

import pytest

from tests._price_tables import cli


@pytest.mark.parametrize(("counts", "reason"), [
    ({"thoughtsTokenCount": -6000}, "negative"),
    ({"candidatesTokenCount": 2.5}, "not integer"),
    ({"promptTokenCount": 10**9}, "too large"),
])
def test_price_refuses_impossible_usage(tmp_path, counts, reason) -> None:
    usage_file = tmp_path / "usage.json"
    usage_file.write_text(json.dumps({"usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 200,
                                                        **counts}, "modelVersion": "gemini-2.5-flash"}))
    result = cli("price", "--usage", str(usage_file))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: usageMetadata.") and reason in lines[0], result.stderr
