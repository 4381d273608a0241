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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeGemini", "Recorded", "Reply", "error", "quota_exceeded", "response", "stream", "usage",
           "vertex_client_kwargs"]

Handler = Callable[["Recorded"], "tuple[int, dict[str, Any]]"]
_MODEL_ACTION = re.compile(r"models/([^/:]+):(\w+)")
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


def usage(prompt: int = 10, candidates: int = 5, thoughts: int = 0, cached: int = 0, tool_use: int = 0,
          prompt_details: dict[str, int] | None = None, cache_details: dict[str, int] | None = None,
          candidates_details: dict[str, int] | None = None, tool_use_details: dict[str, int] | None = None,
          total: int | None = None, service_tier: str | None = None) -> dict[str, Any]:
    """Build `usageMetadata` the way Gemini serialises it (proto3 JSON: zero counts are simply absent).

    `prompt_details`, `cache_details` and `tool_use_details` default to all-TEXT when their count is non-zero,
    because the real API sends those breakdowns; pass `{}` to leave one out.
    """
    out: dict[str, Any] = {"promptTokenCount": prompt}
    for key, value in (("candidatesTokenCount", candidates), ("cachedContentTokenCount", cached),
                       ("toolUsePromptTokenCount", tool_use), ("thoughtsTokenCount", thoughts)):
        if value:
            out[key] = value
    out["totalTokenCount"] = prompt + candidates + thoughts + tool_use if total is None else total
    for key, given, count in (("promptTokensDetails", prompt_details, prompt),
                              ("cacheTokensDetails", cache_details, cached),
                              ("candidatesTokensDetails", candidates_details, 0),
                              ("toolUsePromptTokensDetails", tool_use_details, tool_use)):
        details = given if given is not None else ({"TEXT": count} if count else {})
        if details:
            out[key] = [{"modality": modality, "tokenCount": n} for modality, n in details.items()]
    if service_tier is not None:
        out["serviceTier"] = service_tier
    return out


def response(text: str | None = None, *, model_version: str = "gemini-2.5-flash",
             usage_metadata: dict[str, Any] | None = None, finish_reason: str = "STOP",
             response_id: str = "fake-resp-1", web_search_queries: list[str] | None = None,
             function_call: dict[str, Any] | None = None, continuation: bool = False) -> dict[str, Any]:
    """Build a full GenerateContentResponse body.

    `text` defaults to "ok" unless a `function_call` is given: a tool-call turn normally carries no text, and
    a stray text part would make `response.text` warn in the SDK. `usage_metadata=None` gives a small
    realistic usage; `{}` omits the field (the shape of some error/blocked responses).
    `continuation=True` ends the hop with finishReason CONTINUATION and a token, which makes the SDK (both
    2.34 and 3.4 do it) send a follow-up request: one SDK call, several billed requests.
    """
    if text is None and function_call is None:
        text = "ok"
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += [{"functionCall": function_call}] if function_call is not None else []
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0,
                                 "finishReason": "CONTINUATION" if continuation else finish_reason}
    if continuation:
        candidate["continuationToken"] = "ZmFrZS1jb250aW51YXRpb24="  # base64 of b"fake-continuation"
    if web_search_queries is not None:
        candidate["groundingMetadata"] = {"webSearchQueries": list(web_search_queries)}
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage_metadata is None:
        usage_metadata = usage(prompt=8, candidates=max(1, len(text or "") // 4))
    if usage_metadata:
        body["usageMetadata"] = usage_metadata
    return {**body, "modelVersion": model_version, "responseId": response_id}


def stream(texts: list[str], *, model_version: str = "gemini-2.5-flash", final_usage: dict[str, Any] | None = None,
           response_id: str = "fake-resp-1") -> list[dict[str, Any]]:
    """Build SSE chunks whose usage is a running total, as Gemini sends it.

    Input-side counts (prompt, cached, tool use, thoughts) are known from the first chunk; the candidate count
    grows; the last chunk carries `final_usage` verbatim. A consumer that sums chunks instead of keeping the
    last one will therefore over-count -- exactly the bug these chunks are meant to expose.
    """
    final = final_usage if final_usage is not None else usage(prompt=8, candidates=max(1, len("".join(texts)) // 4))
    n = len(texts)
    chunks: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if i == n - 1:
            candidate["finishReason"] = "STOP"
            running = dict(final)
        else:
            running = {k: v for k, v in final.items() if k != "candidatesTokensDetails"}
            final_c = int(final.get("candidatesTokenCount", 0))
            running["candidatesTokenCount"] = partial = final_c * (i + 1) // n
            if not partial:
                del running["candidatesTokenCount"]
            running["totalTokenCount"] = int(final.get("totalTokenCount", 0)) - (final_c - partial)
        chunks.append({"candidates": [candidate], "usageMetadata": running, "modelVersion": model_version,
                       "responseId": response_id})
    return chunks


def error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build a google.rpc error body, the shape the SDK parses into `APIError.code/.status/.details`."""
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def quota_exceeded(quota_id: str = "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                   metric: str = "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                   model: str = "gemini-3.5-flash", value: str | None = "20", retry_delay: str | None = "38s",
                   location: str = "global") -> dict[str, Any]:
    """Build the 429 RESOURCE_EXHAUSTED body captured from the free tier (gemini-billing.md section 4.3).

    `value=None` drops `quotaValue` and `retry_delay=None` drops RetryInfo, since real bodies omit both at times.
    """
    limit = f", limit: {value}" if value is not None else ""
    message = ("You exceeded your current quota, please check your plan and billing details. For more information "
               "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current "
               f"usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}{limit}, "
               f"model: {model}")
    violation: dict[str, Any] = {"quotaMetric": metric, "quotaId": quota_id,
                                 "quotaDimensions": {"location": location, "model": model}}
    violation.update({"quotaValue": value} if value is not None else {})
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
    ]
    if retry_delay is not None:
        message += f"\nPlease retry in {retry_delay}."
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return error(429, "RESOURCE_EXHAUSTED", message, details)


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
        elif action == "streamGenerateContent" or (reply is not None and reply.chunks is not None):
            self._sse(body, model or "unknown", reply or Reply())
        elif reply is not None and reply.body is not None:
            self._json(200, reply.body, reply.headers)
        else:
            handler = self.fake._default_handler(rec)
            if handler is not None:
                status, payload = handler(rec)
                self._json(status, payload, reply.headers if reply else {})
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
        (httpx/httpx2 raise RemoteProtocolError) instead of a silently short but "complete" response."""
        chunks = reply.chunks if reply.chunks is not None else [reply.body] if reply.body is not None else stream(
            ["o", "k"], model_version=model, final_usage=usage(prompt=_prompt_tokens(body), candidates=1))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if reply.cut_after_chunks is not None and i >= reply.cut_after_chunks:
                break
            if i and reply.chunk_delay_s:
                time.sleep(reply.chunk_delay_s)
            event = f"data: {json.dumps(chunk)}\r\n\r\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        else:
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
