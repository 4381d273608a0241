#!/usr/bin/env python3
"""Write grafana/dashboards/*.json from the definitions in grafana/_cost.py, _traffic.py and _health.py.

`python3 grafana/generate.py` (stdlib only). The JSON is committed so Grafana can provision it without Python;
tests/monitoring/test_dashboards.py checks that it equals what this script writes, so edit the Python, never the JSON.
`--out DIR` writes elsewhere (the test does), `--check` exits 1 when the committed files differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _cost  # noqa: E402  (after the path: the modules sit next to this script, not in a package)
import _health  # noqa: E402
import _traffic  # noqa: E402

# Some panels' series appear only with a first event (a downgrade, an export refused, a free-tier call) or only on
# some processes (the agent's); tests/monitoring/test_monitoring_e2e.py arranges each, so every panel's query must
# return data.

# Grafana macros the queries use, and what a test substitutes for them to run a query directly against Prometheus.
MACROS: dict[str, str] = {"$__rate_interval": "1m", "$__range": "1h"}


def dashboards() -> list[dict[str, Any]]:
    """The dashboards as Grafana JSON models, each linking to the others (by the shared `otel-gemini` tag)."""
    links = [{"asDropdown": False, "includeVars": True, "keepTime": True, "tags": ["otel-gemini"],
              "targetBlank": False, "title": "otel-gemini", "type": "dashboards"}]
    return [module.build().json(links) for module in (_cost, _traffic, _health)]


def render(dashboard: dict[str, Any]) -> str:
    """Stable text: the builders emit keys in a fixed order; indent 2 and a final newline for readable diffs."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def files() -> dict[str, str]:
    """File name (`<uid>.json`) -> content."""
    return {f"{d['uid']}.json": render(d) for d in dashboards()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "dashboards",
                        help="directory to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing; exit 1 on a diff")
    args = parser.parse_args(argv)
    wanted = files()
    if args.check:
        stale = sorted(name for name, text in wanted.items()
                       if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text)
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in wanted)
        for name in stale + extra:
            print(f"{args.out / name}: differs from grafana/generate.py's output", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(sorted(wanted))} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
