"""``otel-gemini prices update`` through the real CLI against an HTTP server the test owns (loopback only).

Each refusal must leave the cache directory as it was and the table in force unchanged; a server that accepts and
never answers (or trickles) must not hold the command past its --timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests._price_tables import bundled_checked_on, cli, table, write


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, bytes]
    release: threading.Event
    seen_auth: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if self.headers.get("Authorization"):
            self.server.seen_auth.append(self.headers["Authorization"])
        if path == "/hang":  # accepted, never answered
            self.server.release.wait(60)
            return
        if path == "/trickle":  # answers, then one byte now and then: each read is quick, the whole never ends
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not self.server.release.wait(0.2):
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        body = self.server.routes.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.release, httpd.seen_auth = {}, threading.Event(), []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()


def url(server: _Server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def serve(server: _Server, path: str, raw: Any) -> str:
    server.routes[path] = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return url(server, path)


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def in_force(directory: Path) -> str:
    """The first line of ``otel-gemini prices``: which table a process started now would price with."""
    listing = cli("prices", "--cache-dir", str(directory), "--model", "gemini-2.5-flash")
    assert listing.returncode == 0, listing.stderr
    return listing.stdout.splitlines()[0]


def test_newer_table_is_installed_then_in_force(server: _Server, tmp_path: Path) -> None:
    newer = table(30)
    done = cli("prices", "update", "--url", serve(server, "/prices.json", newer), "--cache-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed http://127.0.0.1:") and f"checked_on {newer['checked_on']}" in done.stdout
    (name,) = files(tmp_path)
    assert name.startswith(f"prices-{newer['checked_on']}-") and name in done.stdout
    assert json.loads((tmp_path / name).read_text()) == newer
    assert in_force(tmp_path).startswith(
        f"Price table in force: cache ({tmp_path / name}), checked_on {newer['checked_on']}"
    )
    again = cli("prices", "update", "--url", url(server, "/prices.json"), "--cache-dir", str(tmp_path))
    assert again.returncode == 0 and again.stdout.startswith("already in force"), again
    assert files(tmp_path) == [name]


def test_default_url_comes_from_the_setting(server: _Server, tmp_path: Path) -> None:
    newer = table(5)
    done = cli("prices", "update", env={"OTEL_GEMINI_PRICES_URL": serve(server, "/t.json", newer),
                                         "OTEL_GEMINI_PRICES_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert len(files(tmp_path)) == 1


@pytest.mark.parametrize("body, reason", [
    (b'{"schema_version": 1, "checked_on": "2030-01-01", "models": {', "refused: not a valid price table: not JSON"),
    (b"<html>502 Bad Gateway</html>", "refused: not a valid price table: not JSON"),
    ("schema", "refused: not a valid price table: "
               "$.models.gemini-2.5-flash.periods[0].standard.input: prices are strings"),
    ("older", "refused: older than the table in force"),
    ("same-day", "refused: same checked_on"),
])
def test_refusals_leave_the_table_in_force(server: _Server, tmp_path: Path, body: Any, reason: str) -> None:
    installed = cli("prices", "update", "--url", serve(server, "/good", table(30)), "--cache-dir", str(tmp_path))
    assert installed.returncode == 0, installed.stderr
    before, shown = files(tmp_path), in_force(tmp_path)
    if body == "schema":
        body = table(60)
        body["models"]["gemini-2.5-flash"]["periods"][0]["standard"]["input"] = 0.3  # a float, not an exact string
    elif body == "older":
        body = table(10)  # newer than the bundled table, older than the one installed
    elif body == "same-day":
        body = table(30, factor=2)
    refused = cli("prices", "update", "--url", serve(server, "/bad", body), "--cache-dir", str(tmp_path))
    assert refused.returncode == 1
    assert refused.stderr.startswith(reason), refused.stderr
    assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
    assert files(tmp_path) == before and in_force(tmp_path) == shown


def test_older_than_bundled_is_refused_with_an_empty_cache(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", table(-1))
    refused = cli("prices", "update", "--file", str(old), "--cache-dir", str(tmp_path / "cache"))
    assert refused.returncode == 1
    assert refused.stderr.startswith("refused: older than the table in force (") and "bundled" in refused.stderr
    assert files(tmp_path / "cache") == []


@pytest.mark.parametrize("path", ["/hang", "/trickle"])
def test_a_server_that_never_finishes_is_given_up_on_in_bounded_time(
    server: _Server, tmp_path: Path, path: str
) -> None:
    cli("prices", "update", "--url", serve(server, "/good", table(30)), "--cache-dir", str(tmp_path))
    before, shown = files(tmp_path), in_force(tmp_path)
    started = time.monotonic()
    refused = cli("prices", "update", "--url", url(server, path), "--cache-dir", str(tmp_path), "--timeout", "1.5")
    elapsed = time.monotonic() - started
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"refused: could not fetch {url(server, path)} (timeout after 1.5 s)"
    # a bound (interpreter start-up on a loaded machine is the slack), not a benchmark
    assert elapsed < 1.5 + 20, elapsed
    assert files(tmp_path) == before and in_force(tmp_path) == shown


def test_credentials_in_the_url_are_never_printed(server: _Server, tmp_path: Path) -> None:
    port = server.server_address[1]
    refused = cli("prices", "update", "--url", f"http://user:s3cret-pw@127.0.0.1:{port}/missing?key=s3cret-key",
                  "--cache-dir", str(tmp_path))
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"refused: could not fetch http://127.0.0.1:{port}/missing (HTTP 404)"
    assert "s3cret" not in refused.stdout + refused.stderr
    assert server.seen_auth == ["Basic dXNlcjpzM2NyZXQtcHc="]  # user:s3cret-pw, sent as a header, not in the URL


def test_file_install_and_pruning(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for days in range(1, 8):
        done = cli("prices", "update", "--file", str(write(tmp_path / f"t{days}.json", table(days))),
                   "--cache-dir", str(cache))
        assert done.returncode == 0, done.stderr
    kept = files(cache)
    assert len(kept) == 5 and all(not name.startswith(".") for name in kept)  # no temp file left behind
    newest = (bundled_checked_on().toordinal() + 7)
    assert kept[-1].startswith(f"prices-{type(bundled_checked_on()).fromordinal(newest).isoformat()}-")


def test_a_corrupt_file_in_the_cache_is_skipped(tmp_path: Path) -> None:
    good = table(3)
    cli("prices", "update", "--file", str(write(tmp_path / "good.json", good)), "--cache-dir", str(tmp_path / "c"))
    (tmp_path / "c" / "prices-2999-01-01-0123456789ab.json").write_text('{"checked_on": "2999-01-01"')
    listing = cli("prices", "--cache-dir", str(tmp_path / "c"), "--model", "gemini-2.5-flash")
    assert listing.returncode == 0, listing.stderr
    assert f"checked_on {good['checked_on']}" in listing.stdout.splitlines()[0]
    assert "skipping" in listing.stderr and "prices-2999-01-01-0123456789ab.json" in listing.stderr


def test_an_unwritable_cache_is_a_refusal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused = cli("prices", "update", "--file", str(write(tmp_path / "t.json", table(3))), "--cache-dir", str(blocker))
    assert refused.returncode == 1 and refused.stderr.startswith("refused: could not write the cache directory")
