"""``otel-gemini prices update``: a newer price table without a new release.

A table is fetched (only when the user runs the command: nothing here runs on its own) or read from a file,
checked with the schema, refused when it is older than the table in force, and written atomically into the cache
directory, where running processes pick it up (pricing/watch.py). Fetching has an overall deadline, not only a
socket timeout: a server that accepts and then trickles or never answers must not hang a cron job or a deploy.
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from otel_gemini.pricing import cache
from otel_gemini.pricing.schema import PriceTableError

DEFAULT_URL = "https://raw.githubusercontent.com/otel-gemini/otel-gemini/main/otel_gemini/pricing/prices.json"
"""The table as published by this project (docs/configuration.md, OTEL_GEMINI_PRICES_URL)."""
DEFAULT_TIMEOUT_S = 30.0
MAX_BYTES = 4 * 1024 * 1024
"""Far above any real table (the bundled one is well under 100 KiB); a larger body is refused unread."""


class Refused(Exception):
    """The table was not installed; the message is the one line the command prints after ``refused:``."""


@dataclass(frozen=True)
class Outcome:
    installed: bool
    message: str


def display_url(url: str) -> str:
    """The URL without user info or query: a token in either must never reach a terminal log or CI output."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _with_basic_auth(url: str) -> tuple[str, dict[str, str]]:
    """``https://user:pass@host/…`` (a private mirror) as a URL without user info and an Authorization header:
    urllib would otherwise take the user info for part of the host name."""
    headers = {"Accept": "application/json"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, headers
    secret = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(secret.encode("utf-8")).decode("ascii")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), headers


def fetch(url: str, timeout: float = DEFAULT_TIMEOUT_S, max_bytes: int = MAX_BYTES) -> bytes:
    """The body at ``url`` within ``timeout`` seconds in all (connect, headers and body), at most ``max_bytes``."""
    shown = display_url(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise Refused(f"could not fetch {shown}: only http and https URLs are fetched (use --file for a local file)")
    outcome: dict[str, object] = {}
    target, headers = _with_basic_auth(url)

    def get() -> None:
        try:
            request = urllib.request.Request(target, headers=headers)
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
                outcome["body"] = response.read(max_bytes + 1)
        except Exception as problem:  # reported by the caller's thread
            outcome["error"] = problem

    # The socket timeout bounds each blocking step; the join bounds their sum (a trickling server defeats the first).
    worker = threading.Thread(target=get, name="otel-gemini-prices-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise Refused(f"could not fetch {shown} (timeout after {timeout:g} s)")
    error = outcome.get("error")
    if isinstance(error, urllib.error.HTTPError):
        raise Refused(f"could not fetch {shown} (HTTP {error.code})")
    if isinstance(error, Exception):
        reason = getattr(error, "reason", None) or type(error).__name__
        raise Refused(f"could not fetch {shown} ({reason})")
    body = outcome["body"]
    assert isinstance(body, bytes)
    if len(body) > max_bytes:
        raise Refused(f"could not fetch {shown} (larger than {max_bytes} bytes)")
    return body


def read_file(path: str | Path, max_bytes: int = MAX_BYTES) -> bytes:
    try:
        with open(path, "rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as problem:
        raise Refused(f"could not read {path} ({problem.strerror or type(problem).__name__})") from None
    if len(body) > max_bytes:
        raise Refused(f"could not read {path} (larger than {max_bytes} bytes)")
    return body


def install(body: bytes, directory: str | Path, where: str) -> Outcome:
    """Validate and install one table; :class:`Refused` says why not.

    "The table in force" is the base a process would load now (the newest cached table, the bundled one as the
    floor), without the user's override file, which is merged over whichever base is chosen. A table with the
    same ``checked_on`` but other prices is refused: replicas order tables by that date alone, so a corrected
    table must carry a later one.
    """
    try:
        table = cache.parse(body)
    except PriceTableError as problem:
        raise Refused(f"not a valid price table: {problem}") from None
    new_digest = cache.digest(table.raw)
    in_force = cache.newest(directory)
    if new_digest == in_force.digest:
        return Outcome(False, f"already in force: {where} is the table in force ({in_force.describe()})")
    if table.checked_on < in_force.checked_on:
        raise Refused(f"older than the table in force ({where} checked_on {table.checked_on}; in force: "
                      f"{in_force.describe()})")
    if table.checked_on == in_force.checked_on:
        raise Refused(f"same checked_on {table.checked_on} as the table in force but different prices (digest "
                      f"{new_digest[:12]}; in force: {in_force.describe()}); a replacement carries a later checked_on")
    target = Path(directory)
    path = cache.write_atomically(target, cache.file_name(table, new_digest), body)
    cache.prune(target)
    return Outcome(True, f"installed {where} checked_on {table.checked_on} digest {new_digest[:12]} into {target} "
                         f"({path.name})")
