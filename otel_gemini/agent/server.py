"""The agent process: OTLP receivers, the pricing pipeline, and ``/metrics``, ``/healthz``, ``/readyz``.

``/metrics`` is the library's :class:`GeminiCollector` over the agent's own :class:`Recorder`, in a registry of
its own (so the agent's numbers never mix with anything else imported into the process), plus the agent's
self-metrics. Shutdown (SIGTERM) is graceful: readiness turns 503 so a load balancer stops sending, new exports
get 503 / UNAVAILABLE (exporters retry them elsewhere), the ones already accepted finish and are recorded, and
``/metrics`` stays up until the very end so a last scrape sees them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from otel_gemini import _guard, semconv
from otel_gemini.agent.forward import ForwardCollector, Forwarder, MetricPusher, Tee
from otel_gemini.agent.http_pool import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_CONNECTIONS,
    BoundedHandler,
    BoundedHTTPServer,
    reply,
)
from otel_gemini.agent.pipeline import ESTIMATE_LABEL, OUTCOMES, AgentStats, Pipeline
from otel_gemini.agent.receiver import DEFAULT_MAX_REQUEST_BYTES, Gate, grpc_server, http_server
from otel_gemini.exporters.prometheus import GeminiCollector, metrics_page
from otel_gemini.page.serve import Page
from otel_gemini.pricing import cache
from otel_gemini.pricing.watch import TableWatcher
from otel_gemini.settings import account
from otel_gemini.settings.config import Settings

REFUSAL_REASONS = ("undecodable", "sampling_probability", "error")


@dataclass
class AgentOptions:
    """The agent's own flags (``otel-gemini agent --help``); pricing settings come from :class:`Settings`."""

    host: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    metrics_port: int = 9464
    metrics_host: str | None = None
    """Address of /metrics, /healthz, /readyz when not ``host``: a sidecar keeps OTLP on loopback."""
    bearer_token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    settings: Settings = field(default_factory=Settings)
    shutdown_timeout_s: float = 30.0
    forward_otlp_endpoint: str | None = None
    push_metrics_otlp_endpoint: str | None = None
    push_interval_s: float = 15.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Connections each HTTP listener serves at once (and gRPC exports in flight); beyond: 503 / RESOURCE_EXHAUSTED."""
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    """Seconds a connection may send nothing (idle keep-alive, half-sent request) before it is closed."""
    processes: int = 1
    """Worker processes sharing the OTLP ports (agent/workers.py); 1 is this process alone."""
    reuse_port: bool = False
    """Bind the OTLP/HTTP listener with SO_REUSEPORT: set in each worker of ``processes`` > 1."""


class AgentCollector(Collector):
    """``otel_gemini_agent_*``: what the agent received, priced, ignored and refused."""

    def __init__(self, stats: AgentStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        snap = self.stats.snapshot()
        spans = CounterMetricFamily("otel_gemini_agent_spans", "Spans received, by what the agent did with them.",
                                    labels=["outcome"])
        for outcome in OUTCOMES:
            spans.add_metric([outcome], snap["spans"].get(outcome, 0))
        yield spans
        requests = CounterMetricFamily("otel_gemini_agent_requests", "OTLP Export requests accepted.",
                                       labels=["transport"])
        for transport, count in sorted(snap["requests"].items()):
            requests.add_metric([transport], count)
        yield requests
        rejected = CounterMetricFamily("otel_gemini_agent_requests_rejected",
                                       "OTLP Export requests refused, by transport and reason.",
                                       labels=["transport", "reason"])
        for (transport, reason), count in sorted(snap["rejected"].items()):
            rejected.add_metric([transport, reason], count)
        yield rejected
        gaps = CounterMetricFamily("otel_gemini_agent_span_gaps",
                                   "Priced spans whose dialect lacked something a billing rule needs.",
                                   labels=["dialect", "gap"])
        for (dialect, gap), count in sorted(snap["gaps"].items()):
            gaps.add_metric([dialect, gap], count)
        yield gaps
        sampled = CounterMetricFamily("otel_gemini_agent_sampled_spans",
                                      "Priced spans whose cost was weighted by 1/p from their tracestate (ot=th).",
                                      labels=["dialect"])
        for dialect, count in sorted(snap["sampled"].items()):
            sampled.add_metric([dialect], count)
        yield sampled
        refused = CounterMetricFamily("otel_gemini_agent_rejected_spans",
                                      "Spans counted rejected (not priced), by reason.", labels=["reason"])
        for reason in REFUSAL_REASONS:
            refused.add_metric([reason], snap["refused"].get(reason, 0))
        yield refused


def build_pipeline(
    settings: Settings, reader: Callable[[dict[str, Any]], Any] | None = None, loaded: cache.Loaded | None = None,
) -> Pipeline:
    """Pricer and recorder configured exactly as the library configures its own (same settings, same names)."""
    loaded = loaded or account.load_table(settings)  # a broken prices file stops the agent at start, loudly
    recorder, pricer = account.books(settings, loaded, extra_labels=(ESTIMATE_LABEL,))
    return Pipeline(pricer, recorder, AgentStats(), reader)


class _ObservabilityHandler(BoundedHandler):
    agent: Agent
    allowed_methods = ("GET", "HEAD")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            headers, body = metrics_page(
                self.agent.registry, self.headers.get("Accept"), self.headers.get("Accept-Encoding"),
            )
            self._send(200, headers.pop("Content-Type"), body, headers)
        elif path == "/healthz":
            self._send(200, "text/plain", b"ok\n")
        elif path == "/readyz":
            ready = self.agent.ready
            self._send(200 if ready else 503, "text/plain", b"ready\n" if ready else b"shutting down\n")
        elif (page := self.agent.page.respond(path)) is not None:
            reply(self, *page)
        else:
            self._send(404, "text/plain", b"/metrics, /healthz, /readyz\n")

    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        reply(self, status, [("Content-Type", content_type), *(headers or {}).items()], body)


class Agent:
    """One agent: start() binds everything (port 0 picks a free port; the bound ones are then on the object)."""

    def __init__(self, options: AgentOptions, reader: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.options = options
        self._table = account.load_table(options.settings)
        self.pipeline = build_pipeline(options.settings, reader, self._table)
        self.watcher: TableWatcher | None = None
        self.recorder = self.pipeline.recorder
        self.stats = self.pipeline.stats
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(GeminiCollector(self.recorder))
        self.registry.register(AgentCollector(self.stats))
        self.gate = Gate(options.bearer_token, options.max_request_bytes)
        self.forwarder = Forwarder(options.forward_otlp_endpoint) if options.forward_otlp_endpoint else None
        if self.forwarder is not None:
            self.registry.register(ForwardCollector(self.forwarder))
        self.pusher: MetricPusher | None = None
        self.page = Page(lambda: self.recorder)
        """The page at ``/`` of the metrics listener (otel_gemini/page/), from the agent's own recorder."""
        self.ready = False
        self._stopped = threading.Event()
        self._servers: list[BoundedHTTPServer] = []
        self._grpc: Any = None
        self.grpc_port = self.http_port = self.metrics_port = 0

    def start(self) -> Agent:
        opts = self.options
        if opts.push_metrics_otlp_endpoint:  # first: a bad URL fails before anything is bound
            self.pusher = MetricPusher(self.recorder, opts.push_metrics_otlp_endpoint, opts.push_interval_s)
        _guard.set_error_counter(lambda component: self.recorder.count(semconv.INTERNAL_ERRORS, (component,)))
        _guard.set_refusal_counter(lambda what, reason: self.recorder.count(semconv.REFUSED, (what, reason)))
        handler = type("Handler", (_ObservabilityHandler,), {"agent": self})
        metrics = BoundedHTTPServer((opts.metrics_host or opts.host, opts.metrics_port), handler,
                                    max_connections=opts.max_connections, idle_timeout_s=opts.idle_timeout_s)
        self.metrics_port = int(metrics.server_address[1])
        self.page.start()
        self._run(metrics, "agent-metrics")
        front: Any = self.pipeline if self.forwarder is None else Tee(self.pipeline, self.forwarder.start())
        otlp_http = http_server(opts.host, opts.otlp_http_port, front, self.gate,
                                max_connections=opts.max_connections, idle_timeout_s=opts.idle_timeout_s,
                                reuse_port=opts.reuse_port)
        self.http_port = int(otlp_http.server_address[1])
        self._run(otlp_http, "agent-otlp-http")
        self._grpc, self.grpc_port = grpc_server(opts.host, opts.otlp_grpc_port, front, self.gate,
                                                 max_concurrent_rpcs=opts.max_connections)
        self.watcher = account.watch_table(opts.settings, self.recorder, self.pipeline.pricer, self._table)
        self.ready = True
        return self

    def _run(self, server: BoundedHTTPServer, name: str) -> None:
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True).start()

    def stop(self, timeout: float | None = None) -> bool:
        """Graceful: refuse new exports, finish the accepted ones, then close. False if some did not finish."""
        if self._stopped.is_set():
            return True
        timeout = self.options.shutdown_timeout_s if timeout is None else timeout
        self.ready = False
        drained = self.gate.drain(timeout)
        if self._grpc is not None:
            self._grpc.stop(grace=1.0).wait(timeout)
        if self.pusher is not None:  # everything accepted is recorded now: the last push carries it
            self.pusher.shutdown(min(timeout, 10.0))
        if self.forwarder is not None:
            self.forwarder.close(min(timeout, 10.0))
        if self.watcher is not None:
            self.watcher.stop()
        self.page.history.stop()
        for server in reversed(self._servers):  # the OTLP receivers first, /metrics last
            server.shutdown()
            server.server_close()
        self._stopped.set()
        _guard.set_error_counter(None)
        _guard.set_refusal_counter(None)
        return drained

    def serve_until_signalled(self) -> int:
        """Run until SIGTERM or SIGINT, then shut down gracefully (the CLI's main loop)."""
        requested = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            requested.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
        while not requested.wait(1.0):
            pass
        return 0 if self.stop() else 1

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop(5.0)
