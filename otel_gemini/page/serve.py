"""Routes of the page on a metrics listener: ``/`` (HTML), ``/page.js``, ``/page.css``, ``/api/summary`` (JSON).

Read-only (GET and HEAD), same origin only: a strict Content-Security-Policy (``default-src 'self'``, no inline
script or style, no frames) and ``nosniff`` on every answer. The files are package data; nothing is fetched from
anywhere else. :func:`respond` is the one router; :func:`wsgi` mounts it in front of prometheus_client's WSGI app
(the in-app server) and the agent's handler calls it directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any

from otel_gemini import _guard
from otel_gemini.page.history import History
from otel_gemini.page.summary import summary, totals
from otel_gemini.recording import Recorder

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_FILES = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8")}
SUMMARY_PATH = "/api/summary"
Answer = tuple[int, list[tuple[str, str]], bytes]


@cache
def _file(name: str) -> bytes:
    return resources.files("otel_gemini.page").joinpath(name).read_bytes()


class Page:
    """The page of one listener: where its recorder is (it can change on re-instrument) and its history."""

    def __init__(self, recorder: Callable[[], Recorder]) -> None:
        self.recorder = recorder
        self.history = History(lambda: totals(self.recorder()), lambda: self.recorder().clock())

    def start(self) -> Page:
        self.history.sample()
        self.history.start()
        return self

    def respond(self, path: str) -> Answer | None:
        """The answer for ``path`` (query string ignored), or None when the path is not the page's."""
        path = path.split("?", 1)[0]
        if path in _FILES:
            name, content_type = _FILES[path]
            return 200, _headers(content_type), _file(name)
        if path == SUMMARY_PATH:
            try:
                body = json.dumps(summary(self.recorder(), self.history), separators=(",", ":")).encode()
            except Exception as failure:  # the page failing must never take /metrics with it
                _guard.report("page", failure)
                return 500, _headers("text/plain; charset=utf-8"), b"summary unavailable\n"
            return 200, _headers("application/json") + [("Cache-Control", "no-store")], body
        return None


def _headers(content_type: str) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), ("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer")]


_REASONS = {200: "200 OK", 405: "405 Method Not Allowed", 500: "500 Internal Server Error"}


def wsgi(app: Callable[..., Iterable[bytes]], page: Page) -> Callable[..., Iterable[bytes]]:
    """``app`` (prometheus_client's /metrics) with the page's paths answered first."""

    def routed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = page.respond(environ.get("PATH_INFO", "/"))
        if answer is None:
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        status, headers, body = answer if method in ("GET", "HEAD") else (405, _headers("text/plain"), b"")
        start_response(_REASONS.get(status, str(status)), headers + [("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    return routed
