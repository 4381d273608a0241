#!/usr/bin/env python3
"""What otel-gemini adds to a Gemini call, next to a bare client and to the other instrumentations.

Run with any Python 3.10+ (stdlib only); it builds its own virtualenvs and starts one worker process per mode::

    python3 benchmarks/overhead.py            # the full run (about 8 minutes on the 2-core CI machine)
    python3 benchmarks/overhead.py --quick    # a smoke run of the same steps (about 1.5 minutes)
    python3 benchmarks/overhead.py --profile otel-gemini   # where otel-gemini's own time goes (cProfile)

benchmarks/README.md says what each number means and how to compare fairly. Nothing here is a test: no timing
threshold lives in the test suite, because timings depend on the machine and the figures are directional.

The same file plays four roles, chosen by hidden flags, so the whole benchmark is one file to read:
the orchestrator (default; system Python), ``--serve`` (the fake endpoint, in its own process so its CPU and
its GIL are not charged to the client being measured), ``--worker`` (one mode in one venv, driven over a
pipe) and ``--import-probe`` (one fresh-interpreter import timing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FAKE_GEMINI = REPO / "otel_gemini" / "testing" / "fake_gemini.py"
MODEL = "gemini-2.5-flash"  # in otel-gemini's bundled price table, so every call is priced (the real cost path)
PROMPT = "Say ok."

# -- environments ------------------------------------------------------------------------------------------------

# OpenTelemetry is pinned one patch behind requirements/test-base.txt (1.45.2 / 0.66b2) because OpenLIT pulls
# the contrib web-framework instrumentations, whose newest release here is 0.66b1: with 0.66b2 pip finds no
# solution. Every venv uses the same pins so the SDK's own cost is identical across modes.
OTEL_PINS = [
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-instrumentation==0.66b1",
    "opentelemetry-semantic-conventions==0.66b1",
]
OTEL_GEMINI_DEPS = ["prometheus-client==0.26.0", "wrapt==2.5.2"]  # otel-gemini itself comes from the work tree


@dataclass(frozen=True)
class EnvSpec:
    """One virtualenv: a google-genai line plus the peers that support it."""

    name: str
    sdk: str
    base: list[str]
    peers: dict[str, list[str]]  # mode -> extra packages; installed one by one so one failure spares the rest
    modes: list[str]


ENVS = [
    EnvSpec(
        name="genai3", sdk="google-genai 3.4.0",
        base=["google-genai==3.4.0", *OTEL_PINS, *OTEL_GEMINI_DEPS],
        peers={"openllmetry": ["opentelemetry-instrumentation-google-generativeai==0.62.4"],
               "openlit": ["openlit==1.45.0"]},
        modes=["bare", "otel-gemini", "otel-gemini-unsampled", "openllmetry", "openlit"],
    ),
    EnvSpec(
        # The official instrumentation declares google-genai<3 and refuses to instrument 3.x, so it is
        # measured on the last 2.x release, with a bare client and otel-gemini beside it on the same line.
        name="genai2", sdk="google-genai 2.34.0",
        base=["google-genai==2.34.0", *OTEL_PINS, *OTEL_GEMINI_DEPS],
        peers={"official": ["opentelemetry-instrumentation-google-genai==1.3b0"]},
        modes=["bare", "otel-gemini", "official"],  # the unsampled run is on 3.x only, to fit the time budget
    ),
]
PEER_LABELS = {
    "bare": "bare client",
    "otel-gemini": "otel-gemini",
    "otel-gemini-unsampled": "otel-gemini, span not sampled",
    "official": "official (opentelemetry-instrumentation-google-genai 1.3b0)",
    "openllmetry": "OpenLLMetry (opentelemetry-instrumentation-google-generativeai 0.62.4)",
    "openlit": "OpenLIT 1.45.0",
}
PEERS = ("official", "openllmetry", "openlit")
OURS = ("otel-gemini", "otel-gemini-unsampled")


def _pip_error(output: str) -> str:
    """The line of pip's output that says why, without the mirror's per-package 'Location ignored' noise."""
    lines = [line for line in output.splitlines() if line.strip() and "is ignored: it is neither" not in line]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["pip failed"])[0][:200]


def _pip(python: Path, args: list[str]) -> tuple[bool, str]:
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    return proc.returncode == 0, _pip_error(proc.stdout + proc.stderr)


def ensure_env(spec: EnvSpec, venv_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Create or reuse a venv; returns {"python": path or None, "na": {mode: reason}}.

    A marker file records what was installed, so a second run skips pip entirely; it is rebuilt when the
    package list in this file changes. Peers install against a constraints file of the base's exact versions,
    so a peer can never move google-genai or OpenTelemetry under the other modes.
    """
    root = venv_dir / spec.name
    python = root / "bin" / "python"
    digest = hashlib.sha256(json.dumps([spec.base, spec.peers], sort_keys=True).encode()).hexdigest()[:16]
    marker = root / ".overhead-bench.json"
    if marker.exists() and python.exists():
        state = json.loads(marker.read_text())
        if state.get("digest") == digest:
            return {"python": python if state["base_ok"] else None, "na": state["na"]}
    log(f"setting up {root} ({spec.sdk}); pip output is kept quiet")
    na: dict[str, str] = {}
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    ok, why = _pip(python, spec.base)
    if ok:
        frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude-editable"], capture_output=True,
                                text=True, check=True).stdout
        constraints = root / "base-constraints.txt"
        constraints.write_text(frozen)
        for mode, packages in spec.peers.items():
            peer_ok, peer_why = _pip(python, ["-c", str(constraints), *packages])
            if not peer_ok:
                na[mode] = f"install failed: {peer_why}"
                log(f"  {mode}: n/a ({na[mode]})")
    else:
        na = {mode: f"base install failed: {why}" for mode in spec.modes}
        log(f"  {spec.name}: base install failed: {why}")
    marker.write_text(json.dumps({"digest": digest, "base_ok": ok, "na": na}))
    return {"python": python if ok else None, "na": na}


def child_env(venv_dir: Path) -> dict[str, str]:
    """The environment of every child: the work tree's otel_gemini, nothing that could export or phone out.

    OTEL_*/TRACELOOP_*/OPENLIT_* variables of the caller are dropped (an exporter endpoint in the shell would
    otherwise send spans somewhere); *_EXPORTER=none keeps any SDK the peers create from printing to the console.
    Bytecode goes to a cache under the venv dir, so the benchmark writes nothing into the repository.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TRACELOOP_", "OPENLIT_", "GOOGLE_", "GEMINI_", "PYTHON"))}
    env.update({
        "PYTHONPATH": str(REPO),
        "PYTHONPYCACHEPREFIX": str(venv_dir / ".pycache"),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "TRACELOOP_TELEMETRY": "false",
    })
    return env


# -- the fake endpoint (its own process) -------------------------------------------------------------------------


def load_fake_gemini() -> Any:
    """Load fake_gemini.py by path: it is stdlib-only, and this keeps otel_gemini out of bare processes.

    Its one project import (``otel_gemini.testing.bodies``, stdlib-only too) is loaded by path under empty parent
    packages, so importing it does not run ``otel_gemini/__init__`` (which needs OpenTelemetry).
    """
    import importlib.util
    import types

    stubs = [name for name in ("otel_gemini", "otel_gemini.testing", "otel_gemini.testing.bodies")
             if name not in sys.modules]
    for package in ("otel_gemini", "otel_gemini.testing"):
        sys.modules.setdefault(package, types.ModuleType(package)).__path__ = []  # type: ignore[attr-defined]
    bodies_spec = importlib.util.spec_from_file_location("otel_gemini.testing.bodies", FAKE_GEMINI.parent / "bodies.py")
    assert bodies_spec is not None and bodies_spec.loader is not None
    bodies = importlib.util.module_from_spec(bodies_spec)
    sys.modules[bodies_spec.name] = bodies
    bodies_spec.loader.exec_module(bodies)
    spec = importlib.util.spec_from_file_location("bench_fake_gemini", FAKE_GEMINI)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    for name in stubs:  # a later real `import otel_gemini` must find the package, not the stubs
        del sys.modules[name]
    return module


def serve_main() -> None:
    """Run FakeGemini until stdin closes.

    Two changes to the test fake, both on this process only: TCP_NODELAY on its sockets (the handler sends
    headers and body in separate writes, and Nagle's algorithm against the client's delayed ACK adds ~40 ms to
    every call, which would drown everything measured here), and a periodic clear() of the recorded requests
    (100k recorded calls would otherwise grow the server without bound).
    """
    fake_gemini = load_fake_gemini()
    fake_gemini._Handler.disable_nagle_algorithm = True
    fake = fake_gemini.FakeGemini().start()

    def clear_forever() -> None:
        while True:
            time.sleep(2)
            fake.clear()

    threading.Thread(target=clear_forever, daemon=True).start()
    print(fake.base_url, flush=True)
    sys.stdin.read()
    fake.stop()


# -- a worker: one mode in one venv ------------------------------------------------------------------------------


class InProcessEndpoint:
    """The fake's default answers without a socket: an httpx/httpx2 MockTransport handler.

    Over loopback HTTP the request costs ~1-2 ms and its jitter is larger than what instrumentation adds; this
    transport keeps all of the SDK's own work (request building, pydantic parsing, SSE line splitting) and
    drops only the socket, so the added µs stand out. Bodies are built by fake_gemini's own builders, cached
    per request body, so the transport costs the same in every mode.
    """

    def __init__(self, fake_gemini: Any) -> None:
        self._fake = fake_gemini
        self._cache: dict[tuple[str, bytes], tuple[bytes, str]] = {}

    def body_for(self, path: str, content: bytes) -> tuple[bytes, str]:
        key = (path, content)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        fake = self._fake
        match = fake._MODEL_ACTION.search(path)
        model, action = match.group(1), match.group(2)
        request = json.loads(content) if content else None
        usage = fake.usage(prompt=fake._prompt_tokens(request), candidates=1)
        if action == "generateContent":
            made = (json.dumps(fake.response(model_version=model, usage_metadata=usage)).encode(),
                    "application/json; charset=UTF-8")
        else:
            chunks = fake.stream(["o", "k"], model_version=model, final_usage=usage)
            made = (b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks), "text/event-stream")
        self._cache[key] = made
        return made

    def transport(self, httpx_module: Any) -> Any:
        def handler(request: Any) -> Any:
            body, content_type = self.body_for(request.url.path, request.content)
            return httpx_module.Response(200, content=body, headers={"content-type": content_type})

        return httpx_module.MockTransport(handler)


@dataclass
class Sinks:
    """Where every mode's telemetry lands: in memory, so nothing is exported and nothing leaves the process."""

    spans: Any
    reader: Any
    logs: Any
    tracer_provider: Any
    meter_provider: Any
    logger_provider: Any


def make_sinks(sampled: bool) -> Sinks:
    """SimpleSpanProcessor + InMemorySpanExporter and an InMemoryMetricReader, set globally as well.

    Set globally because OpenLIT takes no providers as arguments (it reuses the global SDK providers); the
    others also get them passed explicitly. A LoggerProvider with an in-memory exporter is there for peers that
    emit log events (OpenLIT does by default), so their default behaviour is measured without console output.
    """
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    try:
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogs
    except ImportError:  # older SDK spelling
        from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogs  # type: ignore

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=None if sampled else ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogs()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)
    return Sinks(spans, reader, logs, tracer_provider, meter_provider, logger_provider)


def instrument(mode: str, sinks: Sinks, workdir: Path) -> str:
    """Turn on one mode's instrumentation with its defaults; returns a note on what was configured."""
    if mode == "bare":
        return "no instrumentation"
    if mode in OURS:
        import otel_gemini

        otel_gemini.instrument(tracer_provider=sinks.tracer_provider, meter_provider=sinks.meter_provider)
        return "otel_gemini.instrument(tracer_provider, meter_provider)"
    if mode == "official":
        from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

        inst = GoogleGenAiSdkInstrumentor()
        inst.instrument(tracer_provider=sinks.tracer_provider, meter_provider=sinks.meter_provider,
                        logger_provider=sinks.logger_provider)
        if not inst.is_instrumented_by_opentelemetry:
            raise RuntimeError("GoogleGenAiSdkInstrumentor refused to instrument (dependency check)")
        return "GoogleGenAiSdkInstrumentor().instrument(tracer_provider, meter_provider, logger_provider)"
    if mode == "openllmetry":
        from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor

        inst = GoogleGenerativeAiInstrumentor()
        inst.instrument(tracer_provider=sinks.tracer_provider, meter_provider=sinks.meter_provider,
                        logger_provider=sinks.logger_provider)
        if not inst.is_instrumented_by_opentelemetry:
            raise RuntimeError("GoogleGenerativeAiInstrumentor refused to instrument (dependency check)")
        return "GoogleGenerativeAiInstrumentor().instrument(tracer_provider, meter_provider, logger_provider)"
    if mode == "openlit":
        import openlit

        # pricing_json as a local file: by default init() downloads a pricing JSON from GitHub. The entry
        # prices MODEL at Gemini's list price per 1k tokens, so OpenLIT runs its cost path like otel-gemini.
        pricing = workdir / "openlit-pricing.json"
        pricing.write_text(json.dumps({"chat": {MODEL: {"promptPrice": 0.0003, "completionPrice": 0.0025}}}))
        openlit.init(pricing_json=str(pricing), collect_gpu_stats=False, collect_system_metrics=False)
        return "openlit.init(pricing_json=<local file>) on the global SDK providers"
    raise ValueError(f"unknown mode {mode}")


class Worker:
    """The measuring side: a client per transport, rounds on request, results as JSON."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.mode: str = config["mode"]
        workdir = Path(config["workdir"])
        fake_gemini = load_fake_gemini()
        self.sinks = make_sinks(sampled=self.mode != "otel-gemini-unsampled")
        self.note = instrument(self.mode, self.sinks, workdir)

        from google import genai
        from google.genai import types

        self.sdk_version = getattr(genai, "__version__", "?")
        http_client = genai.Client(api_key="bench-key", http_options=types.HttpOptions(base_url=config["base_url"]))
        # The SDK subclasses the HTTP client; its base class says which library it runs on (httpx2 on 3.x).
        backend = next(cls.__module__.split(".")[0] for cls in type(http_client._api_client._httpx_client).__mro__
                       if cls.__module__.split(".")[0] in ("httpx", "httpx2"))
        httpx_module = __import__(backend)
        endpoint = InProcessEndpoint(fake_gemini)
        inproc_client = genai.Client(api_key="bench-key", http_options=types.HttpOptions(
            base_url=config["base_url"], client_args={"transport": endpoint.transport(httpx_module)}))
        self.clients = {"http": http_client, "inproc": inproc_client}
        self.backend = backend

    def call(self, client: Any, kind: str) -> None:
        if kind == "generate":
            response = client.models.generate_content(model=MODEL, contents=PROMPT)
            if response.text != "ok":
                raise RuntimeError(f"unexpected response text {response.text!r}")
        else:
            for _chunk in client.models.generate_content_stream(model=MODEL, contents=PROMPT):
                pass

    def telemetry_counts(self) -> dict[str, Any]:
        """Spans, log records and metric points recorded since the last clear; then clear them.

        Metric collection is timed because it is where deferred work lands: otel-gemini replays its queued
        histogram points into the SDK at collection, so leaving it out would flatter it.
        """
        started = time.perf_counter_ns()
        data = self.sinks.reader.get_metrics_data()
        collect_ns = time.perf_counter_ns() - started
        metric_names: dict[str, int] = {}
        for resource_metrics in (data.resource_metrics if data else []):
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    metric_names[metric.name] = metric_names.get(metric.name, 0) + len(metric.data.data_points)
        spans = self.sinks.spans.get_finished_spans()
        span_names = sorted({span.name for span in spans})
        attributes = max((len(span.attributes or {}) for span in spans), default=0)
        logs = len(self.sinks.logs.get_finished_logs())
        self.sinks.spans.clear()
        self.sinks.logs.clear()
        return {"collect_ns": collect_ns, "spans": len(spans), "span_names": span_names,
                "span_attributes": attributes, "logs": logs, "metrics": metric_names}

    def round(self, kind: str, transport: str, calls: int, warmup: int) -> dict[str, Any]:
        import gc

        client = self.clients[transport]
        for _ in range(warmup):
            self.call(client, kind)
        self.telemetry_counts()  # clears warm-up telemetry (and runs the collection its calls queued)
        gc.collect()  # each round starts from the same heap state; collections during the loop still count
        samples = []
        clock = time.perf_counter_ns
        call = self.call
        for _ in range(calls):
            started = clock()
            call(client, kind)
            samples.append(clock() - started)
        counts = self.telemetry_counts()
        return {"samples": samples, **counts}

    def memory(self, transport: str, calls: int, checkpoints: list[int], clear_every: int,
               collect_every: int) -> dict[str, Any]:
        """RSS and live-object count at checkpoints over `calls` calls, generate and stream alternating.

        Every `clear_every` calls the in-memory span and log exporters are cleared (they keep every span by
        design, which is the test harness growing, not the instrumentation); every `collect_every` calls the
        metric reader collects, as a periodic reader would (that also drains otel-gemini's histogram queue).
        """
        import gc

        client = self.clients[transport]
        points = []
        started = time.perf_counter()
        for i in range(1, calls + 1):
            self.call(client, "generate" if i % 2 else "stream")
            if i % clear_every == 0:
                self.sinks.spans.clear()
                self.sinks.logs.clear()
            if i % collect_every == 0:
                self.sinks.reader.get_metrics_data()
            if i in checkpoints:
                gc.collect()
                points.append({"calls": i, "rss_kib": _rss_kib(), "objects": len(gc.get_objects()),
                               "elapsed_s": round(time.perf_counter() - started, 1)})
        return {"points": points}

    def profile(self, kind: str, transport: str, calls: int, warmup: int, top: int) -> dict[str, Any]:
        """cProfile over `calls` calls; the text keeps only functions of the instrumentation and OTel."""
        import cProfile
        import io
        import pstats

        client = self.clients[transport]
        for _ in range(warmup):
            self.call(client, kind)
        self.telemetry_counts()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            self.call(client, kind)
        self.telemetry_counts()  # the collection (and its replay of deferred histograms) is part of the cost
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        total = stats.total_tt  # type: ignore[attr-defined]
        filters = "otel_gemini/|/opentelemetry/|/wrapt/|/openlit/"
        stats.sort_stats("cumulative").print_stats(filters, top)
        stats.sort_stats("tottime").print_stats(filters, top)
        return {"total_s": total, "per_call_us": total / calls * 1e6, "text": out.getvalue()}


    def _capture_real_call(self) -> dict[str, Any]:
        """One real instrumented generate call, with what it handed the SDK span, the recorder and bill().

        The floors must do the same work as the real call, so their inputs are taken from one: the span's name,
        kind and attributes from the in-memory exporter, the CallRecord and every Facts from the live recorder
        and pricer (built by ``otel_gemini.instrument`` as production builds them). The recorder's class and
        bill() are found through the instrumentation's own imports, so moving their modules does not break this.
        """
        from otel_gemini.instrumentation import _call

        recorder_class = type(self)._recorder_class(_call)
        bills: list[tuple[Any, Any]] = []
        records: list[tuple[Any, Any]] = []
        real_bill, real_record = _call.bill, recorder_class.record_call

        def capture_bill(pricer: Any, facts: Any) -> Any:
            bills.append((pricer, facts))
            return real_bill(pricer, facts)

        def capture_record(recorder: Any, call: Any) -> None:
            records.append((recorder, call))
            real_record(recorder, call)

        self.telemetry_counts()
        _call.bill, recorder_class.record_call = capture_bill, capture_record
        try:
            self.call(self.clients["inproc"], "generate")
        finally:
            _call.bill, recorder_class.record_call = real_bill, real_record
        span = self.sinks.spans.get_finished_spans()[-1]
        self.telemetry_counts()
        if len(records) != 1 or not bills:
            raise RuntimeError(f"captured {len(records)} records and {len(bills)} bills from one call")
        return {"span": (span.name, span.kind, dict(span.attributes or {})), "bill": real_bill, "bills": bills,
                "record": records[0]}

    @staticmethod
    def _recorder_class(call_module: Any) -> Any:
        return sys.modules[call_module.CallRecord.__module__].Recorder

    def floors(self, iterations: int) -> dict[str, Any]:
        """Per-call floors of otel-gemini's generate path, each part alone, in this worker, in this run.

        span: a bare SDK span (a TracerProvider with SimpleSpanProcessor + InMemorySpanExporter, as every mode
        has) started with the real call's attributes and ended; record: Recorder.record_call of the real call's
        CallRecord (charges included), plus the collection that replays its queued histogram points, per call;
        bill: bill() on every Facts the real call priced. Medians of per-iteration timings, in ns.
        """
        import gc

        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        if not hasattr(self, "_real_call"):
            self._real_call = self._capture_real_call()
        real = self._real_call
        clock = time.perf_counter_ns
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("overhead-bench-floor")
        name, kind, attributes = real["span"]
        bill, bills = real["bill"], real["bills"]
        recorder, record = real["record"]
        reader = self.sinks.reader
        span_ns: list[int] = []
        record_ns: list[int] = []
        bill_ns: list[int] = []
        collect_ns = 0
        gc.collect()
        for i in range(iterations):
            started = clock()
            tracer.start_span(name, kind=kind, attributes=attributes).end()
            span_ns.append(clock() - started)
            started = clock()
            recorder.record_call(record)
            record_ns.append(clock() - started)
            started = clock()
            for pricer, facts in bills:
                bill(pricer, facts)
            bill_ns.append(clock() - started)
            if i % 500 == 499:  # drain the histogram queue before its background flush would (and time it)
                exporter.clear()
                started = clock()
                reader.get_metrics_data()
                collect_ns += clock() - started
        started = clock()
        reader.get_metrics_data()
        collect_ns += clock() - started
        return {"span_ns": span_ns, "record_ns": record_ns, "bill_ns": bill_ns, "collect_ns": collect_ns,
                "iterations": iterations, "span_attributes": len(attributes), "bills_per_call": len(bills),
                "charges": len(record.charges)}


    def stages(self, kind: str, transport: str, calls: int, warmup: int) -> dict[str, Any]:
        """Where otel-gemini's µs go, in situ: timing wrappers on the stages of a real call, without a profiler.

        ``calls`` plain calls and ``calls`` calls with a timer around each stage, alternating in chunks of 50 so
        both see the same machine; the orchestrator alternates this op between a bare worker and ours, so the
        "added" figure is paired too. Every name is reached through the instrumentation's own imports (module
        globals, classes), so this follows the code production runs. Returns sums in ns; the orchestrator
        takes the timers' own cost (an empty wrapper's, measured here) off each stage and off nested parents.
        The metric collection (otel-gemini's deferred histogram replay) is timed apart, every 500 calls.
        """
        import gc

        client = self.clients[transport]
        for _ in range(warmup):
            self.call(client, kind)
        self.telemetry_counts()
        clock = time.perf_counter_ns
        reader = self.sinks.reader
        spent: dict[str, list[int]] = {}

        def timed(name: str, function: Any) -> Any:
            cell = spent.setdefault(name, [0, 0])

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = clock()
                try:
                    return function(*args, **kwargs)
                finally:
                    cell[0] += clock() - started
                    cell[1] += 1
            return wrapper

        empty = timed("empty", lambda: None)
        for _ in range(100_000):
            empty()
        timer_ns = spent["empty"][0] / spent.pop("empty")[1]
        patches = self._stage_patches() if self.mode in OURS else []
        saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _name in patches]
        wrapped = [(owner, attr, timed(name, getattr(owner, attr))) for owner, attr, name in patches]
        plain = timed_total = collect = 0
        gc.collect()
        for i in range(calls):
            chunk_timed = (i // 50) % 2 == 1
            if i % 50 == 0:
                for owner, attr, function in (wrapped if chunk_timed else saved):
                    setattr(owner, attr, function)
            started = clock()
            self.call(client, kind)
            elapsed = clock() - started
            if chunk_timed:
                timed_total += elapsed
            else:
                plain += elapsed
            if i % 500 == 499:
                started = clock()
                reader.get_metrics_data()
                collect += clock() - started
        for owner, attr, original in saved:
            setattr(owner, attr, original)
        started = clock()
        reader.get_metrics_data()
        collect += clock() - started
        self.sinks.spans.clear()
        half = calls // 2
        return {"plain_ns": plain, "timed_ns": timed_total, "collect_ns": collect, "calls": half,
                "spent": spent, "timer_ns": timer_ns}

    @staticmethod
    def _stage_patches() -> list[tuple[Any, str, str]]:
        import opentelemetry.context as otel_context
        from opentelemetry.sdk import trace as sdk_trace

        from otel_gemini.instrumentation import _call, attempts, coexist, models

        recorder_class = Worker._recorder_class(_call)
        return [
            (coexist, "peer_beneath", "peer checks (coexist.peer_beneath/above)"),
            (coexist, "peer_above", "peer checks (coexist.peer_beneath/above)"),
            (models, "_start", "opener: request attributes, endpoint, tier"),
            (_call.CallState, "__init__", "call state init (attributes dict, baggage)"),
            (sdk_trace.Tracer, "start_span", "SDK start_span (with start attributes)"),
            (otel_context, "attach", "context attach"),
            (otel_context, "detach", "context detach"),
            (_call.CallState, "_finish", "finish glue (CallRecord, status, hops)"),
            (_call, "extract_usage", "usage extraction"),
            (_call, "bill", "bill()"),
            (recorder_class, "record_call", "Recorder.record_call"),
            (_call, "span_attributes", "span attributes dict (ours)"),
            (sdk_trace.Span, "set_attributes", "SDK set_attributes (end attributes)"),
            (sdk_trace.Span, "end", "SDK span end (processor + in-memory export)"),
            (attempts, "_record", "HTTP attempt recording"),
        ]


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def worker_main(config_json: str) -> None:
    """Serve commands from stdin; replies go to a private copy of stdout.

    Instrumentation libraries may print (OpenLIT logs, console exporters); fd 1 is pointed at stderr so nothing
    they write can corrupt the protocol.
    """
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    replies = os.fdopen(reply_fd, "w", buffering=1)

    def send(obj: dict[str, Any]) -> None:
        replies.write(json.dumps(obj) + "\n")
        replies.flush()

    try:
        worker = Worker(json.loads(config_json))
    except Exception as failure:
        import traceback

        traceback.print_exc()
        send({"error": f"{type(failure).__name__}: {failure}"[:300]})
        return
    send({"ready": True, "note": worker.note, "sdk": worker.sdk_version, "backend": worker.backend})
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "exit":
            return
        try:
            send(getattr(worker, op)(**command))
        except Exception as failure:
            import traceback

            traceback.print_exc()
            send({"error": f"{type(failure).__name__}: {failure}"[:300]})


def import_probe_main(what: str) -> None:
    """One fresh interpreter, one timed import; the caller takes the median over several."""
    if what == "otel_gemini+genai":
        import google.genai  # noqa: F401  (pre-imported: what an app that already uses the SDK pays)
    started = time.perf_counter()
    if what == "google.genai":
        import google.genai  # noqa: F401,F811
    else:
        import otel_gemini  # noqa: F401
    print(time.perf_counter() - started)


# -- orchestrator ------------------------------------------------------------------------------------------------


class WorkerProcess:
    """A worker child and a reader thread, so a hung child costs a timeout instead of the whole run."""

    def __init__(self, python: Path, mode: str, env_name: str, config: dict[str, Any], env: dict[str, str],
                 log_path: Path) -> None:
        self.mode, self.env_name = mode, env_name
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([str(python), str(Path(__file__).resolve()), "--worker", json.dumps(config)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     env=env, cwd=str(config["workdir"]))
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        self.dead: str | None = None

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _reason(self, default: str) -> str:
        tail = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return (tail[-1] if tail else default)[:200]

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            self.dead = f"timed out after {timeout:.0f} s"
            raise RuntimeError(self.dead) from None
        if line is None:
            self.proc.wait()
            self.dead = f"crashed (exit {self.proc.returncode}): {self._reason('no output')}"
            raise RuntimeError(self.dead)
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def request(self, timeout: float, **command: Any) -> dict[str, Any]:
        if self.dead:
            raise RuntimeError(self.dead)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # receive() reports the crash with the child's last words
        return self.receive(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:
                self.kill()
        self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Series:
    """All rounds of one (env, mode, kind, transport)."""

    samples: list[int] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    collect_ns: int = 0
    spans: int = 0
    logs: int = 0
    calls: int = 0
    metrics: dict[str, int] = field(default_factory=dict)
    span_names: list[str] = field(default_factory=list)
    span_attributes: int = 0


def _fmt_us(ns: float | None, signed: bool = False) -> str:
    if ns is None:
        return "-"
    return f"{ns / 1000:+.1f}" if signed else f"{ns / 1000:.1f}"


def summarize(series: dict[tuple[str, str, str, str], Series], na: dict[tuple[str, str], str],
              transports: list[str]) -> tuple[str, dict[str, Any]]:
    """The tables: medians, means (with the collection cost spread over the calls) and the cost over bare.

    "added" is paired by round: each round's median minus the bare client's median in the same round (the
    rounds are interleaved, so a slow minute of the machine hits both), then the median over rounds; the range
    over rounds shows how much to trust it.
    """
    lines: list[str] = []
    table: dict[str, Any] = {}
    for spec in ENVS:
        for transport in transports:
            for kind in ("generate", "stream"):
                title = (f"{spec.sdk}, {'generate_content' if kind == 'generate' else 'generate_content_stream'}, "
                         f"{'HTTP to the fake endpoint' if transport == 'http' else 'in-process transport'}")
                lines += ["", title,
                          f"  {'mode':<24}{'median µs':>11}{'mean µs':>11}{'added med':>11}"
                          f"{'(range)':>20}{'added mean':>12}{'÷ best peer':>12}{'collect':>9}  spans/logs per call"]
                bare = series.get((spec.name, "bare", kind, transport))
                rows: dict[str, dict[str, Any]] = {}
                for mode in spec.modes:
                    s = series.get((spec.name, mode, kind, transport))
                    if (spec.name, mode) in na or s is None or not s.samples:
                        rows[mode] = {"na": na.get((spec.name, mode), "not run")}
                        continue
                    median = statistics.median(s.samples)
                    mean = (sum(s.samples) + s.collect_ns) / len(s.samples)
                    row: dict[str, Any] = {"median_ns": median, "mean_ns": mean, "calls": len(s.samples),
                                           "spans_per_call": s.spans / s.calls, "logs_per_call": s.logs / s.calls,
                                           "collect_ns_per_call": s.collect_ns / len(s.samples),
                                           "metrics": s.metrics, "span_names": s.span_names,
                                           "span_attributes": s.span_attributes,
                                           "round_medians_ns": s.round_medians}
                    if bare is not None and bare.samples and mode != "bare":
                        diffs = [m - b for m, b in zip(s.round_medians, bare.round_medians, strict=False)]
                        row["added_median_ns"] = statistics.median(diffs)
                        row["added_range_ns"] = (min(diffs), max(diffs))
                        row["added_mean_ns"] = mean - (sum(bare.samples) + bare.collect_ns) / len(bare.samples)
                    rows[mode] = row
                peer_added = [rows[p]["added_median_ns"] for p in PEERS
                              if p in rows and "added_median_ns" in rows[p]]
                best = min(peer_added) if peer_added else None
                for mode in spec.modes:
                    row = rows[mode]
                    if "na" in row:
                        lines.append(f"  {mode:<24}n/a ({row['na']})")
                        continue
                    ratio = "-"
                    if best is not None and "added_median_ns" in row and best > 0:
                        ratio = f"{row['added_median_ns'] / best:.2f}x"
                        row["ratio_to_best_peer"] = row["added_median_ns"] / best
                    rng = row.get("added_range_ns")
                    rng_text = f"[{_fmt_us(rng[0], True)}, {_fmt_us(rng[1], True)}]" if rng else "-"
                    lines.append(
                        f"  {mode:<24}{_fmt_us(row['median_ns']):>11}{_fmt_us(row['mean_ns']):>11}"
                        f"{_fmt_us(row.get('added_median_ns'), True):>11}{rng_text:>20}"
                        f"{_fmt_us(row.get('added_mean_ns'), True):>12}{ratio:>12}"
                        f"{_fmt_us(row['collect_ns_per_call']):>9}"
                        f"  {row['spans_per_call']:.2f}/{row['logs_per_call']:.2f}")
                table[f"{spec.name}/{kind}/{transport}"] = rows
    return "\n".join(lines), table


STAGE_PARENTS = {
    "opener: request attributes, endpoint, tier": ("call state init (attributes dict, baggage)",),
    "call state init (attributes dict, baggage)": ("SDK start_span (with start attributes)",),
    "finish glue (CallRecord, status, hops)": ("usage extraction", "bill()", "Recorder.record_call",
                                               "span attributes dict (ours)", "SDK set_attributes (end attributes)",
                                               "SDK span end (processor + in-memory export)"),
}

# -- floors and targets (issue 17) ------------------------------------------------------------------------------

FLOOR_WORKER = ("genai3", "otel-gemini")
FLOOR_PARTS = (("span_ns", "bare SDK span, same name/kind/attributes, started and ended"),
               ("record_ns", "Recorder.record_call of the real call's CallRecord (charges included)"),
               ("bill_ns", "bill() on the real call's Facts"))
# (line, what, bound): otel-gemini's figure over the reference figure must be <= bound.
TARGETS_3X = (("added median", "added_median_ns", "otel-gemini", "added_median_ns", 0.5),
              ("added mean (with collection)", "added_mean_ns", "otel-gemini", "added_mean_ns", 0.5),
              ("unsampled added median vs sampled peer", "added_median_ns", "otel-gemini-unsampled",
               "added_median_ns", 0.15))


def summarize_floors(samples: dict[str, list[float]], info: dict[str, Any]) -> dict[str, Any]:
    """Median µs of each floor over all rounds; the collection's replay per call is shown apart (it is in the mean)."""
    if "error" in info and not samples:
        return {"error": info["error"]}
    if not samples:
        return {}
    out: dict[str, Any] = {part: statistics.median(samples[part]) for part, _ in FLOOR_PARTS}
    out["sum_ns"] = sum(out[part] for part, _ in FLOOR_PARTS)
    out["record_collect_ns"] = statistics.median(samples["collect_ns"])
    out.update({k: v for k, v in info.items() if k != "error"})
    return out


def floors_text(floors: dict[str, Any], table: dict[str, Any], transports: list[str]) -> str:
    if not floors:
        return ""
    if "error" in floors:
        return f"\nfloors (google-genai 3.x, generate): n/a ({floors['error']})"
    lines = ["", f"floors (google-genai 3.x, generate; measured in the otel-gemini worker between rounds, "
                 f"median µs per call of {floors['iterations']} iterations per round):"]
    for part, what in FLOOR_PARTS:
        lines.append(f"  {part[:-3]:<8}{_fmt_us(floors[part]):>8}  {what}")
    lines.append(f"  {'sum':<8}{_fmt_us(floors['sum_ns']):>8}  ({floors['span_attributes']} span attributes, "
                 f"{floors['bills_per_call']} bill() call(s), {floors['charges']} charge(s) per call)")
    lines.append(f"  (the recorder's queued histogram points replayed at collection add "
                 f"{_fmt_us(floors['record_collect_ns'])} µs per call; that is in the mean, not the median)")
    for transport in transports:
        row = table.get(f"genai3/generate/{transport}", {}).get("otel-gemini", {})
        if "added_median_ns" in row and floors["sum_ns"] > 0:
            above = row["added_median_ns"] - floors["sum_ns"]
            floors.setdefault("above_sum_ns", {})[transport] = above
            lines.append(f"  {transport:<7}: otel-gemini added median is {_fmt_us(above)} µs above the floors' sum "
                         f"({row['added_median_ns'] / floors['sum_ns']:.2f}x the sum)")
    return "\n".join(lines)


def evaluate_targets(table: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's ratios, each from figures of this one run: ours over the fastest peer's on the same line."""
    out: list[dict[str, Any]] = []
    for key, rows in sorted(table.items()):
        if key.split("/")[0] == "genai3":
            for label, peer_field, ours, our_field, bound in TARGETS_3X:
                peers = [(rows[p][peer_field], p) for p in PEERS if peer_field in rows.get(p, {})]
                mine = rows.get(ours, {}).get(our_field)
                reference = min(peers) if peers else None
                entry = _target(key, label, mine, reference, bound)
                out.append(_flag_noise(entry, rows, (ours, reference[1] if reference else None)))
        else:
            official = rows.get("official", {}).get("added_median_ns")
            entry = _target(key, "added median vs official", rows.get("otel-gemini", {}).get("added_median_ns"),
                            (official, "official") if official is not None else None, 0.35)
            out.append(_flag_noise(entry, rows, ("otel-gemini", "official")))
    return out


def _flag_noise(entry: dict[str, Any], rows: dict[str, Any], modes: tuple[str, str | None]) -> dict[str, Any]:
    """A verdict whose inputs' round range spans zero is within the round-to-round noise: say so beside it."""
    if entry["verdict"] not in ("PASS", "MISS"):
        return entry
    for mode in modes:
        row = rows.get(mode or "", {})
        low, high = row.get("added_range_ns", (1, 1))
        if len(row.get("round_medians_ns", ())) < 2:
            entry["verdict"] += " (one round: no range to judge the noise by)"
            break
        if low <= 0 <= high:
            entry["verdict"] += f" (noisy: {mode}'s range spans 0)"
            break
    return entry


def _target(key: str, label: str, mine: float | None, reference: tuple[float, str] | None,
            bound: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"line": key, "target": label, "bound": bound, "ours_ns": mine}
    if mine is None or reference is None:
        entry["verdict"] = "n/a"
        return entry
    entry.update(reference_ns=reference[0], reference=reference[1])
    if reference[0] <= 0:
        entry["verdict"] = "n/a (reference within noise)"
        return entry
    entry["ratio"] = mine / reference[0]
    entry["verdict"] = "PASS" if entry["ratio"] <= bound else "MISS"
    return entry


def targets_text(targets: list[dict[str, Any]]) -> str:
    lines = ["", "targets (issue 17; ours ÷ the fastest peer's figure on the same line, this run):"]
    for t in targets:
        ref = (f"{_fmt_us(t['ours_ns'], True)} ÷ {t['reference']} {_fmt_us(t['reference_ns'], True)} µs = "
               f"{t['ratio']:.2f}" if "ratio" in t else "")
        lines.append(f"  {t['line']:<24}{t['target']:<42}≤ {t['bound']:<5}{ref:<44}{t['verdict']}")
    return "\n".join(lines)


def warnings_for(table: dict[str, Any]) -> list[str]:
    """Things a reader should not miss: a peer that records nothing, or records less than one span per call."""
    out = []
    for key, rows in table.items():
        for mode, row in rows.items():
            if "na" in row or mode == "bare":
                continue
            expected_spans = 0.0 if mode == "otel-gemini-unsampled" else 1.0
            if row["spans_per_call"] + 1e-9 < expected_spans:
                out.append(f"{key}: {mode} recorded {row['spans_per_call']:.2f} spans per call")
            if not row["metrics"]:
                out.append(f"{key}: {mode} recorded no metric points")
    return out


def import_times(python: Path, env: dict[str, str], runs: int) -> dict[str, float]:
    """Median seconds over `runs` fresh interpreters (after one unmeasured run that fills the bytecode cache)."""
    out = {}
    for what in ("otel_gemini", "otel_gemini+genai", "google.genai"):
        times = []
        for i in range(runs + 1):
            proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--import-probe", what],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(_pip_error(proc.stderr))
            if i:
                times.append(float(proc.stdout.strip().splitlines()[-1]))
        out[what] = statistics.median(times)
    return out


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        server.kill()
        raise SystemExit(f"the fake endpoint did not start: {base_url!r}")
    return server, base_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run of every step, for a smoke check")
    parser.add_argument("--venv-dir", type=Path, default=HERE / ".venvs", help="where the venvs live (reused)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per mode (default 5; quick 2)")
    parser.add_argument("--calls", type=int, help="timed HTTP calls per round (default 600; quick 100)")
    parser.add_argument("--inproc-calls", type=int, help="timed in-process calls per round (default 1000; quick 200)")
    parser.add_argument("--no-inproc", action="store_true", help="skip the in-process transport tables")
    parser.add_argument("--memory-calls", type=int, help="calls in the memory run (default 100000; quick 5000)")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import timing (default 7; quick 3)")
    parser.add_argument("--only", help="comma-separated modes to run (default: all)")
    parser.add_argument("--floor-iterations", type=int,
                        help="iterations of each floor per round (default 3000; quick 1000)")
    parser.add_argument("--json", type=Path, help="write every figure here (default: a file under the temp dir)")
    parser.add_argument("--profile", metavar="MODE", help="instead of the benchmark, cProfile one mode")
    parser.add_argument("--profile-env", default="genai3", choices=[e.name for e in ENVS])
    parser.add_argument("--profile-kind", default="generate", choices=["generate", "stream"])
    parser.add_argument("--profile-transport", default="inproc", choices=["inproc", "http"])
    parser.add_argument("--profile-calls", type=int, default=3000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--import-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        return serve_main()
    if args.worker:
        return worker_main(args.worker)
    if args.import_probe:
        return import_probe_main(args.import_probe)

    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    # 600 HTTP + 1000 in-process calls x 5 rounds x 8 modes x 2 kinds, plus 100k calls for memory, is what fits
    # in ~10 minutes on 2 cores; medians of 3,000 calls per cell are stable to a few tens of µs there.
    calls = args.calls or (100 if quick else 600)
    inproc_calls = args.inproc_calls or (200 if quick else 1000)
    memory_calls = args.memory_calls if args.memory_calls is not None else (5000 if quick else 100_000)
    import_runs = args.import_runs or (3 if quick else 7)
    floor_iterations = args.floor_iterations or (1000 if quick else 3000)
    transports = ["http"] + ([] if args.no_inproc else ["inproc"])
    only = set(args.only.split(",")) if args.only else None
    started = time.perf_counter()
    load_before = os.getloadavg()[0]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    args.venv_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(args.venv_dir)
    workdir = Path(tempfile.mkdtemp(prefix="otel-gemini-overhead-"))
    pythons: dict[str, Path | None] = {}
    na: dict[tuple[str, str], str] = {}
    for spec in ENVS:
        state = ensure_env(spec, args.venv_dir, log)
        pythons[spec.name] = state["python"]
        for mode, reason in state["na"].items():
            na[(spec.name, mode)] = reason

    server, base_url = start_server(env)
    log(f"fake endpoint at {base_url} (own process, TCP_NODELAY)")
    workers: dict[tuple[str, str], WorkerProcess] = {}
    try:
        if args.profile:
            return run_profile(args, pythons, env, base_url, workdir, log)

        for spec in ENVS:
            python = pythons[spec.name]
            for mode in spec.modes:
                if (spec.name, mode) in na or python is None or (only and mode not in only):
                    continue
                config = {"mode": mode, "base_url": base_url, "workdir": str(workdir)}
                workers[(spec.name, mode)] = WorkerProcess(python, mode, spec.name, config, env,
                                                           workdir / f"{spec.name}-{mode}.log")
        notes: dict[str, Any] = {}
        for key, worker in list(workers.items()):
            try:
                ready = worker.receive(timeout=180)
                notes[f"{key[0]}/{key[1]}"] = ready
            except RuntimeError as failure:
                na[key] = str(failure)
                log(f"{key[0]}/{key[1]}: n/a ({failure})")
                worker.close()
                del workers[key]
        log(f"{len(workers)} workers ready: {', '.join(f'{e}/{m}' for e, m in workers)}")

        series: dict[tuple[str, str, str, str], Series] = {}
        floor_samples: dict[str, list[float]] = {}
        floor_info: dict[str, Any] = {}
        order = list(workers)
        for r in range(rounds):
            for transport in transports:
                n = calls if transport == "http" else inproc_calls
                warmup = (200 if r == 0 else 50) if not quick else 20
                for kind in ("generate", "stream"):
                    shift = r % len(order) if order else 0
                    for key in order[shift:] + order[:shift]:  # rotate so no mode always runs first
                        worker = workers[key]
                        if key in na:
                            continue
                        try:
                            reply = worker.request(timeout=120 + n * 0.05, op="round", kind=kind,
                                                   transport=transport, calls=n, warmup=warmup)
                        except RuntimeError as failure:
                            na[key] = str(failure)
                            log(f"{key[0]}/{key[1]}: n/a ({failure})")
                            continue
                        s = series.setdefault((key[0], key[1], kind, transport), Series())
                        s.samples += reply["samples"]
                        s.round_medians.append(statistics.median(reply["samples"]))
                        s.collect_ns += reply["collect_ns"]
                        s.spans += reply["spans"]
                        s.logs += reply["logs"]
                        s.calls += len(reply["samples"])
                        s.metrics, s.span_names = reply["metrics"], reply["span_names"]
                        s.span_attributes = reply["span_attributes"]
                log(f"round {r + 1}/{rounds} {transport} done")
            floor_worker = workers.get(FLOOR_WORKER)
            if floor_worker is not None and FLOOR_WORKER not in na:
                try:
                    reply = floor_worker.request(timeout=300, op="floors", iterations=floor_iterations)
                    for part in ("span_ns", "record_ns", "bill_ns"):
                        floor_samples.setdefault(part, []).extend(reply.pop(part))
                    floor_samples.setdefault("collect_ns", []).append(reply.pop("collect_ns") / reply["iterations"])
                    floor_info.update(reply)
                except RuntimeError as failure:
                    floor_info["error"] = str(failure)
                    log(f"floors: n/a ({failure})")
        for worker in workers.values():
            worker.close()
        workers.clear()

        text, table = summarize(series, na, transports)
        floors = summarize_floors(floor_samples, floor_info)
        targets = evaluate_targets(table)
        text += "\n" + floors_text(floors, table, transports) + "\n" + targets_text(targets)
        results: dict[str, Any] = {"rounds": rounds, "calls": calls, "inproc_calls": inproc_calls,
                                   "model": MODEL, "workers": notes, "tables": table, "floors": floors,
                                   "targets": targets}

        log("import time")
        imports: dict[str, Any] = {}
        for spec in ENVS:
            python = pythons[spec.name]
            if python is None:
                continue
            try:
                imports[spec.name] = import_times(python, env, import_runs)
            except RuntimeError as failure:
                imports[spec.name] = {"error": str(failure)}
        results["import_s"] = imports

        memory: dict[str, Any] = {}
        if memory_calls and pythons.get("genai3") is not None and ("genai3", "otel-gemini") not in na:
            log(f"memory: {memory_calls} calls of otel-gemini in a fresh process (in-process transport)")
            memory = run_memory(pythons["genai3"], env, base_url, workdir, memory_calls)  # type: ignore[arg-type]
        results["memory"] = memory
    finally:
        for worker in workers.values():
            worker.kill()
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)

    results["load_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    print(report(results, text, imports, memory, warnings_for(table), time.perf_counter() - started))
    out = args.json or workdir / "overhead.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nall figures (per-round medians, metric names per mode): {out}")


def run_memory(python: Path, env: dict[str, str], base_url: str, workdir: Path, calls: int) -> dict[str, Any]:
    config = {"mode": "otel-gemini", "base_url": base_url, "workdir": str(workdir)}
    worker = WorkerProcess(python, "otel-gemini", "genai3", config, env, workdir / "memory.log")
    try:
        worker.receive(timeout=180)
        first = max(1000, calls // 100)
        checkpoints = sorted({first, calls // 5, calls // 2, calls})
        reply = worker.request(timeout=60 + calls * 0.02, op="memory", transport="inproc", calls=calls,
                               checkpoints=checkpoints, clear_every=1000, collect_every=5000)
        return {"calls": calls, **reply}
    except RuntimeError as failure:
        return {"error": str(failure)}
    finally:
        worker.close()


def run_profile(args: argparse.Namespace, pythons: dict[str, Path | None], env: dict[str, str], base_url: str,
                workdir: Path, log: Callable[[str], None]) -> None:
    """cProfile the mode and a bare client side by side; the difference per call is the instrumentation's.

    cProfile sees only the calling thread: histogram points that otel-gemini's background thread replays (every
    4096 queued points) are missing from the listing, those replayed at the final collection are in it.
    """
    python = pythons.get(args.profile_env)
    if python is None:
        raise SystemExit(f"{args.profile_env} venv is not available")
    stages = run_stages(python, args, env, base_url, workdir)
    per_call = {}
    for mode in ("bare", args.profile):
        config = {"mode": mode, "base_url": base_url, "workdir": str(workdir)}
        worker = WorkerProcess(python, mode, args.profile_env, config, env, workdir / f"profile-{mode}.log")
        try:
            worker.receive(timeout=180)
            reply = worker.request(timeout=600, op="profile", kind=args.profile_kind,
                                   transport=args.profile_transport, calls=args.profile_calls, warmup=200, top=30)
        finally:
            worker.close()
        per_call[mode] = reply["per_call_us"]
        if mode != "bare":
            print(reply["text"])
    print(f"profiled time per call ({args.profile_env}, {args.profile_kind}, {args.profile_transport}, "
          f"{args.profile_calls} calls; cProfile inflates everything): bare {per_call['bare']:.0f} µs, "
          f"{args.profile} {per_call[args.profile]:.0f} µs, "
          f"difference {per_call[args.profile] - per_call['bare']:.0f} µs")
    print(stages_text(stages, args.profile, f"{args.profile_env}, {args.profile_kind}, {args.profile_transport}, "
                                            f"{args.profile_calls} calls"))


def run_stages(python: Path, args: argparse.Namespace, env: dict[str, str], base_url: str,
               workdir: Path) -> dict[str, dict[str, Any]]:
    """The stage timings, alternating a bare worker and the profiled mode's in 10 chunks (paired like rounds)."""
    workers = {}
    try:
        for mode in ("bare", args.profile):
            config = {"mode": mode, "base_url": base_url, "workdir": str(workdir)}
            workers[mode] = WorkerProcess(python, mode, args.profile_env, config, env,
                                          workdir / f"stages-{mode}.log")
        for worker in workers.values():
            worker.receive(timeout=180)
        totals: dict[str, dict[str, Any]] = {}
        chunk = max(100, args.profile_calls // 10 // 100 * 100)
        for i in range(10):
            for mode, worker in workers.items():
                reply = worker.request(timeout=600, op="stages", kind=args.profile_kind,
                                       transport=args.profile_transport, calls=chunk, warmup=200 if i == 0 else 20)
                total = totals.setdefault(mode, {"plain_ns": 0, "timed_ns": 0, "collect_ns": 0, "calls": 0,
                                                 "spent": {}, "timer_ns": []})
                for key in ("plain_ns", "timed_ns", "collect_ns", "calls"):
                    total[key] += reply[key]
                total["timer_ns"].append(reply["timer_ns"])
                for name, (ns, n) in reply["spent"].items():
                    cell = total["spent"].setdefault(name, [0, 0])
                    cell[0] += ns
                    cell[1] += n
    finally:
        for worker in workers.values():
            worker.close()
    out = {}
    for mode, total in totals.items():
        calls, timer_ns = total["calls"], statistics.median(total["timer_ns"])
        per_call = {name: (ns - n * timer_ns) / calls for name, (ns, n) in total["spent"].items()}
        counts = {name: n / calls for name, (_ns, n) in total["spent"].items()}
        for parent, children in STAGE_PARENTS.items():  # exclusive time of a parent stage
            if parent in per_call:
                per_call[parent] -= sum(per_call.get(c, 0.0) + counts.get(c, 0.0) * timer_ns for c in children)
        out[mode] = {"call_ns": total["plain_ns"] / calls, "timed_call_ns": total["timed_ns"] / calls,
                     "collect_ns": total["collect_ns"] / (2 * calls), "stages": per_call, "counts": counts,
                     "timer_ns": timer_ns}
    return out


def stages_text(stages: dict[str, dict[str, Any]], mode: str, what: str) -> str:
    """The in-situ stage table: mean µs per call by stage; 'rest' is the added mean minus the timed stages."""
    ours, bare = stages[mode], stages["bare"]
    added = ours["call_ns"] - bare["call_ns"]
    lines = ["", f"where {mode}'s µs go, in situ, without a profiler ({what}; means per call):",
             f"  bare call {_fmt_us(bare['call_ns'])} µs, {mode} {_fmt_us(ours['call_ns'])} µs: "
             f"added {_fmt_us(added)} µs (timers on: {_fmt_us(ours.get('timed_call_ns'))} µs; "
             f"timer cost {ours.get('timer_ns', 0):.0f} ns each, removed)"]
    timed = 0.0
    for name, ns in ours["stages"].items():
        timed += ns
        lines.append(f"  {name:<46}{_fmt_us(ns):>8}  ({ours['counts'][name]:.0f}x per call)")
    lines.append(f"  {'rest (not timed: see benchmarks/README.md)':<46}{_fmt_us(added - timed):>8}")
    lines.append(f"  {'added per call (the sum)':<46}{_fmt_us(added):>8}")
    lines.append(f"  {'+ metric collection per call (histogram replay)':<46}"
                 f"{_fmt_us(ours['collect_ns'] - bare['collect_ns']):>8}")
    return "\n".join(lines)


def report(results: dict[str, Any], text: str, imports: dict[str, Any], memory: dict[str, Any],
           warnings: list[str], elapsed: float) -> str:
    out = [f"otel-gemini overhead: {results['rounds']} interleaved rounds per mode, {results['calls']} HTTP calls "
           f"and {results['inproc_calls']} in-process calls per round after warm-up; µs per call",
           "median: of all timed calls; mean: all calls plus the metric collection at the end of each round, "
           "spread over the calls;",
           "added: round-paired median minus the bare client's (range over rounds); ÷ best peer: added median over "
           "the lowest peer's added median;",
           "collect: metric collection time per call, already inside the mean (otel-gemini replays its deferred "
           "histogram points there)",
           text, ""]
    out.append("import otel_gemini (median of fresh interpreters):")
    for name, figures in imports.items():
        if "error" in figures:
            out.append(f"  {name}: n/a ({figures['error']})")
            continue
        out.append(f"  {name}: {figures['otel_gemini'] * 1000:.0f} ms cold, "
                   f"{figures['otel_gemini+genai'] * 1000:.0f} ms with google.genai already imported "
                   f"(google.genai alone: {figures['google.genai'] * 1000:.0f} ms)")
    if memory:
        out.append("")
        if "error" in memory:
            out.append(f"memory: n/a ({memory['error']})")
        else:
            out.append(f"memory, otel-gemini on google-genai 3.4.0, {memory['calls']} calls (generate/stream "
                       "alternating, in-process transport; span+log exporters cleared every 1000 calls, metrics "
                       "collected every 5000):")
            for point in memory["points"]:
                out.append(f"  after {point['calls']:>7} calls: RSS {point['rss_kib'] / 1024:.1f} MiB, "
                           f"{point['objects']} live objects ({point['elapsed_s']} s)")
    if warnings:
        out += ["", "look at this:"] + [f"  {w}" for w in warnings]
    load = results["load_1min"]
    out.append(f"\ntotal {elapsed:.0f} s; 1-minute load average {load['start']:.2f} at start, {load['end']:.2f} at end "
               f"(this run itself keeps ~2 busy: client + fake endpoint; much more means a busy machine)")
    return "\n".join(out)


if __name__ == "__main__":
    main()
