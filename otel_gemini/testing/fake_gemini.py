"""A fake Gemini REST endpoint for tests and the demo.

The instrumentation must be exercised through the *real* google-genai client (both the 2.x/httpx and the
3.x/httpx2 lines), because what we measure -- headers, SSE chunk boundaries, retries, automatic function
calling and continuation hops -- lives in the SDK's transport, not in our code. Mocking the SDK would test
our assumptions about it instead. So this module speaks the wire format over a real local socket.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from otel_gemini.testing.bodies import error, quota_exceeded, response, stream, usage

__all__ = ["FakeGemini", "Recorded", "Reply", "error", "quota_exceeded", "response", "stream", "usage",
           "vertex_client_kwargs"]

Handler = Callable[["Recorded"], "tuple[int, dict[str, Any]] | Reply"]
_MODEL_ACTION = re.compile(r"(?:[mM]odels|endpoints)/([^/:]+):(\w+)")  # models/, tunedModels/, Vertex endpoints/
_QUEUED_ACTIONS = frozenset({"generateContent", "streamGenerateContent"})
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass
class Reply:
    """One scripted answer; tests queue these to steer the next model call."""

    status: int = 200
    body: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    cut_after_chunks: int | None = None
    route: str | None = None
    """Regex searched in "METHOD /path" of a request; None answers the next generateContent/streamGenerateContent."""


@dataclass
class Recorded:
    """What the SDK actually put on the wire, so tests can assert on hops, headers and payloads."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    model: str | None
    action: str | None

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


def _prompt_tokens(body: Any) -> int:
    """Approximate tokens as chars/4 over every text field, so default usage scales with the prompt."""
    def chars(node: Any) -> int:
        if isinstance(node, dict):
            return sum(len(v) if k == "text" and isinstance(v, str) else chars(v) for k, v in node.items())
        if isinstance(node, list):
            return sum(chars(v) for v in node)
        return 0
    return max(1, chars(body) // 4)


def vertex_client_kwargs(fake: FakeGemini) -> dict[str, Any]:
    """Keyword arguments for `genai.Client(**...)` that reach the fake as a Vertex AI client, fully offline.

    A static OAuth token (`google.oauth2.credentials.Credentials(token=...)`) has no expiry, so the SDK never
    refreshes it and never looks for ADC; it just sends `Authorization: Bearer fake-token`. Anonymous
    credentials do not work: their token is None and the SDK raises "Could not resolve API token".
    Requests go to `/v1beta1/projects/p/locations/us-central1/publishers/google/models/{model}:{action}`.
    """
    from google.genai import types  # imported lazily: this module must not require the SDK
    from google.oauth2.credentials import Credentials

    return {"vertexai": True, "project": "p", "location": "us-central1",
            "credentials": Credentials(token="fake-token"),
            "http_options": types.HttpOptions(base_url=fake.base_url)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint; the SDK pools connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes: without this, ~40 ms per call
    timeout = 60  # an idle keep-alive socket must not pin a thread forever
    fake: FakeGemini

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """Per-request logging would drown test output."""

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.fake._track(self.connection, add=False)
        super().finish()

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PATCH = do_DELETE = do_PUT = do_POST

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:  # recorded as None; the SDK never sends invalid JSON
            body = None
        url = urlsplit(self.path)
        match = _MODEL_ACTION.search(url.path)
        model, action = (match.group(1), match.group(2)) if match else (None, None)
        rec = Recorded(self.command, url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                       {k.lower(): v for k, v in self.headers.items()}, body, model, action)
        reply = self.fake._pop_and_record(rec)
        try:
            if reply is not None and reply.delay_s:
                time.sleep(reply.delay_s)
            self._answer(rec, reply, body, model, action)
        except OSError:
            self.close_connection = True  # the client gave up (timeout/cancel); nothing left to tell it

    def _answer(self, rec: Recorded, reply: Reply | None, body: Any, model: str | None, action: str | None) -> None:
        if reply is not None and reply.status != 200:
            fallback = error(reply.status, _STATUS_NAMES.get(reply.status, "UNKNOWN"), "Fake Gemini error")
            self._json(reply.status, reply.body if reply.body is not None else fallback, reply.headers)
        elif reply is not None and (reply.chunks is not None or action == "streamGenerateContent"):
            self._sse(body, model or "unknown", reply)
        elif reply is not None and reply.body is not None:
            self._json(200, reply.body, reply.headers)
        else:
            handler = self.fake._default_handler(rec)  # routes answer streams too, as route() promises
            streaming = action == "streamGenerateContent"
            if handler is not None:
                answer = handler(rec)  # (status, body), or a Reply when the answer needs headers
                if not isinstance(answer, Reply):
                    answer = Reply(status=answer[0], body=answer[1])
                if answer.status == 200 and (answer.chunks is not None or streaming):
                    self._sse(body, model or "unknown", answer)  # a default route may stream too (Interactions)
                else:
                    self._json(answer.status, answer.body or {}, {**answer.headers, **(reply.headers if reply else {})})
            elif streaming:
                self._sse(body, model or "unknown", reply or Reply())
            elif action == "generateContent":
                default = response(model_version=model or "unknown",
                                   usage_metadata=usage(prompt=_prompt_tokens(body), candidates=1))
                self._json(200, default, reply.headers if reply else {})
            else:
                self._json(404, error(404, "NOT_FOUND", f"Fake Gemini has no route for {rec.line}"))

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, body: Any, model: str, reply: Reply) -> None:
        """Chunked encoding, not connection-close framing: only then is a dropped stream a protocol error
        (httpx/httpx2 raise RemoteProtocolError) instead of a silently short but "complete" response.

        The legacy SDK's REST transport asks for ``$alt=json``: its streams are one JSON array, an element per
        chunk, parsed incrementally; everything else gets server-sent events."""
        chunks = reply.chunks if reply.chunks is not None else [reply.body] if reply.body is not None else stream(
            ["o", "k"], model_version=model, final_usage=usage(prompt=_prompt_tokens(body), candidates=1))
        json_array = parse_qs(urlsplit(self.path).query).get("$alt", [""])[0].startswith("json")
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8" if json_array else "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if reply.cut_after_chunks is not None and i >= reply.cut_after_chunks:
                break
            if i and reply.chunk_delay_s:
                time.sleep(reply.chunk_delay_s)
            if json_array:
                event = ("[" if i == 0 else ",\r\n").encode() + json.dumps(chunk).encode()
            else:
                event = f"data: {json.dumps(chunk)}\r\n\r\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        else:
            if json_array:
                self.wfile.write(b"1\r\n]\r\n" if chunks else b"2\r\n[]\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not see ECONNREFUSED

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections dropped by clients are normal here; a traceback on stderr would be noise."""


class FakeGemini:
    """A scripted Gemini endpoint on a real socket; unscripted calls get a deterministic default answer."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._queue: list[Reply] = []
        self._requests: list[Recorded] = []
        self._conns: set[socket.socket] = set()
        self._routes: list[tuple[re.Pattern[str], Handler]] = [
            (re.compile(r":countTokens$"), lambda rec: (200, {"totalTokens": _prompt_tokens(rec.body)})),
        ]
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeGemini:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server((self._host, self._port), handler)
        # A short poll interval keeps stop() (and so every test teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), name="fake-gemini",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Also cut open keep-alive sockets, or their handler threads would outlive the fake."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGemini is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot copy, so a test can iterate while late requests still arrive."""
        with self._lock:
            return list(self._requests)

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    def route(self, pattern: str, handler: Handler) -> None:
        """Default answer for requests matching ``pattern`` (regex on "METHOD /path") when no Reply is queued.

        Later routes win, so a test can override a built-in default.
        """
        with self._lock:
            self._routes.insert(0, (re.compile(pattern), handler))

    def _default_handler(self, rec: Recorded) -> Handler | None:
        with self._lock:
            return next((handler for pattern, handler in self._routes if pattern.search(rec.line)), None)

    def _pop_and_record(self, rec: Recorded) -> Reply | None:
        with self._lock:
            self._requests.append(rec)
            for index, reply in enumerate(self._queue):
                if reply.route is None:
                    if rec.action in _QUEUED_ACTIONS:
                        return self._queue.pop(index)
                elif re.search(reply.route, rec.line):
                    return self._queue.pop(index)
            return None

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)
