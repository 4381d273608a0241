"""``otel-gemini``: price table, pricing one call by hand, the demo, /metrics for pre-fork servers' workers.

``prices`` and ``price`` use only the cost engine (no SDK, no OpenTelemetry), so a bill can be checked
against Google's pages without running anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from otel_gemini.cli._input import BadInput, Parser, markup
from otel_gemini.cli._input import day as _day
from otel_gemini.pricing import cache, compare, compare_report, engine, pacific, peers
from otel_gemini.pricing import table as price_table

STALE_AFTER_DAYS = 60


def _in_force(args: argparse.Namespace) -> cache.Loaded:
    """The table an app or agent started now would price with (cache directory, override file, environment)."""
    from otel_gemini.settings import account
    from otel_gemini.settings.config import load_settings

    try:
        settings = load_settings({"prices_path": args.prices, "prices_cache_dir": getattr(args, "cache_dir", None)})
        return account.load_table(settings)
    except (OSError, ValueError) as problem:  # ConfigError, PriceTableError: a bad override file or setting
        raise BadInput(f"otel-gemini {args.command}: {problem}".replace("\n", " ")) from None


def cmd_prices(args: argparse.Namespace) -> int:
    from otel_gemini.cli import prices_view

    at = _day(args.at, "prices")
    loaded = _in_force(args)
    table = loaded.table
    if args.model:
        model_id = table.normalize(args.model)
        if model_id is None:
            raise BadInput(f"otel-gemini prices: no model {args.model!r} in the price table in force "
                           "(`otel-gemini prices` lists them)")
        model_ids = [model_id]
        if not table.in_force(model_id, at):
            first = prices_view.first_priced(table, model_id)
            since = f" (first priced from {first})" if first else ""
            raise BadInput(f"otel-gemini prices: no price for {model_id} on {pacific.pacific_date(at)}{since}")
    else:
        model_ids = sorted(table.models)
    age = (date.today() - table.checked_on).days
    if age > STALE_AFTER_DAYS:
        print(f"warning: the price table is older than {STALE_AFTER_DAYS} days; check Google's pricing page "
              "and override with OTEL_GEMINI_PRICES if prices changed.", file=sys.stderr)
    if args.json:
        print(json.dumps({"table": loaded.describe(), "checked_on": table.checked_on.isoformat(),
                          "at": pacific.pacific_date(at).isoformat(), "currency": "USD",
                          "models": prices_view.as_json(table, model_ids, at)}, indent=2))
        return 0
    print(f"Price table in force: {loaded.describe()}.")
    print(f"Price table checked on {table.checked_on} ({age} days ago); prices as of {pacific.pacific_date(at)} "
          "(Pacific).\nUSD per 1M tokens for token classes (≤ and > the long-context threshold), else per the unit "
          "named;\nflex/priority rows marked ×N are the standard rates times the table's tier multiplier.")
    for line in prices_view.render(table, model_ids, at):
        print(line)
    print("\nSources:")
    for source_id, source in sorted(table.sources.items()):
        print(f"  {source_id} ({source.get('captured', 'undated')}): {source['url']}")
    return 0


def cmd_prices_update(args: argparse.Namespace) -> int:
    """Install a newer table into the cache directory; running processes pick it up (docs/configuration.md)."""
    from otel_gemini.pricing import updates
    from otel_gemini.settings import account
    from otel_gemini.settings.config import ConfigError, load_settings

    try:
        settings = load_settings({"prices_cache_dir": args.cache_dir, "prices_url": args.url})
    except ConfigError as problem:
        print(f"otel-gemini prices update: {problem}", file=sys.stderr)
        return 2
    try:
        if args.file:
            body, where = updates.read_file(args.file), str(args.file)
        else:
            url = settings.prices_url or updates.DEFAULT_URL
            body, where = updates.fetch(url, args.timeout), updates.display_url(url)
        outcome = updates.install(body, account.cache_dir(settings), where)
    except updates.Refused as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return 1
    except OSError as problem:  # the cache directory cannot be written
        print(f"refused: could not write the cache directory ({problem})", file=sys.stderr)
        return 1
    print(outcome.message)
    return 0


def cmd_price(args: argparse.Namespace) -> int:
    """One response through the same billing function the library and the agent use (pricing/bill.py)."""
    from otel_gemini.cli import price_cmd

    return price_cmd.run(args, _in_force(args).table)


def _table_file(name: str) -> price_table.PriceTable:
    """``bundled``, a whole price table, or an override file (merged over the bundled table, as OTEL_GEMINI_PRICES)."""
    if name == "bundled":
        return price_table.load()
    with open(name, encoding="utf-8") as handle:
        try:
            raw = json.load(handle)
        except ValueError as problem:
            raise ValueError(f"{name} is not JSON: {problem}") from None
    if isinstance(raw, dict) and not {"checked_on", "sources", "models", "tier_multipliers"} <= raw.keys():
        raw = price_table.merge(price_table.load().raw, raw)
    return price_table.PriceTable(raw)


def _review(args: argparse.Namespace, run: Callable[[float], dict[str, Any]]) -> int:
    """diff/check: 0 no differences, 1 differences, 2 bad input (one line, never a traceback)."""
    try:
        at = _day(args.at, f"prices {args.prices_command}")
    except BadInput as problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        result = run(at)
    except OSError as problem:
        return _bad_input(args, f"{problem.filename}: {problem.strerror}" if problem.filename else str(problem))
    except ValueError as problem:  # PriceTableError, PeerFileError, bad JSON
        return _bad_input(args, str(problem))
    render = compare_report.render_diff if args.prices_command == "diff" else compare_report.render_check
    print(compare.as_json(result) if args.json else render(result))
    return 1 if result["differences"] else 0


def _bad_input(args: argparse.Namespace, detail: str) -> int:
    print(f"otel-gemini prices {args.prices_command}: {detail}".replace("\n", " "), file=sys.stderr)
    return 2


def cmd_prices_diff(args: argparse.Namespace) -> int:
    return _review(args, lambda at: compare.diff(
        _table_file(args.old), _table_file(args.new), at, old_name=args.old, new_name=args.new))


def cmd_prices_check(args: argparse.Namespace) -> int:
    return _review(args, lambda at: compare.check(
        _table_file(args.prices or "bundled"), peers.load(args.against, pacific.pacific_date(at)), at,
        peer_name=args.against))


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return seconds


def cmd_demo(args: argparse.Namespace) -> int:
    from otel_gemini.cli import demo

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
    ("--processes", int, 1, "worker processes sharing the OTLP ports (SO_REUSEPORT, Linux), one core each; this "
     "process serves /metrics with their exact merged totals (default 1: no workers)"),
)


def cmd_agent(args: argparse.Namespace) -> int:
    """Price the GenAI spans that apps in any language export by OTLP (docs/agent.md)."""
    import os

    try:
        from otel_gemini.agent.server import Agent, AgentOptions
    except ImportError as missing:  # the agent's OTLP receivers (grpcio, opentelemetry-proto) come with its extra
        raise BadInput(f"otel-gemini agent: the agent needs: pip install 'otel-gemini[agent]' ({missing})") from None
    from otel_gemini.settings.config import ConfigError, load_settings

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
    host, metrics_host = values["host"], values["metrics_host"] or values["host"]

    def announce(grpc_port: int, http_port: int, metrics_port: int) -> None:
        print(f"otel-gemini agent: OTLP gRPC on {host}:{grpc_port}, OTLP HTTP on http://{host}:{http_port}"
              f"/v1/traces, metrics on http://{metrics_host}:{metrics_port}/metrics", flush=True)

    try:
        settings = load_settings({"prices_path": args.prices})
        options = AgentOptions(**values, settings=settings)
        if options.processes > 1:
            from otel_gemini.agent import workers

            return workers.serve(options, announce=announce)
        if options.processes < 1:
            raise ValueError("--processes must be at least 1")
        agent = Agent(options).start()
    except (ConfigError, OSError, ValueError) as problem:
        print(f"otel-gemini agent: {problem}", file=sys.stderr)
        return 2
    announce(agent.grpc_port, agent.http_port, agent.metrics_port)
    return agent.serve_until_signalled()


def main(argv: Sequence[str] | None = None) -> int:
    from otel_gemini.version import __version__

    parser = Parser(prog="otel-gemini", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"otel-gemini {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    prices = commands.add_parser("prices", help="show the price table in force, its sources and dates")
    prices.add_argument("--model", help="only this model (any spelling the API accepts)")
    prices.add_argument("--at", help="prices in force on this Pacific day (YYYY-MM-DD); default today")
    prices.add_argument("--prices", help="override file (as OTEL_GEMINI_PRICES)")
    prices.add_argument("--cache-dir", help="installed tables (as OTEL_GEMINI_PRICES_CACHE_DIR)")
    prices.add_argument("--json", action="store_true", help="machine-readable output: every rate of every tier")
    prices.set_defaults(func=cmd_prices)
    prices_sub = prices.add_subparsers(dest="prices_command")
    update = prices_sub.add_parser(
        "update", help="install a newer price table (fetched, or from a file) for running processes to pick up",
    )
    source = update.add_mutually_exclusive_group()
    source.add_argument("--url", help="fetch from here (default: OTEL_GEMINI_PRICES_URL, else the project's table)")
    source.add_argument("--file", help="a table file on disk instead of fetching")
    update.add_argument("--cache-dir", help="where to install (as OTEL_GEMINI_PRICES_CACHE_DIR)")
    update.add_argument("--timeout", type=_positive_seconds, default=30.0,
                        help="give up fetching after this many seconds in all (default 30)")
    update.set_defaults(func=cmd_prices_update)
    diff = prices_sub.add_parser("diff", help="what replacing price file OLD by NEW changes, with sample bills")
    diff.add_argument("old", metavar="OLD", help="price file, or 'bundled' for the bundled table")
    diff.add_argument("new", metavar="NEW", help="price file, or 'bundled'")
    check = prices_sub.add_parser("check", help="compare the table with a peer's price data (litellm, genai-prices)")
    check.add_argument("--against", required=True, metavar="FILE",
                       help="litellm's model_prices_and_context_window.json or genai-prices' data.json")
    check.add_argument("--prices", help="the table to check: a whole price file, or an override file merged over "
                       "the bundled table (default: the bundled table)")
    for tool, func in ((diff, cmd_prices_diff), (check, cmd_prices_check)):
        tool.add_argument("--at", help="rates in force on this Pacific day (YYYY-MM-DD); default today")
        tool.add_argument("--json", action="store_true", help="machine-readable output")
        tool.set_defaults(func=func)

    price = commands.add_parser("price", help="price one call's usage, line by line")
    price.add_argument("--model", help="model id as requested (default: the file's modelVersion, which is the "
                       "served model and wins when the table knows it)")
    price.add_argument("--usage", required=True, help="JSON file ('-': standard input): a response body, its "
                       "usageMetadata, or a saved stream (a JSON array of chunks: the last usageMetadata is the bill)")
    price.add_argument("--service-tier", choices=engine.SERVICE_TIERS,
                       help="tier as served, the x-gemini-service-tier header (default: the file's "
                       "usageMetadata.serviceTier, else standard)")
    price.add_argument("--at", help="Pacific day the request started (YYYY-MM-DD, priced at its noon); default now")
    price.add_argument("--platform", default="gemini", choices=("gemini", "vertex_ai"))
    price.add_argument("--grounded", action="store_true",
                       help="Search grounding used (also read from the file's groundingMetadata): tool-use tokens "
                            "not billed, the grounding fee charged")
    price.add_argument("--search-queries", type=int, default=0,
                       help="search queries the grounded response executed (default: the file's webSearchQueries)")
    price.add_argument("--location", help="Vertex location of the endpoint (not 'global': regional surcharge)")
    price.add_argument("--tuned-models", help="tuned model=base model pairs (as OTEL_GEMINI_TUNED_MODELS)")
    price.add_argument("--failed", action="store_true", help="the HTTP request failed (non-2xx): never charged")
    price.add_argument("--markup", type=markup, default=markup("1"),
                       help="multiplier, e.g. 1.15 for a proxy's 15%% fee")
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

    from otel_gemini.cli import report

    report.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BadInput as problem:
        print(problem, file=sys.stderr)
        return 2

