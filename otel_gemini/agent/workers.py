"""``otel-gemini agent --processes N``: N worker processes share the OTLP ports, one process serves ``/metrics``.

Why processes: pricing and recording a span is pure Python under the GIL (tens of µs), so one process is bound to
one core; more threads do not add throughput, more processes do. Each worker is a whole :class:`Agent` whose
OTLP/HTTP and OTLP/gRPC listeners bind the same ports with ``SO_REUSEPORT`` (Linux spreads the connections over
them); the parent reserves the ports first (so port 0 picks one port for every worker), forks the workers and
serves ``/metrics``, ``/healthz``, ``/readyz`` from their snapshots: the recorder's through
:mod:`otel_gemini.exporters.multiprocess` (exact Decimal sums, as for gunicorn workers) and the agent's own
counters (spans by outcome, requests, gaps) from a file of their own beside it, in ``OTEL_GEMINI_MULTIPROC_DIR``
when set (emptied before the start, as for gunicorn) or a temporary directory removed at exit. Each worker
writes both every ``interval`` seconds and once more after its graceful stop, so after SIGTERM the totals are
exact.

Linux only (``fork`` and ``SO_REUSEPORT`` spreading connections). A worker that dies stops the others: the agent
exits non-zero rather than serve on with part of its capacity gone unnoticed.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
from typing import Any

from prometheus_client import CollectorRegistry

from otel_gemini import _guard
from otel_gemini.agent.http_pool import BoundedHTTPServer
from otel_gemini.agent.pipeline import AgentStats
from otel_gemini.agent.server import Agent, AgentCollector, AgentOptions, _ObservabilityHandler
from otel_gemini.exporters import multiprocess
from otel_gemini.settings import account

_STATS = "agent_stats_{pid}.json"
"""The agent's own counters of one worker, beside its recorder snapshot (``otel_gemini_<pid>.json``)."""


def supported() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "SO_REUSEPORT")


def reserve(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: the port is ours (0 picks one) and the workers can bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def write_stats(stats: AgentStats, directory: str) -> None:
    """One worker's agent counters, atomically (temp file + replace): tuple keys as lists, JSON has no tuples."""
    snap = {name: [[list(k) if isinstance(k, tuple) else k, v] for k, v in values.items()]
            for name, values in stats.snapshot().items()}
    path = os.path.join(directory, _STATS.format(pid=os.getpid()))
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(snap, handle, separators=(",", ":"))
    os.replace(temp, path)


class MergedStats(AgentStats):
    """The sum of every worker's agent counters (dead workers' too: a counter only grows), read at scrape time."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def snapshot(self) -> dict[str, dict[Any, int]]:
        merged: dict[str, dict[Any, int]] = {}
        for path in glob.glob(os.path.join(self.directory, _STATS.format(pid="*"))):
            try:
                with open(path, encoding="utf-8") as handle:
                    snap = json.load(handle)
            except (OSError, ValueError):
                continue  # a file being replaced: the next scrape reads it
            for name, rows in snap.items():
                into = merged.setdefault(name, {})
                for key, value in rows:
                    key = tuple(key) if isinstance(key, list) else key
                    into[key] = into.get(key, 0) + int(value)
        for name in AgentStats().snapshot():  # every counter the agent has, also before a worker wrote one
            merged.setdefault(name, {})
        return merged


class _Front:
    """What the /metrics handler reads of "the agent" in the parent: the merged registry and readiness."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.ready = True
        self.page = self

    def respond(self, path: str) -> None:
        return None  # the page at / reads one recorder: workers' pages are not merged (404 here)


def _worker(options: AgentOptions, directory: str, interval: float, ready: int) -> int:
    """One worker: a whole agent on the shared ports, its /metrics on a loopback port of its own (unused)."""
    agent = Agent(dataclasses.replace(options, processes=1, reuse_port=True, metrics_host="127.0.0.1",
                                      metrics_port=0)).start()
    os.write(ready, b"1")  # listening: the parent answers /readyz once every worker has said so
    os.close(ready)
    stop = threading.Event()

    def snapshots() -> None:
        while not stop.wait(interval):
            try:
                multiprocess.write(agent.recorder, directory)
                write_stats(agent.stats, directory)
            except Exception as failure:  # a full disk costs the merged view its freshness, never the worker
                _guard.report("multiproc_snapshot", failure)

    writer = threading.Thread(target=snapshots, name="agent-snapshots", daemon=True)
    writer.start()
    code = agent.serve_until_signalled()
    stop.set()
    writer.join()  # one writer of the pid's temp files at a time
    multiprocess.write(agent.recorder, directory)  # after the graceful stop: every accepted span is in it
    write_stats(agent.stats, directory)
    return code


def serve(options: AgentOptions, interval: float = 1.0, announce: Any = None) -> int:
    """The parent: reserve the OTLP ports, fork ``options.processes`` workers, serve the merged /metrics."""
    if not supported():
        raise ValueError("--processes needs fork and SO_REUSEPORT (Linux)")
    if options.push_metrics_otlp_endpoint:
        raise ValueError("--push-metrics-otlp-endpoint pushes one process's totals: not with --processes (scrape "
                         "/metrics, or run one agent per core each pushing with its own service.instance.id)")
    account.load_table(options.settings)  # a broken prices file stops the agent here, loudly, as with one process
    chosen = multiprocess.directory_from_env()  # OTEL_GEMINI_MULTIPROC_DIR: to be emptied before the start
    directory = chosen or tempfile.mkdtemp(prefix="otel-gemini-agent-")
    os.makedirs(directory, exist_ok=True)
    reserved = [reserve(options.host, options.otlp_http_port), reserve(options.host, options.otlp_grpc_port)]
    http_port, grpc_port = (int(sock.getsockname()[1]) for sock in reserved)
    shared = dataclasses.replace(options, otlp_http_port=http_port, otlp_grpc_port=grpc_port)
    registry = CollectorRegistry(auto_describe=True)
    front = _Front(registry)
    handler = type("Handler", (_ObservabilityHandler,), {"agent": front})
    metrics = BoundedHTTPServer((options.metrics_host or options.host, options.metrics_port), handler,
                                max_connections=options.max_connections, idle_timeout_s=options.idle_timeout_s)
    children: list[int] = []
    readiness, ready = os.pipe()
    for _ in range(options.processes):
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                os.close(readiness)
                for sock in (*reserved, metrics.socket):
                    sock.close()
                code = _worker(shared, directory, interval, ready)
            except BaseException:
                traceback.print_exc()  # the worker's own failure, on the agent's stderr
            finally:
                os._exit(code)
        children.append(pid)
    os.close(ready)
    if not _await_workers(readiness, options.processes):  # a worker failed to start (its traceback is on stderr)
        _stop(set(children), options.shutdown_timeout_s)
        if not chosen:
            shutil.rmtree(directory, ignore_errors=True)
        raise OSError("an agent worker did not start")
    multiprocess.MultiprocessCollector(directory, registry=registry)
    registry.register(AgentCollector(MergedStats(directory)))
    threading.Thread(target=metrics.serve_forever, args=(0.05,), name="agent-metrics", daemon=True).start()
    if announce is not None:
        announce(grpc_port, http_port, int(metrics.server_address[1]))
    try:
        return _supervise(children, front, metrics, options.shutdown_timeout_s)
    finally:
        if not chosen:
            shutil.rmtree(directory, ignore_errors=True)


def _await_workers(readiness: int, count: int, timeout: float = 120.0) -> bool:
    """True once every worker wrote its byte; False when one died first (the pipe closes short) or too slow."""
    got, deadline = 0, time.monotonic() + timeout
    with os.fdopen(readiness, "rb", buffering=0) as pipe:
        while got < count and time.monotonic() < deadline:
            if not select.select([pipe], [], [], 0.5)[0]:
                continue
            data = pipe.read(count - got)
            if not data:
                return False  # every writer closed: a worker exited before it was listening
            got += len(data)
    return got == count


def _supervise(children: list[int], front: _Front, metrics: BoundedHTTPServer, timeout: float) -> int:
    """Until SIGTERM/SIGINT or a worker's death; then stop every worker gracefully and wait for them."""
    requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: requested.set())
    alive, code = set(children), 0
    while not requested.wait(0.2):
        pid, _status = os.waitpid(-1, os.WNOHANG)
        if pid in alive:
            alive.discard(pid)
            code = 1  # a worker died: stop the rest, exit non-zero
            break
    front.ready = False
    stopped = _stop(alive, timeout)
    metrics.shutdown()
    metrics.server_close()
    return code or (0 if stopped else 1)


def _stop(alive: set[int], timeout: float) -> bool:
    """SIGTERM every worker (each stops gracefully and writes its last snapshot); True if all exited with 0."""
    clean = True
    for pid in list(alive):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            alive.discard(pid)
    deadline = time.monotonic() + timeout + 5
    while alive and time.monotonic() < deadline:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid in alive:
            alive.discard(pid)
            clean = clean and os.waitstatus_to_exitcode(status) == 0
        else:
            time.sleep(0.05)
    return clean and not alive
