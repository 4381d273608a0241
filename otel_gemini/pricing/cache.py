"""The price-table cache directory: tables installed by ``otel-gemini prices update``, and the table in force.

The bundled table is the floor: a cached file is used only when its ``checked_on`` is later, so upgrading the
package never runs an older download. Ties are never broken by file times (two replicas that see the same files
must choose the same table): an equal ``checked_on`` keeps the bundled table, and ``install`` refuses a second,
different table with the date already in force. A file in the directory that is not a valid table is skipped and
reported once; it never stops loading. Reading this directory is local: nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from otel_gemini import _guard
from otel_gemini.pricing import table as price_table
from otel_gemini.pricing.schema import PriceTableError

KEEP = 5
"""Cached tables kept after an install (the newest by ``checked_on``); older ones are deleted."""
_NAME = re.compile(r"^prices-\d{4}-\d{2}-\d{2}-[0-9a-f]{12}\.json$")
_reported: set[tuple[str, float, int]] = set()
_reported_lock = threading.Lock()


def default_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/otel-gemini/prices``, else ``~/.cache/otel-gemini/prices`` (docs/configuration.md)."""
    base = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "otel-gemini" / "prices"


def digest(raw: Mapping[str, Any]) -> str:
    """SHA-256 of the table's canonical JSON: the same prices give the same digest whatever the file's layout."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Loaded:
    """A table ready to price with, and what the ``otel_gemini_price_table_info`` series says about it."""

    table: price_table.PriceTable
    origin: str
    """``bundled`` or ``cache``, plus ``+override`` when an OTEL_GEMINI_PRICES file is merged over it."""
    digest: str
    path: Path | None = None
    """The cached file the base came from (None: the bundled table)."""

    @property
    def checked_on(self) -> date:
        return self.table.checked_on

    def describe(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.origin}{where}, checked_on {self.checked_on}, digest {self.digest[:12]}"


def parse(body: bytes | str) -> price_table.PriceTable:
    """A complete table from a file's bytes; :class:`PriceTableError` names what is wrong and where."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as problem:
        raise PriceTableError(f"not JSON ({problem})") from None
    if not isinstance(raw, dict):
        raise PriceTableError("expected a JSON object")
    try:
        return price_table.PriceTable(raw)
    except PriceTableError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as problem:  # schema-valid but unusable
        raise PriceTableError(f"{type(problem).__name__}: {problem}") from None


def bundled() -> Loaded:
    table = price_table.PriceTable(price_table._bundled())
    return Loaded(table, "bundled", digest(table.raw))


def _report_bad(path: Path, stat: os.stat_result, problem: Exception) -> None:
    key = (str(path), stat.st_mtime, stat.st_size)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    _guard.logger.warning("otel-gemini: skipping %s in the price cache: not a valid price table (%s)", path, problem)
    _guard.report("price_cache", problem)


def cached(directory: str | Path) -> list[Loaded]:
    """Every valid table in the directory, newest ``checked_on`` first (ties: by file name, so deterministic)."""
    found: list[Loaded] = []
    try:
        entries = sorted(Path(directory).iterdir())
    except OSError:  # no directory yet (nothing installed), or unreadable: the bundled table prices
        return []
    for path in entries:
        if not _NAME.match(path.name):
            continue
        try:
            stat = path.stat()
            table = parse(path.read_bytes())
        except (OSError, PriceTableError) as problem:
            if isinstance(problem, PriceTableError):
                _report_bad(path, stat, problem)
            continue
        found.append(Loaded(table, "cache", digest(table.raw), path))
    found.sort(key=lambda loaded: loaded.checked_on, reverse=True)  # stable: name order within a day
    return found


def newest(directory: str | Path | None) -> Loaded:
    """The base table in force: the newest valid cached table, or the bundled one when none is later."""
    floor = bundled()
    if directory is None:
        return floor
    found = cached(directory)
    return found[0] if found and found[0].checked_on > floor.checked_on else floor


def resolve(directory: str | Path | None, override_path: str | Path | None) -> Loaded:
    """The table to price with: :func:`newest` with the user's override file merged over it.

    Raises (OSError, ValueError) when the override file cannot be used; callers decide what that means (the
    library falls back and reports, the agent refuses to start, a reload keeps the table it has).
    """
    base = newest(directory)
    if not override_path:
        return base
    with open(override_path, encoding="utf-8") as handle:
        raw = price_table.merge(base.table.raw, json.load(handle))
    table = price_table.PriceTable(raw)
    return Loaded(table, f"{base.origin}+override", digest(raw), base.path)


def file_name(table: price_table.PriceTable, table_digest: str) -> str:
    return f"prices-{table.checked_on.isoformat()}-{table_digest[:12]}.json"


def write_atomically(directory: Path, name: str, body: bytes) -> Path:
    """Temp file in the same directory, fsync, rename: a reader sees the old set of files or the new, never half."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".prices-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        target = directory / name
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a crash only once the directory entry is on disk
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return target


def prune(directory: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the ``keep`` newest cached tables (invalid ones are left for a person to look at)."""
    removed = []
    for old in cached(directory)[keep:]:
        if old.path is not None:
            old.path.unlink(missing_ok=True)
            removed.append(old.path)
    return removed
