#!/usr/bin/env python3
"""How many GenAI spans per second `otel-gemini agent` prices on one core, next to a receiver that only parses.

Run with the repo's venv (it needs opentelemetry-proto, as the agent does)::

    .venv/bin/python benchmarks/agent_throughput.py                 # smoke run: 5 rounds, RSS after 0.2 minutes
    .venv/bin/python benchmarks/agent_throughput.py --minutes 10    # RSS after ten minutes of sustained load

Both servers run as subprocesses pinned to core 0 (``taskset``, where there is one); the load generator runs
here, pinned to the other cores. The load is OTLP/HTTP protobuf batches of 512 GenAI semconv CLIENT spans
(varied models and token counts, as tests/node_app sends them), pre-serialised so the client costs little, posted
by ``--clients`` persistent connections. Each round posts ``--batches`` batches; the figure is the median of the
rounds' spans/s. Then the load goes on for ``--minutes`` and the server's RSS (VmRSS, VmHWM) is read from /proc.

* bare: a parse-only OTLP/HTTP server (this file, ``--serve-bare``): read the body, decode the
  ExportTraceServiceRequest, answer an empty response. The ceiling of any Python receiver on this core.
* agent: ``python -m otel_gemini.cli agent``: decode, flatten, read the dialect, price, record; its own
  ``otel_gemini_agent_spans_total`` is checked against what was sent, so a fast agent that dropped spans shows.

Nothing here is a test: no timing threshold lives in the test suite (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# All in the bundled price table, so every span takes the pricing path.
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-3.1-pro-preview")
SPANS_PER_BATCH = 512
TARGET_SPANS_PER_S = 50_000  # issue 17: GenAI spans per second on one core, every span counted exactly


# -- load ---------------------------------------------------------------------------------------------------------
def build_batch(seed: int, spans: int = SPANS_PER_BATCH) -> bytes:
    """One serialised ExportTraceServiceRequest of ``spans`` GenAI semconv generate_content spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, str):
            return KeyValue(key=key, value=AnyValue(string_value=value))
        return KeyValue(key=key, value=AnyValue(int_value=value))

    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", "bench-sender"))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "otel-gemini-node-sender"
    now = time.time_ns()
    for index in range(spans):
        model = MODELS[rng.randrange(len(MODELS))]
        prompt, candidates, thoughts = rng.randint(10, 20_000), rng.randint(1, 2_000), rng.choice((0, 0, 200, 1_500))
        span = scope_spans.spans.add()
        span.trace_id = rng.randbytes(16)
        span.span_id = rng.randbytes(8)
        span.name = f"generate_content {model}"
        span.kind = Span.SPAN_KIND_CLIENT
        span.start_time_unix_nano = now + index * 1_000
        span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(200_000_000, 3_000_000_000)
        span.attributes.extend([
            kv("gen_ai.operation.name", "generate_content"), kv("gen_ai.provider.name", "gcp.gemini"),
            kv("gen_ai.request.model", model), kv("gen_ai.response.model", model),
            kv("gen_ai.usage.input_tokens", prompt), kv("gen_ai.usage.output_tokens", candidates + thoughts),
            kv("gen_ai.usage.reasoning.output_tokens", thoughts),
            kv("server.address", "generativelanguage.googleapis.com"), kv("server.port", 443),
        ])
    return request.SerializeToString()


def post_batches(port: int, batches: list[bytes], count: int, clients: int) -> float:
    """Post ``count`` batches over ``clients`` keep-alive connections; spans per second."""
    share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    failures: list[str] = []

    def client(n: int, offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for i in range(n):
                connection.request("POST", "/v1/traces", body=batches[(offset + i) % len(batches)],
                                   headers={"Content-Type": "application/x-protobuf"})
                reply = connection.getresponse()
                reply.read()
                if reply.status != 200:
                    failures.append(f"HTTP {reply.status}")
                    return
        except OSError as failure:
            failures.append(repr(failure))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n, i)) for i, n in enumerate(share)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"export failed: {failures[0]}")
    return count * SPANS_PER_BATCH / elapsed


# -- the parse-only server ----------------------------------------------------------------------------------------
def serve_bare(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    empty = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
            spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
            self.server.spans += spans  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(empty)))
            self.end_headers()
            self.wfile.write(empty)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.spans = 0  # type: ignore[attr-defined]
    print("ready", flush=True)
    server.serve_forever()


# -- orchestration ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cores: str | None) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cores, *command] if taskset and cores is not None else command


def wait_until(probe: Any, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {process.poll()})")
        time.sleep(0.05)


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def http_get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.read().decode() if reply.status == 200 else None
    except OSError:
        return None


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` and its children, summed (the server under taskset: taskset execs, so the pid is
    the server's; ``agent --processes N``: the parent and its N workers)."""
    out: dict[str, int] = {}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for each in [pid, *(int(child) for child in children)]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = out.get(key, 0) + int(value.split()[0])
        except OSError:
            pass
    return out


def agent_spans(metrics_url: str) -> dict[str, float]:
    text = http_get(metrics_url) or ""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("otel_gemini_agent_spans_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


def agent_available() -> str | None:
    if not (REPO / "otel_gemini" / "agent" / "server.py").exists():
        return "otel_gemini/agent/server.py does not exist"
    done = subprocess.run([sys.executable, "-m", "otel_gemini.cli", "agent", "--help"], cwd=REPO,
                          capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["agent --help failed"])[-1]


def measure(name: str, args: argparse.Namespace, batches: list[bytes]) -> dict[str, Any]:
    port = free_port()
    environ = dict(os.environ, PYTHONPATH=str(REPO))
    metrics_url = None
    if name == "bare":
        command = [sys.executable, __file__, "--serve-bare", str(port)]
        probe = lambda: can_connect(port)  # noqa: E731
    else:
        metrics_port = free_port()
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        command = [sys.executable, "-m", "otel_gemini.cli", "agent", "--host", "127.0.0.1", "--otlp-http-port",
                   str(port), "--otlp-grpc-port", str(free_port()), "--metrics-port", str(metrics_port),
                   "--processes", str(args.processes)]
        probe = lambda: http_get(f"http://127.0.0.1:{metrics_port}/readyz") is not None  # noqa: E731
    process = subprocess.Popen(pinned(command, args.server_cores), cwd=REPO, env=environ,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(probe, process, name)
        idle = rss_kib(process.pid)
        post_batches(port, batches, max(2, args.batches // 4), args.clients)  # warm-up
        rates = [post_batches(port, batches, args.batches, args.clients) for _ in range(args.rounds)]
        sent = (max(2, args.batches // 4) + args.batches * args.rounds) * SPANS_PER_BATCH
        started = time.monotonic()
        deadline, trail, next_sample = started + args.minutes * 60, [], started + 60
        while time.monotonic() < deadline:
            post_batches(port, batches, args.clients * 2, args.clients)
            sent += args.clients * 2 * SPANS_PER_BATCH
            if time.monotonic() >= next_sample:  # RSS each minute: flat, or growing?
                trail.append(rss_kib(process.pid).get("VmRSS", 0))
                next_sample += 60
        result: dict[str, Any] = {"rates": rates, "median": statistics.median(rates), "idle": idle,
                                  "loaded": rss_kib(process.pid), "sent": sent, "trail": trail}
        if metrics_url:  # workers snapshot every second: wait for the merged count to settle
            deadline = time.monotonic() + (5.0 if args.processes > 1 else 0.0)
            result["counted"] = agent_spans(metrics_url)
            while sum(result["counted"].values()) != sent and time.monotonic() < deadline:
                time.sleep(0.25)
                result["counted"] = agent_spans(metrics_url)
        return result
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def profile_pipeline(batches: list[bytes], repeats: int, top: int) -> None:
    """In-process: the agent's own Pipeline (server.build_pipeline, default settings) pricing decoded batches.

    First µs per span by stage, each stage timed alone on the same inputs (decode, flatten, dialect read, usage,
    bill, record, and the whole export); then cProfile of Pipeline.export. No HTTP: the receiver's share is the
    served figure minus these. The stages are reached through the pipeline module's own imports, so this follows
    the code production runs even when modules move.
    """
    import cProfile
    import io
    import pstats

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from otel_gemini.agent import pipeline as agent_pipeline
    from otel_gemini.agent.server import AgentOptions, build_pipeline

    pipeline = build_pipeline(AgentOptions().settings)
    decoded = [ExportTraceServiceRequest.FromString(batch) for batch in batches]
    spans = len(decoded) * SPANS_PER_BATCH
    for request in decoded:  # warm caches (labels, rate cards) as a running agent has them
        pipeline.export(request)
    clock = time.perf_counter

    def per_span(work: Any) -> float:
        best = float("inf")
        for _ in range(repeats):
            started = clock()
            work()
            best = min(best, clock() - started)
        return best / spans * 1e6

    flats = [flat for request in decoded for flat in agent_pipeline.flatten(request)]
    reader = pipeline.reader
    genais = [reader(flat) for flat in flats]
    weight = agent_pipeline._ONE
    usages = [agent_pipeline.extract_usage(g.usage_metadata) if g.usage_metadata else None for g in genais]
    bills = [pipeline._bill(g, f, weight) for g, f in zip(genais, flats, strict=True)]
    records = [agent_pipeline.CallRecord(
        operation=g.operation, provider=g.provider, request_model=g.request_model or "unknown",
        response_model=g.response_model or "", duration_s=float(g.duration_s or 0.0), error_type=g.error_type or "",
        pricing_status=b.status, charges=b.charges, attribution=pipeline._attribution(f, g.gaps),
    ) for g, b, f in zip(genais, bills, flats, strict=True)]
    stages = [
        ("decode (protobuf FromString)", lambda: [ExportTraceServiceRequest.FromString(b) for b in batches]),
        ("flatten (protobuf -> dict)", lambda: [list(agent_pipeline.flatten(r)) for r in decoded]),
        ("dialect read (spans.read)", lambda: [reader(f) for f in flats]),
        ("usage (extract_usage)", lambda: [agent_pipeline.extract_usage(g.usage_metadata) for g in genais]),
        ("bill (Pipeline._bill -> bill())",
         lambda: [pipeline._bill(g, f, weight) for g, f in zip(genais, flats, strict=True)]),
        ("attribution labels", lambda: [pipeline._attribution(f, g.gaps) for g, f in zip(genais, flats, strict=True)]),
        ("record (Recorder.record_calls)", lambda: pipeline.recorder.record_calls(records)),
        ("whole Pipeline.export", lambda: [pipeline.export(r) for r in decoded]),
    ]
    del usages
    print(f"agent pipeline in-process, {spans:,} spans per pass, best of {repeats} passes, µs per span:")
    for name, work in stages:
        print(f"  {name:<34}{per_span(work):8.2f}")
    in_situ(pipeline, agent_pipeline, decoded, spans, repeats)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        for request in decoded:
            pipeline.export(request)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print(f"cProfile of Pipeline.export ({repeats * spans:,} spans; cProfile inflates, read proportions):")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def in_situ(pipeline: Any, agent_pipeline: Any, decoded: list[Any], spans: int, repeats: int) -> None:
    """The same stages timed inside Pipeline.export (timing wrappers on the instance and the module's names).

    Stages run alone over 2,048 spans in a row look cheaper than inside the interleaved export (caches stay
    warm), so the in-situ split is the one to read; each wrapper's own cost (an empty wrapper's) is subtracted.
    """
    clock = time.perf_counter_ns
    spent: dict[str, int] = {}
    calls: dict[str, int] = {}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0) + clock() - started
                calls[name] = calls.get(name, 0) + 1
        return wrapper

    empty = timed("empty", lambda: None)
    for _ in range(100_000):
        empty()
    wrapper_ns = spent.pop("empty") / calls.pop("empty")
    originals = (pipeline._reader, agent_pipeline.flatten, agent_pipeline.extract_usage, agent_pipeline.bill,
                 pipeline.recorder.record_calls, pipeline._attribution)
    pipeline._reader = timed("dialect read", pipeline.reader)
    agent_pipeline.flatten = timed("flatten (generator, all spans)", agent_pipeline.flatten)
    agent_pipeline.extract_usage = timed("usage", agent_pipeline.extract_usage)
    agent_pipeline.bill = timed("bill()", agent_pipeline.bill)
    pipeline.recorder.record_calls = timed("record_calls (per request)", pipeline.recorder.record_calls)
    pipeline._attribution = timed("attribution labels", pipeline._attribution)
    try:
        started = clock()
        for _ in range(repeats):
            for request in decoded:
                pipeline.export(request)
        total = (clock() - started) / (repeats * spans) / 1000
    finally:
        (pipeline._reader, agent_pipeline.flatten, agent_pipeline.extract_usage, agent_pipeline.bill,
         pipeline.recorder.record_calls) = originals[:5]
        del pipeline._attribution
    print(f"in situ (inside Pipeline.export, {repeats * spans:,} spans, wrapper cost {wrapper_ns:.0f} ns removed), "
          f"µs per span:")
    accounted = 0.0
    for name, ns in spent.items():
        if name.startswith("flatten"):  # the generator's wrapper returns at once: its body runs in export's loop
            continue
        us = (ns - wrapper_ns * calls[name]) / (repeats * spans) / 1000
        accounted += us
        print(f"  {name:<34}{us:8.2f}")
    print(f"  {'rest (flatten, CallRecord, weight, glue)':<34}{total - accounted:8.2f}")
    print(f"  {'total per span (with wrappers)':<34}{total:8.2f}")


def mib(kib: dict[str, int], key: str) -> str:
    return f"{kib[key] / 1024:.1f} MiB" if key in kib else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per server (median reported)")
    parser.add_argument("--batches", type=int, default=20, help=f"batches of {SPANS_PER_BATCH} spans per round")
    parser.add_argument("--clients", type=int, default=None,
                        help="concurrent keep-alive connections (default 4, 8 per agent process with --processes)")
    parser.add_argument("--processes", type=int, default=1,
                        help="otel-gemini agent --processes N: N workers on cores from --server-core (total, per core)")
    parser.add_argument("--minutes", type=float, default=0.2, help="sustained load before reading RSS")
    parser.add_argument("--server-core", type=int, default=0, help="core the servers are pinned to")
    parser.add_argument("--servers", default="bare,agent", help="which servers to measure, comma-separated")
    parser.add_argument("--profile", action="store_true",
                        help="instead of serving: µs per span by stage and a cProfile of the in-process pipeline")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        profile_pipeline([build_batch(seed) for seed in range(4)], max(args.rounds, 3), 30)
        return 0
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    args.clients = args.clients or (4 if args.processes == 1 else 8 * args.processes)
    start = cores.index(args.server_core) if args.server_core in cores else 0
    server_cores = (cores[start:] + cores[:start])[:args.processes] or [args.server_core]
    args.server_cores = ",".join(str(core) for core in server_cores)
    rest = [c for c in cores if c not in server_cores]
    if rest and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, rest)  # the load generator off the servers' cores (when there are cores left)
    print(f"python {sys.version.split()[0]}, {len(cores) or '?'} cores, servers pinned to core(s) {args.server_cores}"
          f" ({'taskset' if shutil.which('taskset') else 'not pinned: no taskset'}), agent processes "
          f"{args.processes}, load generator on {'cores ' + ','.join(map(str, rest)) if rest else 'the same cores'}, "
          f"{args.clients} clients, "
          f"{args.rounds} rounds x {args.batches} batches x {SPANS_PER_BATCH} spans, RSS after {args.minutes} min")
    batches = [build_batch(seed) for seed in range(8)]
    print(f"batch: {len(batches[0]):,} bytes of protobuf for {SPANS_PER_BATCH} spans")
    results: dict[str, dict[str, Any]] = {}
    for name in args.servers.split(","):
        if name == "agent":
            why = agent_available()
            if why:
                print(f"agent: not available ({why})")
                continue
        try:
            results[name] = result = measure(name, args, batches)
        except RuntimeError as failure:
            print(f"{name}: failed: {failure}")
            continue
        rates = ", ".join(f"{rate:,.0f}" for rate in result["rates"])
        print(f"{name}: median {result['median']:,.0f} spans/s (rounds: {rates}); RSS idle "
              f"{mib(result['idle'], 'VmRSS')}, after load {mib(result['loaded'], 'VmRSS')} "
              f"(peak {mib(result['loaded'], 'VmHWM')}); {result['sent']:,} spans sent")
        if result["trail"]:
            print(f"{name}: RSS each minute of sustained load: "
                  + ", ".join(f"{kib / 1024:.1f}" for kib in result["trail"]) + " MiB")
        if "counted" in result:
            counted = result["counted"]
            exact = sum(counted.values()) == result["sent"]
            print(f"agent counted: {', '.join(f'{k} {v:,.0f}' for k, v in sorted(counted.items())) or 'nothing'}"
                  f" (sum {sum(counted.values()):,.0f} of {result['sent']:,} sent: "
                  f"{'every span counted' if exact else 'MISMATCH'})")
        if name == "agent":
            counted_ok = "counted" in result and sum(result["counted"].values()) == result["sent"]
            per_core = result["median"] / args.processes
            verdict = "PASS" if per_core >= TARGET_SPANS_PER_S and counted_ok else "MISS"
            print(f"target {TARGET_SPANS_PER_S:,} spans/s on one core: {per_core:,.0f} spans/s per core "
                  f"({per_core / TARGET_SPANS_PER_S:.2f}x of target; {1e6 / per_core:.1f} µs per span per core), "
                  f"{verdict}")
            if args.processes > 1:
                verdict = "PASS" if result["median"] >= TARGET_SPANS_PER_S and counted_ok else "MISS"
                print(f"target {TARGET_SPANS_PER_S:,} spans/s with --processes {args.processes}: "
                      f"{result['median']:,.0f} spans/s in total ({result['median'] / TARGET_SPANS_PER_S:.2f}x), "
                      f"{verdict}")
    if "bare" in results and "agent" in results:
        ratio = results["agent"]["median"] / results["bare"]["median"]
        per_span = 1e6 / results["agent"]["median"] - 1e6 / results["bare"]["median"]
        print(f"agent / bare: {ratio:.2f} of the parse-only throughput; pricing adds {per_span:.1f} µs per span")
    return 0


if __name__ == "__main__":
    sys.exit(main())
