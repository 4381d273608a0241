"""Pre-fork servers: exact Prometheus totals across gunicorn workers, served once, by the master.

The end-to-end tests start a REAL gunicorn (3 sync workers) whose app makes one google-genai call per request
against FakeGemini, spread the load over the workers, and scrape the master's /metrics once (the merged view
of every worker's snapshot file). The unit tests merge snapshot files directly.

Hand-computed costs (gemini-2.5-flash, paid tier, Standard $0.30 / $2.50 per 1M input / output tokens):
every reply is 1,000 prompt + 500 candidates tokens:
  1,000 × 0.30/1M = $0.0003 input + 500 × 2.50/1M = $0.00125 output = $0.00155 per request;
  60 requests = $0.093 ($0.018 input + $0.075 output); 66 requests = $0.1023.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from otel_gemini import _guard, semconv
from otel_gemini.exporters import multiprocess, prometheus
from otel_gemini.recording import CallRecord, Recorder
from otel_gemini.testing import FakeGemini, response, usage
from tests.conftest import API_KEY, page_sum

APPS = Path(__file__).parent.parent / "apps"
BIN = Path(sys.executable).parent
PER_REQUEST = Decimal("0.0003") + Decimal("0.00125")  # $0.00155, see the module docstring
INTERVAL_S = 0.25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


exact_sum = page_sum


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def serving_fake() -> FakeGemini:
    """Every generateContent is 1,000 prompt + 500 candidates tokens on gemini-2.5-flash; each holds its worker
    20 ms, so concurrent requests cannot all be accepted by one sync worker."""
    fake = FakeGemini().start()

    def answer(_request: Any) -> tuple[int, dict[str, Any]]:
        time.sleep(0.02)
        body = response("hi", model_version="gemini-2.5-flash", usage_metadata=usage(prompt=1000, candidates=500))
        return 200, body

    fake.route(r"POST .*:generateContent", answer)
    return fake


def start_gunicorn(
    fake: FakeGemini, tmp_path: Path, *, zero_code: bool,
) -> tuple[subprocess.Popen[str], int, int, Path]:
    app_port, metrics_port = free_port(), free_port()
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GOOGLE_", "GEMINI_", "PROMETHEUS_"))}
    env.update(
        MP_BASE_URL=fake.base_url, MP_API_KEY=API_KEY, PROMETHEUS_MULTIPROC_DIR=str(directory),
        OTEL_GEMINI_PROMETHEUS_PORT=str(metrics_port), OTEL_GEMINI_PROMETHEUS_HOST="127.0.0.1",
        OTEL_GEMINI_MULTIPROC_INTERVAL=str(INTERVAL_S), OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="google-genai,google_generativeai",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent.parent.parent), env.get("PYTHONPATH", "")]),
    )
    gunicorn = [str(BIN / "gunicorn"), "-w", "3", "-k", "sync", "--no-control-socket", "-b", f"127.0.0.1:{app_port}",
                "--chdir", str(APPS)]
    if zero_code:
        command = [str(BIN / "opentelemetry-instrument"), *gunicorn, "wsgi_app:app"]
    else:
        command = [*gunicorn, "-c", str(APPS / "gunicorn_conf.py"), "wsgi_app:app"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_port(app_port, proc)
    wait_for_port(metrics_port, proc)
    return proc, app_port, metrics_port, directory


def load(app_port: int, requests: int) -> list[int]:
    """``requests`` calls, 6 at a time; returns the pid of the worker that served each."""
    def one(_index: int) -> int:
        body = urllib.request.urlopen(f"http://127.0.0.1:{app_port}/", timeout=20).read()
        return int(json.loads(body)["pid"])

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(requests)))


@pytest.fixture
def gunicorn_fake() -> Iterator[FakeGemini]:
    fake = serving_fake()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.mark.parametrize("zero_code", [True, False], ids=["opentelemetry-instrument", "when_ready-hook"])
def test_gunicorn_three_workers_totals_are_exact(gunicorn_fake: FakeGemini, tmp_path: Path, zero_code: bool) -> None:
    pytest.importorskip("gunicorn")
    proc, app_port, metrics_port, directory = start_gunicorn(gunicorn_fake, tmp_path, zero_code=zero_code)
    try:
        pids = load(app_port, 60)
        assert len(set(pids)) >= 2, f"the load was not spread: {pids}"
        assert proc.pid not in pids
        time.sleep(3 * INTERVAL_S)  # every worker has written a snapshot since its last call
        page = scrape(metrics_port)
        # 60 × $0.00155 = $0.093: input 60 × $0.0003 = $0.018, output 60 × $0.00125 = $0.075
        assert exact_sum(page, "gemini_cost_usd_total") == 60 * PER_REQUEST == Decimal("0.093")
        assert exact_sum(page, "gemini_cost_usd_total", gemini_cost_type="input") == Decimal("0.018")
        assert exact_sum(page, "gemini_cost_usd_total", gemini_cost_type="output") == Decimal("0.075")
        assert exact_sum(page, "gemini_requests_total", gen_ai_request_model="gemini-2.5-flash") == 60
        assert exact_sum(page, "gemini_tokens_total", gen_ai_token_type="input") == 60_000
        assert exact_sum(page, "gen_ai_client_operation_duration_seconds_count") == 60
        assert exact_sum(page, "otel_gemini_price_table_checked_timestamp_seconds") > 0  # once, not 4 times
        assert len(re.findall(r"^otel_gemini_price_table_checked_timestamp_seconds\{", page, re.M)) == 1
        files = {int(m.group(1)) for m in map(multiprocess._FILE.search, os.listdir(directory)) if m}
        assert set(pids) <= files  # one file per worker that served; the master's own holds no calls

        if zero_code:  # a worker killed hard: what it wrote stays counted; gunicorn's replacement starts at zero
            os.kill(pids[0], signal.SIGKILL)
            deadline = time.monotonic() + 10
            more: list[int] = []
            while time.monotonic() < deadline and len(more) < 6:
                try:
                    more += load(app_port, 6 - len(more))
                except OSError:
                    time.sleep(0.1)
            time.sleep(3 * INTERVAL_S)
            page = scrape(metrics_port)
            # 66 × $0.00155 = $0.1023
            assert exact_sum(page, "gemini_cost_usd_total") == 66 * PER_REQUEST == Decimal("0.1023")
            assert exact_sum(page, "gemini_requests_total") == 66
    finally:
        proc.send_signal(signal.SIGINT)  # quick shutdown: workers exit at once (atexit still writes)
        try:
            _out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert "Traceback" not in err, err
    assert "Address already in use" not in err, err


# -- the merge, on snapshot files (no gunicorn) ------------------------------------------------------------------

def _recorder(tenant: bool = False) -> Recorder:
    recorder = Recorder(attribution_keys=("tenant",) if tenant else ())
    recorder.project = "checkout"
    return recorder


def _call(recorder: Recorder, duration: float, tenant: str = "") -> None:
    recorder.record_call(CallRecord(
        "generate_content", "gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", duration, "", "priced",
        attribution={"tenant": tenant} if tenant else {},
    ))


def _cost(recorder: Recorder, amount: str) -> None:
    recorder.count(semconv.COST, ("generate_content", "gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", "input",
                                  "text", "standard"), Decimal(amount))


def _save(directory: Path, recorder: Recorder, pid: int, written: float | None = None) -> None:
    data = multiprocess.snapshot(recorder)
    data["pid"] = pid
    if written is not None:
        data["written"] = written
    (directory / f"otel_gemini_{pid}.json").write_text(json.dumps(data))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _page(directory: Path) -> str:
    registry = CollectorRegistry()
    multiprocess.MultiprocessCollector(str(directory), registry=registry)
    return generate_latest(registry).decode()


def test_merge_sums_counters_exactly_and_keeps_dead_workers(tmp_path: Path) -> None:
    alive, dead = _recorder(tenant=True), _recorder()
    _call(alive, 0.05, tenant="acme")
    _call(alive, 3.0, tenant="acme")
    _call(dead, 0.05)
    for recorder in (alive, dead):  # $0.1 + $0.2 + $0.1 + $0.2 = $0.6, which float addition misses
        _cost(recorder, "0.1")
        _cost(recorder, "0.2")
    alive.add_gauge(semconv.CACHED_TOKENS, ("gcp.gemini", "gemini-2.5-flash"), 4000)
    dead.add_gauge(semconv.CACHED_TOKENS, ("gcp.gemini", "gemini-2.5-flash"), 9000)
    alive.set_gauge(semconv.PRICE_TABLE_CHECKED, (), 100.0)
    dead.set_gauge(semconv.PRICE_TABLE_CHECKED, (), 50.0)
    _save(tmp_path, alive, os.getpid())
    _save(tmp_path, dead, _dead_pid(), written=time.time() - 3600)
    page = _page(tmp_path)

    # counters: both files, exact; the process without attribution keys merges with tenant=""
    assert exact_sum(page, "gemini_cost_usd_total") == Decimal("0.6")
    assert exact_sum(page, "gemini_requests_total", tenant="acme", gemini_project="checkout") == 2
    assert exact_sum(page, "gemini_requests_total", tenant="") == 1
    # histograms: bucket counts, counts and sums add up (3 calls: 0.05, 3.0, 0.05)
    assert exact_sum(page, "gen_ai_client_operation_duration_seconds_count") == 3
    assert exact_sum(page, "gen_ai_client_operation_duration_seconds_bucket", le="0.08") == 2
    assert exact_sum(page, "gen_ai_client_operation_duration_seconds_sum") == Decimal("3.1")
    # gauges: a dead process's holdings are gone; shared facts once
    assert exact_sum(page, "gemini_cache_tokens") == 4000
    assert exact_sum(page, "otel_gemini_price_table_checked_timestamp_seconds") == 100


def test_merged_view_of_one_process_is_its_own_exposition(tmp_path: Path) -> None:
    """One snapshot merges into exactly what GeminiCollector exposes for that recorder: one family builder."""
    recorder = _recorder(tenant=True)
    _call(recorder, 0.2, tenant="acme")
    _cost(recorder, "0.00155")
    recorder.set_gauge(semconv.QUOTA_LIMIT, ("gemini-2.5-flash", "requests", "minute"), 1000)
    registry = CollectorRegistry()
    prometheus.register(recorder, registry)
    own = generate_latest(registry).decode()
    _save(tmp_path, recorder, os.getpid())
    assert _page(tmp_path) == own


def test_writer_is_atomic_and_survives_a_bad_directory(tmp_path: Path) -> None:
    recorder = _recorder()
    _cost(recorder, "0.5")
    path = multiprocess.write(recorder, str(tmp_path))
    assert Path(path).name == f"otel_gemini_{os.getpid()}.json"
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "otel_gemini_1.json").write_text('{"format": 1, "pid": 1, "coun')  # torn: skipped, never fatal
    assert exact_sum(_page(tmp_path), "gemini_cost_usd_total") == Decimal("0.5")
    blocked = tmp_path / "file"
    blocked.write_text("")
    reported: list[str] = []
    saved = _guard._counter
    _guard.set_error_counter(reported.append)
    try:
        assert multiprocess.setup(recorder, directory=str(blocked / "sub")) is None  # reported, not raised
    finally:
        _guard.set_error_counter(saved)
    assert reported == ["multiproc_setup"]


def test_metrics_server_cli_serves_the_merge(tmp_path: Path) -> None:
    recorder = _recorder()
    _cost(recorder, "0.25")
    _save(tmp_path, recorder, os.getpid())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_gemini.cli", "metrics-server", "--dir", str(tmp_path), "--port", str(port),
         "--host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, proc)
        assert exact_sum(scrape(port), "gemini_cost_usd_total", gemini_project="checkout") == Decimal("0.25")
    finally:
        proc.kill()
        proc.wait()


FORK_SCRIPT = r"""
import json, os, sys
from decimal import Decimal
from otel_gemini import _guard, semconv
from otel_gemini.exporters import multiprocess, prometheus
from otel_gemini.recording import Recorder

key = ("generate_content", "gcp.gemini", "gemini-2.5-flash", "", "input", "text", "standard")
recorder = Recorder()
recorder.set_gauge(semconv.PRICE_TABLE_CHECKED, (), 7.0)
recorder.add_gauge(semconv.CACHED_TOKENS, ("gcp.gemini", "gemini-2.5-flash"), 100)
registry = multiprocess.setup(recorder, directory=sys.argv[1], interval=60)
port = prometheus.serve(0, "127.0.0.1", registry=registry)
recorder.count(semconv.COST, key, Decimal("0.1"))  # the master's own, before fork
pid = os.fork()
if pid == 0:
    assert not prometheus._servers, "the child must not keep the parent's server"
    recorder.count(semconv.COST, key, Decimal("0.2"))
    sys.exit(0)  # atexit writes the child's file
os.waitpid(pid, 0)
multiprocess._writer.flush()
print(json.dumps({"child": pid, "port": port}))
"""


def test_a_forked_child_starts_empty_and_writes_its_own_file(tmp_path: Path) -> None:
    """Parent counts $0.1 before fork, the child $0.2 after: the merge is $0.3 (not $0.4: nothing counted twice)."""
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=30, cwd=Path(__file__).parent.parent.parent)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)["child"]
    child_file = json.loads((tmp_path / f"otel_gemini_{child}.json").read_text())
    assert child_file["counters"]["gemini_cost_usd_total"]["series"][0][1] == "0.2"
    assert "gemini_cache_tokens" not in child_file["gauges"]  # the parent's holdings stay the parent's
    assert child_file["gauges"]["otel_gemini_price_table_checked_timestamp_seconds"]["series"] == [[[], 7.0]]
    merged = multiprocess.merge(multiprocess.read_snapshots(str(tmp_path)), live=set())
    assert sum(merged[semconv.COST].series.values()) == Decimal("0.3")
