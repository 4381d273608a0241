"""A real headless browser for tests: Debian's chromium driven by chromedriver over W3C WebDriver (plain urllib).

Chromium runs with every host but 127.0.0.1 unresolvable, no background networking, component updates, sync or
first-run fetches, so a page that tried to load anything from outside would show it as a failed resource.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests._prometheus import free_port, wait
from tests.conftest import require_tool

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-first-run",
    "--disable-extensions", "--window-size=1280,1000", '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
]


class Browser:
    """One WebDriver session: go to a URL, run a script, take a screenshot."""

    def __init__(self, base: str, session: str) -> None:
        self.base, self.session = base, session

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/session/{self.session}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["value"]

    def go(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def resize(self, width: int, height: int) -> None:
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def until(self, what: str, script: str, timeout_s: float = 15.0) -> Any:
        return wait(what, lambda: self.run(script), time.monotonic() + timeout_s)


@contextmanager
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = require_tool("chromium")
    driver = require_tool("chromedriver")
    port = free_port()
    with open(tmp_path / "chromedriver.log", "wb") as log:
        process = subprocess.Popen([driver, f"--port={port}", "--allowed-ips=127.0.0.1"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait("chromedriver", lambda: urllib.request.urlopen(f"{base}/status", timeout=1).status == 200,
             time.monotonic() + 15)
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROMIUM_ARGS + [f"--user-data-dir={tmp_path / 'profile'}"]}}}}
        request = urllib.request.Request(f"{base}/session", data=json.dumps(capabilities).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            session = json.loads(reply.read())["value"]["sessionId"]
        try:
            yield Browser(base, session)
        finally:
            urllib.request.urlopen(urllib.request.Request(f"{base}/session/{session}", method="DELETE"), timeout=30)
    finally:
        process.kill()
        process.wait(timeout=10)


def distinct_pixels(png: bytes, limit: int = 10_000) -> int:
    """How many distinct RGB(A) values a PNG holds (stdlib only: zlib + the PNG filters), up to ``limit``."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind, chunk = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth, color = header[8], header[9]
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, seen = bytearray(stride), set()
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            seen.update(bytes(row[i:i + bpp]) for i in range(0, stride, bpp * 4))
            if len(seen) >= limit:
                return len(seen)
        previous = row
    return len(seen)
