#!/usr/bin/env python3
"""Render otel-gemini's monitoring (rules, alerts, dashboards, Kubernetes objects) from one Config.

    python3 monitoring/generate.py            # rewrite the committed files (the default Config)
    python3 monitoring/generate.py --check    # exit 1 when a committed file differs from the rendering
    python3 monitoring/generate.py --selector 'job="gemini-app"' \\
        --runbook-url-pattern 'https://runbooks.example.com/otel-gemini/%s' --out DIR

With --out, DIR receives the same layout as the repository: prometheus/rules.yaml and alerts.yaml (for
`rule_files:`), grafana/dashboards/*.json and deploy/kubernetes/monitoring/ (`kubectl apply -k`). Settings other
than the defaults need --out: the committed files are the defaults' rendering (tests check it). Stdlib only.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _kubernetes  # noqa: E402  (after the path: the modules sit next to this script, not in a package)
import _rules  # noqa: E402
from config import DEFAULT, Config  # noqa: E402

BASE = "deploy/kubernetes/monitoring"
_MATCHER = r'[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"'
MATCHERS = re.compile(rf"{_MATCHER}(?:\s*,\s*{_MATCHER})*")  # what goes between a selector's braces


def _grafana_generate():  # type: ignore[no-untyped-def]
    """grafana/generate.py, loaded by path (its modules sit next to it, like these)."""
    spec = importlib.util.spec_from_file_location("grafana_generate", ROOT / "grafana" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files(config: Config) -> dict[str, str]:
    """Path relative to the repository root (or to --out) -> content, for `config`."""
    grafana = _grafana_generate()
    import _grafana  # importable now: grafana/generate.py put grafana/ on sys.path

    metrics = list(_grafana.SCOPES)  # every series Prometheus scrapes from otel-gemini (recording rules excluded)
    source = {name: (ROOT / "prometheus" / name).read_text(encoding="utf-8") for name in ("rules.yaml", "alerts.yaml")}
    rules = {name: _rules.render(text, config, metrics) for name, text in source.items()}
    _grafana.configure(config.selector)
    try:
        dashboards = grafana.files()
    finally:
        _grafana.configure(DEFAULT.selector)
    out = {f"prometheus/{name}": text for name, text in rules.items()}
    out.update({f"grafana/dashboards/{name}": text for name, text in dashboards.items()})
    kube = _kubernetes.base(config, rules["rules.yaml"], rules["alerts.yaml"], dashboards)
    out.update({f"{BASE}/{name}": text for name, text in kube.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selector", default=DEFAULT.selector,
                        help="PromQL matchers for every scraped otel-gemini series, e.g. 'job=\"gemini-app\"'")
    parser.add_argument("--runbook-url-pattern", default=DEFAULT.runbook_url_pattern,
                        help="each alert's runbook_url; %%s = the lower-cased alert name (default: %(default)s)")
    parser.add_argument("--namespace", default=DEFAULT.namespace, help="the Kubernetes objects' (%(default)s)")
    parser.add_argument("--out", type=Path, help="directory to write (default: the repository, default settings)")
    parser.add_argument("--check", action="store_true", help="compare with the committed files; exit 1 on a diff")
    args = parser.parse_args(argv)
    if "%s" not in args.runbook_url_pattern or re.search(r'[\s"]', args.runbook_url_pattern):
        parser.error("--runbook-url-pattern needs a %s (where the alert's name goes), and no quote or space")
    if args.selector.strip() and not MATCHERS.fullmatch(args.selector.strip()):
        parser.error("--selector takes PromQL label matchers: 'job=\"gemini-app\"', 'job=~\"a|b\", env=\"prod\"'")
    config = dataclasses.replace(DEFAULT, selector=args.selector.strip(), namespace=args.namespace,
                                 runbook_url_pattern=args.runbook_url_pattern)
    if config != DEFAULT and args.out is None:
        parser.error("settings other than the defaults need --out DIR: the committed files are the defaults")
    out = args.out or ROOT
    wanted = files(config)
    if args.check:
        stale = sorted(p for p, text in wanted.items()
                       if not (out / p).is_file() or (out / p).read_text(encoding="utf-8") != text)
        extra = sorted(str(p.relative_to(out)) for p in (out / BASE).rglob("*")
                       if p.is_file() and str(p.relative_to(out)) not in wanted)
        for path in stale + extra:
            print(f"{out / path}: differs from monitoring/generate.py's output", file=sys.stderr)
        return 1 if stale or extra else 0
    for path, text in wanted.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} files under {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
