"""A newer price table reaches a running app and a running agent without a restart, while calls are in flight.

The new table is installed the way an operator does it (``otel-gemini prices update --file`` in a process of its
own) into the cache directory the running process watches. Every call is counted exactly once, and each call is
priced wholly by one table: the total is ``n_old x old + n_new x new`` for a whole-number split.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from otel_gemini import semconv
from otel_gemini.agent.server import Agent, AgentOptions
from otel_gemini.settings.config import load_settings
from tests._price_tables import MODEL, cli, table, write
from tests.agent.test_agent import SEMCONV, http_exporter, samples, send, total

RELOAD_S = 0.05


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def split(total_cost: Decimal, calls: int, old: Decimal, new: Decimal) -> int:
    """How many of ``calls`` were priced by the new table, given the total; fails unless it is a whole number."""
    assert new != old
    n_new = (total_cost - calls * old) / (new - old)
    assert n_new == n_new.to_integral_value() and 0 <= n_new <= calls, (total_cost, calls, old, new, n_new)
    return int(n_new)


def hammer(call: Callable[[], None], threads: int, until: threading.Event) -> tuple[list[threading.Thread], list[int]]:
    counts = [0] * threads

    def loop(index: int) -> None:
        while not until.is_set():
            call()
            counts[index] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    return workers, counts


def install(tmp_path: Path, cache: Path, raw: dict[str, Any]) -> None:
    done = cli("prices", "update", "--file", str(write(tmp_path / "newer.json", raw)), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr


# -- the app ---------------------------------------------------------------------------------------------------

def test_running_app_swaps_tables_with_calls_in_flight(instrument_with: Any, client: Any, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    t = instrument_with(prices_cache_dir=str(cache), prices_reload_seconds=RELOAD_S)
    recorder = t.instrumentor.telemetry.recorder

    def info() -> list[tuple[tuple[str, ...], float]]:
        return recorder.gauge_values(semconv.PRICE_TABLE_INFO)

    ((checked_on, _digest, origin), _one), = info()
    assert origin == "bundled"

    def call() -> None:
        client.models.generate_content(model=MODEL, contents="what does a price table cost?")

    def cost() -> Decimal:
        return t.exact("gemini_cost_usd_total")

    call()
    old = cost()
    assert old > 0
    newer = table(30, factor=Decimal(2))
    stop = threading.Event()
    workers, counts = hammer(call, 4, stop)
    time.sleep(0.3)
    install(tmp_path, cache, newer)
    wait_for(lambda: info()[0][0][2] == "cache")
    time.sleep(0.3)  # calls keep coming on the new table
    stop.set()
    for worker in workers:
        worker.join(30)
    calls = 1 + sum(counts)

    before_last = cost()
    call()
    new = cost() - before_last
    calls += 1
    assert new == 2 * old  # the repriced model's token rates doubled

    assert t.exact("gemini_requests_total") == calls  # no call lost, none counted twice
    n_new = split(cost(), calls, old, new)
    assert n_new >= 2, n_new  # at least the last call and some of the hammering ran on the new table
    ((checked_on, digest, origin), value), = info()  # the bundled table's series is gone
    assert (checked_on, origin, value) == (newer["checked_on"], "cache", 1.0)
    assert t.prom("otel_gemini_price_table_info", checked_on=checked_on, digest=digest, origin="cache") == 1
    assert t.prom("otel_gemini_price_table_info", origin="bundled") == 0
    checked = calendar.timegm(date.fromisoformat(newer["checked_on"]).timetuple())
    assert t.prom("otel_gemini_price_table_checked_timestamp_seconds") == checked


def test_override_file_adds_an_unknown_model_without_a_restart(
    instrument_with: Any, client: Any, tmp_path: Path, caplog: Any,
) -> None:
    override = tmp_path / "prices.json"
    override.write_text("{}", encoding="utf-8")
    t = instrument_with(prices_path=str(override), prices_cache_dir=str(tmp_path / "cache"),
                        prices_reload_seconds=RELOAD_S)
    with caplog.at_level("WARNING", logger="otel_gemini"):
        for _ in range(2):
            client.models.generate_content(model="gemini-9-flash", contents="hello")
    assert t.exact("gemini_requests_total", gemini_pricing_status="unpriced",
                   gen_ai_request_model="gemini-9-flash") == 2
    assert t.exact("gemini_cost_usd_total") == 0  # unpriced, never $0 of cost
    named = [r for r in caplog.records if "gemini-9-flash" in r.getMessage()]
    assert len(named) == 1 and "prices update" in named[0].getMessage()  # named once, with the way to fix it

    recorder = t.instrumentor.telemetry.recorder
    ((_checked, first_digest, origin), _), = recorder.gauge_values(semconv.PRICE_TABLE_INFO)
    assert origin == "bundled+override"
    bundled = table(0)
    model = {k: v for k, v in bundled["models"][MODEL].items() if k != "aliases"}
    temp = tmp_path / "prices.json.tmp"
    temp.write_text(json.dumps({"models": {"gemini-9-flash": model}}), encoding="utf-8")
    temp.replace(override)  # as an editor or a config-map update does: whole file at once
    wait_for(lambda: recorder.gauge_values(semconv.PRICE_TABLE_INFO)[0][0][1] != first_digest)

    client.models.generate_content(model="gemini-9-flash", contents="hello")
    client.models.generate_content(model=MODEL, contents="hello")
    assert t.exact("gemini_requests_total", gemini_pricing_status="priced", gen_ai_request_model="gemini-9-flash") == 1
    flash = t.exact("gemini_cost_usd_total", gen_ai_request_model=MODEL)
    assert flash > 0 and t.exact("gemini_cost_usd_total", gen_ai_request_model="gemini-9-flash") == flash


def test_a_broken_override_edit_keeps_the_table_in_force(instrument_with: Any, client: Any, tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text("{}", encoding="utf-8")
    t = instrument_with(prices_path=str(override), prices_cache_dir=str(tmp_path / "cache"),
                        prices_reload_seconds=RELOAD_S)
    recorder = t.instrumentor.telemetry.recorder
    before = recorder.gauge_values(semconv.PRICE_TABLE_INFO)
    override.write_text('{"models": {"gemini-9-flash": ', encoding="utf-8")
    wait_for(lambda: t.exact("otel_gemini_internal_errors_total", component="price_reload") >= 1)
    assert recorder.gauge_values(semconv.PRICE_TABLE_INFO) == before
    client.models.generate_content(model=MODEL, contents="hello")
    assert t.exact("gemini_requests_total", gemini_pricing_status="priced") == 1


def test_reload_seconds_zero_never_looks(instrument_with: Any, client: Any, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    t = instrument_with(prices_cache_dir=str(cache), prices_reload_seconds=0)
    install(tmp_path, cache, table(30, factor=Decimal(2)))
    time.sleep(0.3)
    ((_checked, _digest, origin), _), = t.instrumentor.telemetry.recorder.gauge_values(semconv.PRICE_TABLE_INFO)
    assert origin == "bundled"


# -- the agent -------------------------------------------------------------------------------------------------

def test_running_agent_swaps_tables_with_exports_in_flight(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    settings = load_settings({"prices_cache_dir": str(cache), "prices_reload_seconds": RELOAD_S})
    with Agent(AgentOptions(otlp_grpc_port=0, otlp_http_port=0, metrics_port=0, settings=settings)) as agent:
        def origin() -> str:
            return samples(agent, "otel_gemini_price_table_info")[0][0]["origin"]

        assert origin() == "bundled"
        send(http_exporter(agent), SEMCONV)
        old = total(agent, "gemini_cost_usd_total")
        assert old == Decimal("0.00155")  # 1,000 x $0.30/1M + 500 x $2.50/1M
        newer = table(30, factor=Decimal(2))
        stop = threading.Event()
        workers, counts = hammer(lambda: send(http_exporter(agent), SEMCONV), 3, stop)
        time.sleep(0.3)
        install(tmp_path, cache, newer)
        wait_for(lambda: origin() == "cache")
        time.sleep(0.3)
        stop.set()
        for worker in workers:
            worker.join(30)
        send(http_exporter(agent), SEMCONV)
        calls = 2 + sum(counts)

        assert total(agent, "gemini_requests_total") == calls
        assert total(agent, "otel_gemini_agent_spans_total", outcome="priced") == calls
        n_new = split(total(agent, "gemini_cost_usd_total"), calls, old, 2 * old)
        assert n_new >= 1
        (labels, value), = samples(agent, "otel_gemini_price_table_info")
        assert (labels["checked_on"], labels["origin"], value) == (newer["checked_on"], "cache", 1)
    assert agent.watcher is not None and agent.watcher._thread is None  # stopped with the agent


def test_a_corrupt_file_landing_in_the_cache_is_skipped(instrument_with: Any, client: Any, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    t = instrument_with(prices_cache_dir=str(cache), prices_reload_seconds=RELOAD_S)
    recorder = t.instrumentor.telemetry.recorder
    before = recorder.gauge_values(semconv.PRICE_TABLE_INFO)
    cache.mkdir()
    (cache / "prices-2999-01-01-0123456789ab.json").write_text('{"checked_on": "2999-01-01"}', encoding="utf-8")
    wait_for(lambda: t.exact("otel_gemini_internal_errors_total", component="price_cache") >= 1)
    assert recorder.gauge_values(semconv.PRICE_TABLE_INFO) == before
    client.models.generate_content(model=MODEL, contents="hello")
    assert t.exact("gemini_requests_total", gemini_pricing_status="priced") == 1
