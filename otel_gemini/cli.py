"""``otel-gemini``: price table, pricing one call by hand, the demo, /metrics for pre-fork servers' workers.

``prices`` and ``price`` use only the cost engine (no SDK, no OpenTelemetry), so a bill can be checked
against Google's pages without running anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from decimal import Decimal
from typing import Any, Sequence

from otel_gemini.pricing import engine, pacific
from otel_gemini.pricing import table as price_table
from otel_gemini.usage import extract_usage

STALE_AFTER_DAYS = 60


def _at(value: str | None) -> float:
    """Noon Pacific of a YYYY-MM-DD day (clear of any boundary), or now."""
    if not value:
        return time.time()
    return pacific.day_start_epoch(date.fromisoformat(value)) + 12 * 3600


def _rate_text(raw: Any) -> str:
    if raw is None:
        return "-"
    if isinstance(raw, str):
        return raw
    default = raw["default"]
    extras = ", ".join(f"{k} {v}" for k, v in raw.items() if k != "default")
    return f"{default} ({extras})" if extras else default


def cmd_prices(args: argparse.Namespace) -> int:
    table = price_table.load(args.prices)
    at = _at(args.at)
    day = pacific.pacific_date(at)
    age = (date.today() - table.checked_on).days
    print(f"Price table checked on {table.checked_on} ({age} days ago); prices in USD per 1M tokens as of {day} (Pacific).")
    if age > STALE_AFTER_DAYS:
        print(f"warning: the price table is older than {STALE_AFTER_DAYS} days; check Google's pricing page "
              "and override with OTEL_GEMINI_PRICES if prices changed.", file=sys.stderr)
    rows = [("model", "input", "cached", "output", "storage/h", "from", "source")]
    for model_id in sorted(table.models):
        if args.model and table.normalize(args.model) != model_id:
            continue
        for platform, period in table.in_force(model_id, at):
            std = period["standard"]
            units = [f"{k.removeprefix('per_')} {_rate_text(std[k])}" for k in ("per_image", "per_second", "per_song") if k in std]
            name = model_id if platform == "gemini" else f"{model_id} [vertex]"
            rows.append((
                name,
                " ".join(units) or _rate_text(std.get("input")),
                _rate_text(std.get("cache_read")),
                "" if units else _rate_text(std.get("output")),
                std.get("cache_storage_per_hour", "-"),
                period["effective_from"],
                table.source_url(period["source"]),
            ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "  " + str(row[-1]))
    print("\nSources:")
    for source_id, source in sorted(table.sources.items()):
        print(f"  {source_id}: {source['url']} (captured {source.get('captured', 'n/a')})")
    return 0


def cmd_price(args: argparse.Namespace) -> int:
    table = price_table.load(args.prices)
    with open(args.usage, encoding="utf-8") as handle:
        document = json.load(handle)
    usage_metadata = document.get("usageMetadata", document.get("usage_metadata", document))
    usage = extract_usage(usage_metadata)
    model = args.model or document.get("modelVersion")
    cost = engine.price_response(
        table, model, usage, at=_at(args.at), service_tier=args.service_tier or (usage.service_tier if usage else None),
        platform=args.platform,
        grounded_retrieval=args.grounded, markup=Decimal(args.markup), free_tier=args.free_tier,
    )
    print(f"model {model} -> {cost.model_id or 'unknown'}; tier {cost.service_tier}; status {cost.status}")
    if cost.status == engine.UNPRICED:
        print("no price for this model: counted as unpriced, never $0", file=sys.stderr)
        return 2
    if usage is None:
        print("no usageMetadata in the file: unmetered", file=sys.stderr)
        return 2
    if cost.long_context:
        print("prompt over the long-context threshold: every token class at the >200k rates")
    for line in cost.lines:
        print(f"  {line.cost_type:<11} {line.modality:<9} ${format(line.amount.normalize(), 'f')}")
    print(f"total ${format(cost.total.normalize(), 'f')}  (source: {table.source_url(cost.source) if cost.source else '-'})")
    if cost.list_price is not None:
        print(f"free tier: paid-tier price would be ${format(cost.list_price.normalize(), 'f')}")
    return 0


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return seconds


def cmd_demo(args: argparse.Namespace) -> int:
    from otel_gemini import demo

    return demo.run(port=args.port, host=args.host, once=args.once, loop=args.loop)


def cmd_metrics_server(args: argparse.Namespace) -> int:
    """/metrics for the workers of a pre-fork server that instrument themselves (uwsgi, gunicorn without a master
    hook): the merge of their snapshots in --dir, from a process of its own (docs/deployment.md)."""
    from otel_gemini.exporters import multiprocess, prometheus

    port = prometheus.serve(args.port, args.host, registry=multiprocess.merged_registry(args.dir))
    print(f"otel-gemini: serving the merged view of {args.dir} on http://{args.host}:{port}/metrics", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


_AGENT_FLAGS = (
    # (flag, type, default, help); each also reads OTEL_GEMINI_AGENT_<FLAG> (--otlp-http-port: ..._OTLP_HTTP_PORT)
    ("--host", str, "127.0.0.1", "address every listener binds (default loopback)"),
    ("--otlp-grpc-port", int, 4317, "OTLP/gRPC TraceService port (default 4317)"),
    ("--otlp-http-port", int, 4318, "OTLP/HTTP port, POST /v1/traces (default 4318)"),
    ("--metrics-port", int, 9464, "/metrics, /healthz and /readyz port (default 9464)"),
    ("--metrics-host", str, None, "address of the /metrics listener when it differs from --host (a sidecar: "
     "OTLP on loopback, metrics on the pod address)"),
    ("--bearer-token", str, None, "require 'Authorization: Bearer <token>' on every export"),
    ("--max-request-bytes", int, 4 * 1024 * 1024, "refuse larger exports with 413 (default 4 MiB)"),
    ("--forward-otlp-endpoint", str, None, "also pass every accepted export on to URL/v1/traces (OTLP/HTTP)"),
    ("--push-metrics-otlp-endpoint", str, None, "also push the cost metrics to URL/v1/metrics (OTLP/HTTP)"),
    ("--push-interval-s", float, 15.0, "seconds between metric pushes (default 15)"),
    ("--max-connections", int, 128, "connections each HTTP listener serves at once, and gRPC exports in flight; "
     "beyond: 503 with Retry-After / RESOURCE_EXHAUSTED (default 128)"),
    ("--idle-timeout-s", float, 10.0, "close a connection that sends nothing for this long: an idle keep-alive, "
     "a half-sent request (default 10)"),
)


def cmd_agent(args: argparse.Namespace) -> int:
    """Price the GenAI spans that apps in any language export by OTLP (docs/agent.md)."""
    import os

    from otel_gemini.agent.server import Agent, AgentOptions
    from otel_gemini.config import ConfigError, load_settings

    values: dict[str, Any] = {}
    for flag, kind, default, _help in _AGENT_FLAGS:
        name = flag.removeprefix("--").replace("-", "_")
        variable = "OTEL_GEMINI_AGENT_" + name.upper()
        value = getattr(args, name)
        if value is None and os.environ.get(variable, "").strip():
            try:
                value = kind(os.environ[variable].strip())
            except ValueError:
                print(f"otel-gemini agent: {variable}={os.environ[variable]!r} is not a valid {flag}", file=sys.stderr)
                return 2
        values[name] = default if value is None else value
    try:
        settings = load_settings({"prices_path": args.prices})
        agent = Agent(AgentOptions(**values, settings=settings)).start()
    except (ConfigError, OSError, ValueError) as problem:
        print(f"otel-gemini agent: {problem}", file=sys.stderr)
        return 2
    host, metrics_host = values["host"], values["metrics_host"] or values["host"]
    print(f"otel-gemini agent: OTLP gRPC on {host}:{agent.grpc_port}, OTLP HTTP on http://{host}:{agent.http_port}"
          f"/v1/traces, metrics on http://{metrics_host}:{agent.metrics_port}/metrics", flush=True)
    return agent.serve_until_signalled()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-gemini", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    prices = commands.add_parser("prices", help="show the bundled price table, its sources and dates")
    prices.add_argument("--model", help="only this model (any spelling the API accepts)")
    prices.add_argument("--at", help="prices in force on this Pacific day (YYYY-MM-DD); default today")
    prices.add_argument("--prices", help="override file (as OTEL_GEMINI_PRICES)")
    prices.set_defaults(func=cmd_prices)

    price = commands.add_parser("price", help="price one call's usage, line by line")
    price.add_argument("--model", help="model id (default: the file's modelVersion)")
    price.add_argument("--usage", required=True, help="JSON: a response body or its usageMetadata")
    price.add_argument("--service-tier", choices=engine.SERVICE_TIERS,
                       help="tier as served (default: the file's usageMetadata.serviceTier, else standard)")
    price.add_argument("--at", help="Pacific day of the request (YYYY-MM-DD); default today")
    price.add_argument("--platform", default="gemini", choices=("gemini", "vertex_ai"))
    price.add_argument("--grounded", action="store_true", help="Search/Maps grounding used: tool-use tokens not billed")
    price.add_argument("--markup", default="1", help="multiplier, e.g. 1.15 for a proxy's 15%% fee")
    price.add_argument("--free-tier", action="store_true", help="the project is on the free tier")
    price.add_argument("--prices", help="override file (as OTEL_GEMINI_PRICES)")
    price.set_defaults(func=cmd_price)

    demo = commands.add_parser("demo", help="instrumented workload against a local fake Gemini, with /metrics")
    demo.add_argument("--port", type=int, default=9464, help="port of /metrics (default 9464)")
    demo.add_argument("--host", default="127.0.0.1")
    repeat = demo.add_mutually_exclusive_group()
    repeat.add_argument("--once", action="store_true", help="exit after the workload instead of serving /metrics")
    repeat.add_argument("--loop", type=_positive_seconds, metavar="SECONDS",
                        help="after the workload, keep making a few cheap calls (a stream, now and then 429s) every "
                             "SECONDS, so a Prometheus scraping /metrics sees live rates")
    demo.set_defaults(func=cmd_demo)

    server = commands.add_parser(
        "metrics-server", help="serve /metrics merged from every worker's snapshot (pre-fork servers)",
    )
    server.add_argument(
        "--dir", required=True, help="the workers' PROMETHEUS_MULTIPROC_DIR (or OTEL_GEMINI_MULTIPROC_DIR)",
    )
    server.add_argument("--port", type=int, default=9464, help="port of /metrics (default 9464)")
    server.add_argument("--host", default="0.0.0.0")
    server.set_defaults(func=cmd_metrics_server)

    agent = commands.add_parser("agent", help="price GenAI spans received by OTLP (apps in any language)")
    for flag, kind, _default, text in _AGENT_FLAGS:
        agent.add_argument(flag, type=kind, default=None, help=f"{text}; env OTEL_GEMINI_AGENT_"
                           + flag.removeprefix("--").replace("-", "_").upper())
    agent.add_argument("--prices", help="override file (as OTEL_GEMINI_PRICES)")
    agent.set_defaults(func=cmd_agent)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
