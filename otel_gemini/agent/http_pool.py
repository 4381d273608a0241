"""The agent's HTTP listeners (OTLP/HTTP and /metrics), bounded for a burst of senders.

``http.server`` as shipped listens with a backlog of 5 (a Collector fleet fanning in gets connection resets), runs
one thread per connection without limit and lets a connection that sends nothing hold its thread forever. Here:
a backlog of :data:`BACKLOG`; at most ``max_connections`` connections served at once; beyond that a few
answerer threads read the request and answer ``503`` with ``Retry-After: 1`` (an exporter retries it; a reset it
may not); every socket times out after ``idle_timeout_s`` without progress (an idle keep-alive, a half-sent
request); and while the pool is full a connection is closed after its answer so idle keep-alives give way.
Closing waits briefly for the peer's own close, so unread bytes do not turn the answer into a reset.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BACKLOG = 1024
"""Connections the kernel queues before the agent accepts them (Linux caps it at net.core.somaxconn)."""
DEFAULT_MAX_CONNECTIONS = 128
DEFAULT_IDLE_TIMEOUT_S = 10.0
BUSY_ANSWERERS = 16
"""Threads that answer 503 while every worker is busy; when they are busy too, accepting pauses (the backlog
holds the newcomers) rather than refusing."""
_LINGER_S = 0.5
_LINGER_BYTES = 8 * 1024 * 1024
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def reply(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    """One answer of any of the agent's listeners: status, headers, length, ``Connection: close`` when the
    connection ends after it, and the body (none for HEAD)."""
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class BoundedHandler(BaseHTTPRequestHandler):
    """What every agent listener's handler shares: the idle timeout, 405 for methods it does not serve,
    and ``Connection: close`` while the pool is full."""

    protocol_version = "HTTP/1.1"
    allowed_methods: tuple[str, ...] = ("GET",)
    server: BoundedHTTPServer

    def setup(self) -> None:
        # Read by StreamRequestHandler.setup (socket.settimeout). typeshed types it ClassVar, but a per-instance
        # value is what the base class reads, so assigning it here is intended.
        self.timeout = self.server.idle_timeout_s  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """One line per export or scrape would drown the agent's log."""

    def end_headers(self) -> None:
        if not self.close_connection and self.server.crowded():
            self.send_header("Connection", "close")  # sets close_connection: the worker goes back to the pool
        super().end_headers()

    def method_not_allowed(self) -> None:
        """405 with ``Allow`` (http.server's default is 501, which says the server cannot do methods at all)."""
        self.close_connection = True  # a body may follow unread
        allowed = ", ".join(self.allowed_methods)
        reply(self, 405, [("Allow", allowed), ("Content-Type", "text/plain; charset=utf-8")],
              f"allowed: {allowed}\n".encode())

    def __getattr__(self, name: str) -> Any:
        # do_<METHOD> for every standard method a subclass does not serve (unknown methods keep their 501).
        if name.startswith("do_") and name[3:] in _METHODS:
            return self.method_not_allowed
        raise AttributeError(name)


class _BusyHandler(BaseHTTPRequestHandler):
    """Reads the request line and headers, answers 503 with ``Retry-After: 1`` and closes."""

    protocol_version = "HTTP/1.1"
    server: BoundedHTTPServer

    def setup(self) -> None:
        self.timeout = min(self.server.idle_timeout_s, 2.0)  # type: ignore[misc]  # typeshed: ClassVar (see above)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Refusals are counted, not logged."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._busy
        raise AttributeError(name)

    def _busy(self) -> None:
        if self.server.on_busy is not None:
            self.server.on_busy(self.headers)
        self.close_connection = True
        reply(self, 503, [("Retry-After", "1"), ("Content-Type", "text/plain; charset=utf-8")],
              b"the agent is at its connection limit; retry\n")


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a large backlog, a bounded worker pool and 503 instead of resets when full."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS, idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        on_busy: Callable[[Any], None] | None = None, reuse_port: bool = False,
    ) -> None:
        if max_connections < 1 or idle_timeout_s <= 0:
            raise ValueError("max connections must be at least 1 and the idle timeout positive")
        self.request_queue_size = BACKLOG  # read by server_activate (listen) inside super().__init__
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.on_busy = on_busy
        self.reuse_port = reuse_port
        self._active = 0
        self._active_lock = threading.Lock()
        self._answerers = threading.BoundedSemaphore(BUSY_ANSWERERS)
        super().__init__(address, handler)

    def server_bind(self) -> None:
        if self.reuse_port:  # the workers of `agent --processes N` share the port; the kernel spreads connections
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def crowded(self) -> bool:
        """Every worker is taken: a connection that got its answer should not wait for another request."""
        return self._active >= self.max_connections

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            admitted = self._active < self.max_connections
            if admitted:
                self._active += 1
        if admitted:
            target: Callable[[Any, Any], None] = self._serve
        else:
            self._answerers.acquire()  # bounded wait: each answer has its own short timeout
            target = self._answer_busy
        threading.Thread(target=target, args=(request, client_address), daemon=True,
                         name="agent-http-busy" if not admitted else "agent-http").start()

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._active_lock:
                self._active -= 1

    def _answer_busy(self, request: Any, client_address: Any) -> None:
        try:
            _BusyHandler(request, client_address, self)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._answerers.release()

    def shutdown_request(self, request: Any) -> None:
        """Half-close, then read what the peer still sends until it closes (briefly): closing a socket with
        unread bytes makes the kernel send a reset, which can destroy the answer before the client reads it."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(_LINGER_S)
            drained = 0
            while drained < _LINGER_BYTES:
                chunk = request.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal for a network service; no traceback on stderr."""


__all__ = ["BACKLOG", "BoundedHandler", "BoundedHTTPServer", "DEFAULT_IDLE_TIMEOUT_S", "DEFAULT_MAX_CONNECTIONS"]
