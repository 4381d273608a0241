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
from decimal import Decimal
from typing import Any

from otel_gemini.pricing import cache, compare, compare_report, engine, pacific, peers
from otel_gemini.pricing import table as price_table
from otel_gemini.usage import RefusedUsage, extract_usage

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


def _in_force(args: argparse.Namespace) -> cache.Loaded:
    """The table an app or agent started now would price with (cache directory, override file, environment)."""
    from otel_gemini.settings import account
    from otel_gemini.settings.config import load_settings

    settings = load_settings({"prices_path": args.prices, "prices_cache_dir": getattr(args, "cache_dir", None)})
    return account.load_table(settings)


def cmd_prices(args: argparse.Namespace) -> int:
    loaded = _in_force(args)
    table = loaded.table
    at = _at(args.at)
    day = pacific.pacific_date(at)
    age = (date.today() - table.checked_on).days
    print(f"Price table in force: {loaded.describe()}.")
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


def _grounding(document: Any, args: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    """Search/Maps grounding of a response body (``webSearchQueries``, Maps chunks), or as the flags say."""
    candidates = document.get("candidates") if isinstance(document, dict) else None
    metadata = (candidates[0].get("groundingMetadata") if candidates and isinstance(candidates[0], dict) else None) or {}
    queries = len(metadata.get("webSearchQueries") or ())
    maps = any(isinstance(c, dict) and c.get("maps") for c in metadata.get("groundingChunks") or ())
    queries = args.search_queries or queries
    if not (queries or maps or args.grounded):
        return ()
    return (("google_maps" if maps and not queries else "google_search", queries or 1),)


def cmd_price(args: argparse.Namespace) -> int:
    """One response through the same billing function the library and the agent use (pricing/bill.py)."""
    from otel_gemini.pricing.bill import Facts, bill
    from otel_gemini.pricing.pricer import Pricer

    table = _in_force(args).table
    with open(args.usage, encoding="utf-8") as handle:
        document = json.load(handle)
    usage_metadata = document.get("usageMetadata", document.get("usage_metadata", document))
    try:
        usage = extract_usage(usage_metadata, strict=True)
    except RefusedUsage as refused:  # data from outside: a count that cannot be a bill is not priced
        print(f"refused: {refused} (docs/validation.md); not priced", file=sys.stderr)
        return 2
    served = document.get("modelVersion")
    model = args.model or served
    pricer = Pricer(table, billing_tier="free" if args.free_tier else "tier1", tuned_models=args.tuned_models or "",
                    markup=Decimal(args.markup))
    billed = bill(pricer, Facts(
        usage, model, served, args.service_tier, _grounding(document, args), _at(args.at), args.platform,
        args.location, http_failed=args.failed,
    ))
    print(f"model {model} -> {billed.model_id or 'unknown'}; tier {billed.service_tier}; status {billed.status}")
    if billed.status == engine.UNPRICED:
        print("no price for this model: counted as unpriced, never $0", file=sys.stderr)
        return 2
    if usage is None and not args.failed:
        print("no usageMetadata in the file: unmetered", file=sys.stderr)
        return 2
    if billed.long_context:
        print("prompt over the long-context threshold: every token class at the >200k rates")
    for line in billed.lines:
        print(f"  {line.cost_type:<11} {line.modality:<9} ${format(line.amount.normalize(), 'f')}")
    source = billed.source
    print(f"total ${format(billed.total.normalize(), 'f')}  (source: {table.source_url(source) if source else '-'})")
    if billed.list_price is not None:
        print(f"free tier: paid-tier price would be ${format(billed.list_price.normalize(), 'f')}")
    return 0


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
        at = _at(args.at)
    except ValueError:
        return _bad_input(args, f"--at {args.at!r} is not a YYYY-MM-DD day")
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
)


def cmd_agent(args: argparse.Namespace) -> int:
    """Price the GenAI spans that apps in any language export by OTLP (docs/agent.md)."""
    import os

    from otel_gemini.agent.server import Agent, AgentOptions
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

    prices = commands.add_parser("prices", help="show the price table in force, its sources and dates")
    prices.add_argument("--model", help="only this model (any spelling the API accepts)")
    prices.add_argument("--at", help="prices in force on this Pacific day (YYYY-MM-DD); default today")
    prices.add_argument("--prices", help="override file (as OTEL_GEMINI_PRICES)")
    prices.add_argument("--cache-dir", help="installed tables (as OTEL_GEMINI_PRICES_CACHE_DIR)")
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
    price.add_argument("--usage", required=True, help="JSON: a response body or its usageMetadata")
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

    from otel_gemini.cli import report

    report.add_parser(commands)

    args = parser.parse_args(argv)
    return int(args.func(args))

