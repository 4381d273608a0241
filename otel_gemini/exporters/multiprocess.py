"""Exact Prometheus totals across the workers of a pre-fork server (gunicorn, uwsgi), from per-process snapshots.

Why not prometheus_client's own multiprocess mode: it keeps each sample in an mmap'd file per process and merges
those files at scrape time, but only for its own Counter/Gauge/Histogram objects; custom collectors (ours reads
the recorder at scrape time) are not run in that mode, and its values are floats (exact Decimal dollars would be
rounded at every call). So each process writes a snapshot of its recorder -- counters as exact Decimal strings,
histograms, gauges, and the label names of each metric -- to ``<dir>/otel_gemini_<pid>.json`` (temp file +
``os.replace``, so a reader never sees half a file) every ``OTEL_GEMINI_MULTIPROC_INTERVAL`` seconds and at
exit, and :class:`MultiprocessCollector` merges every file in the directory at scrape time:

* counters and histograms are summed by key over *all* files, dead workers' included: a counter only grows,
  so what a dead worker counted stays in the total (as in prometheus_client's multiprocess mode);
* gauges are read from live processes only (``os.kill(pid, 0)``): summed for quantities each process holds
  (cached tokens, enqueued batch tokens, batch jobs), the maximum for facts every process shares (price table
  date, Pacific calendar, declared limits).

Fork: a child forked from an instrumented process (a worker from the gunicorn master) starts with an empty
recorder -- what the parent counted stays in the parent's own file, counted once -- and its own writer thread.
The directory is read from ``OTEL_GEMINI_MULTIPROC_DIR``, else prometheus_client's ``PROMETHEUS_MULTIPROC_DIR``;
like prometheus_client's, it must be emptied before the server starts (docs/deployment.md).
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from otel_gemini import _guard, semconv
from otel_gemini.exporters import prometheus
from otel_gemini.pricing import pacific
from otel_gemini.recording import Recorder

DIR_VARIABLES = ("OTEL_GEMINI_MULTIPROC_DIR", "PROMETHEUS_MULTIPROC_DIR")
INTERVAL_VARIABLE = "OTEL_GEMINI_MULTIPROC_INTERVAL"
DEFAULT_INTERVAL_S = 1.0
FORMAT = 1
_FILE = re.compile(r"otel_gemini_(\d+)\.json$")
SUMMED_GAUGES = frozenset({semconv.CACHED_TOKENS, semconv.BATCH_ENQUEUED, semconv.BATCH_JOBS})
"""Gauges each process holds a share of; every other gauge states a fact all processes share (max is taken)."""
_BY_NAME = {m.prometheus_name: m for m in semconv.COUNTERS + semconv.HISTOGRAMS + semconv.GAUGES}
_CALENDAR_KEYED = {semconv.REQUESTS_PACIFIC_DAY: 10, semconv.COST_PACIFIC_MONTH: 7}
"""Counters keyed by a Pacific day/month (last label): the merge keeps the windows a live recorder keeps."""


def directory_from_env() -> str | None:
    for variable in DIR_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return None


def interval_from_env() -> float:
    raw = os.environ.get(INTERVAL_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        _guard.warn_once("multiproc-interval", "otel-gemini: %s=%r is not a number; using %ss.", INTERVAL_VARIABLE,
                         raw, DEFAULT_INTERVAL_S)
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


# -- the writing side (every process) ---------------------------------------------------------------------------

def snapshot(recorder: Recorder) -> dict[str, Any]:
    """The recorder as JSON-ready data; Decimal dollars as strings so the merge stays exact."""
    recorder.before_read()  # settle expired caches, turn the Pacific day: nobody scrapes this process directly
    out: dict[str, Any] = {"format": FORMAT, "pid": os.getpid(), "project": recorder.project, "written": time.time(),
                           "interval": _writer.interval, "counters": {}, "histograms": {}, "gauges": {}}
    with recorder._lock:  # one consistent cut; JSON encoding happens after the lock is released
        for metric, series in recorder.counters.items():
            if series:
                out["counters"][metric.prometheus_name] = {
                    "labels": list(recorder.labels_of(metric)),
                    "series": [[list(k), str(v) if isinstance(v, Decimal) else v] for k, v in series.items()],
                }
        for metric, hists in recorder.histograms.items():
            if hists:
                out["histograms"][metric.prometheus_name] = {
                    "labels": list(recorder.labels_of(metric)),
                    "series": [[list(k), list(h.counts), h.sum] for k, h in hists.items()],
                }
        for metric, gauges in recorder.gauges.items():
            if gauges:
                out["gauges"][metric.prometheus_name] = {
                    "labels": list(recorder.labels_of(metric)), "series": [[list(k), v] for k, v in gauges.items()],
                }
    return out


def write(recorder: Recorder, directory: str) -> str:
    """Write this process's snapshot atomically; returns the file's path."""
    pid = os.getpid()
    path = os.path.join(directory, f"otel_gemini_{pid}.json")
    temp = os.path.join(directory, f".otel_gemini_{pid}.json.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(snapshot(recorder), handle, separators=(",", ":"))
    os.replace(temp, path)
    return path


class _Writer:
    """The process's snapshot writer: a daemon thread, restarted in a forked child, and a last write at exit."""

    def __init__(self) -> None:
        self.recorder: Recorder | None = None
        self.directory = ""
        self.interval = DEFAULT_INTERVAL_S
        self.pid = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        """One write at a time: the exit write can meet the thread's (both use the pid's temp file)."""
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.pid = os.getpid()
        self.stop = threading.Event()
        self.lock = threading.Lock()  # in a forked child, the parent's writer may have held it at fork
        # The first write waits one interval: a child that forks only to exec (subprocess) leaves no file behind.
        self.thread = threading.Thread(target=self._run, name="otel-gemini-multiproc", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        recorder = self.recorder
        if recorder is None or os.getpid() != self.pid:
            return
        try:
            with self.lock:
                write(recorder, self.directory)
        except Exception as failure:  # a full disk costs the merged view its freshness, never the app
            _guard.report("multiproc_snapshot", failure)

    def after_fork_in_child(self) -> None:
        if self.recorder is None:
            return
        _empty(self.recorder)
        self.start()


_writer = _Writer()


def _empty(recorder: Recorder) -> None:
    """A forked child's recorder starts from zero: its parent's counts are in the parent's file already.

    Gauges of shared facts (price table date, calendar, declared limits) are kept; per-process ones are the
    parent's holdings and go. The lock may have been held by another thread at fork, so it is replaced.
    """
    recorder._lock = threading.Lock()
    for metric in recorder.counters:
        recorder.counters[metric] = {}
    for metric in recorder.histograms:
        recorder.histograms[metric] = {}
    for metric in SUMMED_GAUGES:
        recorder.gauges[metric] = {}
    if recorder.pending_histograms is not None:
        recorder.pending_histograms = []


def setup(recorder: Recorder, directory: str | None = None, interval: float | None = None) -> CollectorRegistry | None:
    """Start snapshotting ``recorder`` when a multiprocess directory is configured (argument or environment).

    Returns the registry a /metrics server in this process should serve (the merged view of every process's
    snapshot, plus prometheus_client's own multiprocess metrics when the directory is ``PROMETHEUS_MULTIPROC_DIR``),
    or None when no directory is configured. Calling it again (a re-instrument) re-points the writer.
    """
    directory = directory or directory_from_env()
    if not directory:
        return None
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as failure:  # an unusable directory costs the merged view, never the app
        _guard.report("multiproc_setup", failure)
        return None
    first = _writer.recorder is None
    prometheus.multiprocess_active = True
    _writer.recorder, _writer.directory = recorder, directory
    _writer.interval = interval if interval is not None else interval_from_env()
    if first:
        _writer.start()
        atexit.register(_writer.flush)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_writer.after_fork_in_child)
    return merged_registry(directory)


def after_fork() -> None:
    """For servers that fork without Python's fork hooks (uwsgi without lazy-apps: ``@uwsgidecorators.postfork``)."""
    if _writer.recorder is not None and os.getpid() != _writer.pid:
        _writer.after_fork_in_child()


def merged_registry(directory: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiprocessCollector(directory, registry=registry)
    prom_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if prom_dir and os.path.isdir(directory) and os.path.abspath(directory) == os.path.abspath(prom_dir):
        from prometheus_client import multiprocess as prom_multiprocess

        prom_multiprocess.MultiProcessCollector(registry, path=directory)  # the app's own metrics, if any
    return registry


# -- the reading side (the process that serves /metrics) ---------------------------------------------------------

def _alive(snap: dict[str, Any], now: float) -> bool:
    """The writer still runs: its pid exists, or (a reader in another PID namespace, e.g. a sidecar container on
    a shared volume) its file was rewritten within three of its intervals."""
    pid = int(snap.get("pid", 0))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        pass
    interval = float(snap.get("interval") or DEFAULT_INTERVAL_S)
    return now - float(snap.get("written", 0)) <= 3 * interval + 1


def read_snapshots(directory: str) -> list[dict[str, Any]]:
    """Every readable snapshot in ``directory``; one being replaced right now is read whole or not at all."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "otel_gemini_*.json"))):
        if not _FILE.search(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == FORMAT:
            out.append(data)
    return out


class _Merged:
    """Series of one metric from several files: label names are the union in first-seen order (processes with
    different attribution keys still merge; a missing label is "")."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.series: dict[tuple[str, ...], Any] = {}

    def keys(
        self, labels: list[str], project: str, rows: list[list[Any]],
    ) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
        for label in labels:
            if label not in self.labels:
                self.labels.append(label)
                self.series = {k[:-1] + ("",) + k[-1:]: v for k, v in self.series.items()}
        position = {label: index for index, label in enumerate(labels)}
        for row in rows:
            key = row[0]
            yield tuple(key[position[label]] if label in position else "" for label in self.labels) + (project,), row


def merge(
    snapshots: list[dict[str, Any]], live: set[int] | None = None, now: float | None = None,
) -> dict[semconv.MetricDef, _Merged]:
    """Sum counters and histograms over all snapshots; gauges over live ones (sum or max, see SUMMED_GAUGES)."""
    now = time.time() if now is None else now
    live = {s["pid"] for s in snapshots if _alive(s, now)} if live is None else live
    day = pacific.pacific_date(now)
    windows = {d.isoformat()[:n] for d in (day, day - timedelta(days=1)) for n in (7, 10)}
    merged: dict[semconv.MetricDef, _Merged] = {}
    gauge_sources = [s for s in snapshots if s["pid"] in live]
    if not gauge_sources and snapshots:  # nobody alive (a stopped server): shared facts from the newest file
        gauge_sources = [max(snapshots, key=lambda s: s.get("written", 0))]
    for snap in snapshots:
        project = str(snap.get("project", "default"))
        for name, data in snap.get("counters", {}).items():
            metric = _BY_NAME.get(name)
            if metric is None:
                continue
            target = merged.setdefault(metric, _Merged())
            for key, (_k, value) in target.keys(data["labels"], project, data["series"]):
                if metric in _CALENDAR_KEYED and key[-2] not in windows:
                    continue
                amount = Decimal(value) if isinstance(value, str) else value
                target.series[key] = target.series.get(key, 0) + amount
        for name, data in snap.get("histograms", {}).items():
            metric = _BY_NAME.get(name)
            if metric is None:
                continue
            target = merged.setdefault(metric, _Merged())
            for key, (_k, counts, total) in target.keys(data["labels"], project, data["series"]):
                if len(counts) != len(metric.buckets) + 1:
                    continue  # bounds changed between versions: not mergeable
                old = target.series.get(key)
                target.series[key] = (counts, total) if old is None else (
                    [a + b for a, b in zip(old[0], counts, strict=False)], old[1] + total)
    for snap in gauge_sources:
        project = str(snap.get("project", "default"))
        for name, data in snap.get("gauges", {}).items():
            metric = _BY_NAME.get(name)
            if metric is None:
                continue
            target = merged.setdefault(metric, _Merged())
            for key, (_k, value) in target.keys(data["labels"], project, data["series"]):
                old = target.series.get(key)
                if old is None:
                    target.series[key] = value
                else:
                    target.series[key] = old + value if metric in SUMMED_GAUGES else max(old, value)
    return merged


class MultiprocessCollector(Collector):
    """The merge of every process's snapshot in ``directory``, as the same families as GeminiCollector."""

    def __init__(self, directory: str, registry: CollectorRegistry | None = None) -> None:
        self.directory = directory
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        merged = merge(read_snapshots(self.directory))
        for metric in semconv.COUNTERS + semconv.HISTOGRAMS + semconv.GAUGES:  # GeminiCollector's order
            data = merged.get(metric) or _Merged()
            series: Any = data.series.items()
            if metric.kind == "histogram":
                series = ((key, counts, total) for key, (counts, total) in series)
            yield prometheus.family(metric, data.labels or metric.labels, series)
