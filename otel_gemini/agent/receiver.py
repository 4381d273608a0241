"""The agent's OTLP trace receivers: HTTP (``POST /v1/traces``, protobuf or JSON, gzip or not) and gRPC
(``TraceService/Export``), in front of one :class:`~otel_gemini.agent.pipeline.Pipeline`.

A receiver faces whatever the network sends, so every request passes one :class:`Gate` first (bearer token, size
limit, shutdown) and a body that does not decode is answered with a clear status (HTTP 400 / gRPC
INVALID_ARGUMENT), counted in ``otel_gemini_agent_requests_rejected_total{transport,reason}``, and never reaches
the pricing. A request is answered only after its spans are recorded, so an accepted request is never lost: the
shutdown stops accepting (503 / UNAVAILABLE), then waits for the requests in flight.

gRPC gets the raw bytes (no deserializer) so the size check, the decode failure and the count are ours rather
than grpcio's silent RESOURCE_EXHAUSTED; grpcio's own limit is set above ours as a backstop.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import zlib
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_gemini.agent import http_pool
from otel_gemini.agent.pipeline import REJECTED, Pipeline

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_HEX_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


class Rejected(Exception):
    """A request refused before (or instead of) pricing: its HTTP status, gRPC code and counted reason."""

    def __init__(self, http_status: int, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(message)
        self.http_status, self.code, self.reason = http_status, code, reason


class Gate:
    """What every request must pass, and the count of requests in flight that shutdown waits for."""

    def __init__(self, bearer_token: str | None = None, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self._expected = bearer_token.encode() if bearer_token else None
        self.max_request_bytes = max_request_bytes
        self.draining = False
        self._in_flight = 0
        self._idle = threading.Condition()

    def enter(self, authorization: str | None) -> None:
        """Admit one request (raise :class:`Rejected` otherwise); pair with :meth:`leave`."""
        with self._idle:
            if self.draining:
                raise Rejected(503, grpc.StatusCode.UNAVAILABLE, "shutting_down", "the agent is shutting down")
            self._in_flight += 1
        if self._expected is not None and not hmac.compare_digest(_bearer(authorization), self._expected):
            self.leave()
            raise Rejected(401, grpc.StatusCode.UNAUTHENTICATED, "unauthorized", "missing or wrong bearer token")

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def check_size(self, size: int) -> None:
        if size > self.max_request_bytes:
            raise Rejected(413, grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large",
                           f"request of {size} bytes over the limit of {self.max_request_bytes}")

    def drain(self, timeout: float) -> bool:
        """Stop admitting, then wait until the admitted requests are answered; False if ``timeout`` ran out."""
        with self._idle:
            self.draining = True
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


def _bearer(authorization: str | None) -> bytes:
    """The credentials of ``Bearer <token>``; the scheme is case-insensitive (RFC 7235 §2.1), the token is not."""
    scheme, _sep, token = (authorization or "").strip().partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""


def _undecodable(failure: Exception) -> Rejected:
    # The exception's type only: its message may quote the payload.
    return Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "undecodable",
                    f"undecodable OTLP trace request ({type(failure).__name__})")


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON parser wants base64 for bytes fields."""
    if isinstance(node, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode()
                if key in _HEX_ID_KEYS and isinstance(value, str) else _hex_ids_to_base64(value)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress every gzip member (RFC 1952 allows several, concatenated) and at most ``limit`` + 1 bytes in
    all: a gzip bomb is refused as too large, not inflated in memory."""
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(raw, limit + 1 - len(out))
        if len(out) > limit:
            raise Rejected(413, grpc.StatusCode.RESOURCE_EXHAUSTED, "too_large",
                           f"decompressed request over the limit of {limit} bytes")
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        raw = inflater.unused_data
        if not raw:
            return bytes(out)


def _parse(document: Any, message: Any) -> Any:
    return json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)


def _field(node: Any, json_name: str, proto_name: str) -> list[Any]:
    items = node.get(json_name, node.get(proto_name)) if isinstance(node, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"{json_name} is not a list")
    return items


def _span_by_span(document: dict[str, Any]) -> tuple[Any, int]:
    """The valid spans of a JSON request that does not parse whole (one out-of-range value in one span), and
    how many were left out: OTLP's partial success keeps the rest rather than refusing the batch."""
    request, rejected = trace_service_pb2.ExportTraceServiceRequest(), 0
    for resource_node in _field(document, "resourceSpans", "resource_spans"):
        scopes = _field(resource_node, "scopeSpans", "scope_spans")
        spans_in = [_field(scope, "spans", "spans") for scope in scopes]
        try:
            shell = {key: value for key, value in resource_node.items() if key not in ("scopeSpans", "scope_spans")}
            resource = _parse(shell, request.resource_spans.add())
        except Exception:
            del request.resource_spans[-1]
            rejected += sum(map(len, spans_in))
            continue
        for scope_node, spans in zip(scopes, spans_in, strict=True):
            try:
                scope = _parse({key: value for key, value in scope_node.items() if key != "spans"},
                               resource.scope_spans.add())
            except Exception:
                del resource.scope_spans[-1]
                rejected += len(spans)
                continue
            for span_node in spans:
                try:
                    scope.spans.append(_parse(span_node, trace_pb2.Span()))
                except Exception:
                    rejected += 1
    return request, rejected


def decode(raw: bytes, *, is_json: bool) -> Any:
    """An ExportTraceServiceRequest from an OTLP body (raises :class:`Rejected` 400 when it is not one)."""
    return decode_export(raw, is_json=is_json)[0]


def decode_export(raw: bytes, *, is_json: bool) -> tuple[Any, int]:
    """The request and how many of its spans could not be decoded (JSON only: a protobuf body is whole or not)."""
    try:
        if not is_json:
            return trace_service_pb2.ExportTraceServiceRequest.FromString(raw), 0
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except Exception as failure:
        raise _undecodable(failure) from None
    try:
        return _parse(document, trace_service_pb2.ExportTraceServiceRequest()), 0
    except Exception as failure:
        whole_failure = failure
    try:
        request, rejected = _span_by_span(document)
    except Exception:
        raise _undecodable(whole_failure) from None
    if not rejected:  # the failure was not in a span (nothing to keep apart): the request as a whole is bad
        raise _undecodable(whole_failure) from None
    return request, rejected


# -- HTTP -------------------------------------------------------------------------------------------------------

class _HTTPHandler(http_pool.BoundedHandler):
    protocol_version = "HTTP/1.1"  # exporters keep their connection alive between exports
    allowed_methods = ("POST",)
    pipeline: Pipeline
    gate: Gate

    def method_not_allowed(self) -> None:
        self.pipeline.stats.reject(_transport(self.headers), "method_not_allowed")
        super().method_not_allowed()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        transport = _transport(self.headers)
        is_json = transport == "http/json"
        if self.path.split("?", 1)[0] != "/v1/traces":
            self.close_connection = True
            self._reply(404, is_json, "only /v1/traces is served (traces only)")
            return
        try:
            self.gate.enter(self.headers.get("Authorization"))
        except Rejected as rejected:
            self._refuse(transport, rejected, is_json)
            return
        try:
            self._export(transport, is_json)
        except Rejected as rejected:
            self._refuse(transport, rejected, is_json)
        finally:
            self.gate.leave()

    def _export(self, transport: str, is_json: bool) -> None:
        if content_type_unknown(self.headers.get("Content-Type")):
            raise Rejected(415, grpc.StatusCode.INVALID_ARGUMENT, "unsupported_media_type",
                           "Content-Type must be application/x-protobuf or application/json")
        raw = self._body()
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            try:
                raw = _gunzip(raw, self.gate.max_request_bytes)
            except (zlib.error, EOFError) as failure:
                raise _undecodable(failure) from None
        elif encoding != "identity":
            raise Rejected(415, grpc.StatusCode.INVALID_ARGUMENT, "unsupported_encoding",
                           "Content-Encoding must be gzip or identity")
        request, undecodable = decode_export(raw, is_json=is_json)
        response = _respond(self.pipeline, request, undecodable)
        self.pipeline.stats.request(transport)
        if is_json:
            self._send(200, "application/json", json_format.MessageToJson(response).encode())
        else:
            self._send(200, "application/x-protobuf", response.SerializeToString())

    def _body(self) -> bytes:
        """The request body, within the size limit before it is read: by Content-Length, or chunked (OTel JS
        streams its exports with ``Transfer-Encoding: chunked`` and no length). A POST with neither is refused
        (411) rather than read as empty: an HTTP/1.0 client may be sending a body until it closes."""
        try:
            return self._read_body()
        except TimeoutError:
            raise Rejected(408, grpc.StatusCode.DEADLINE_EXCEEDED, "timeout", "request body not received in time") \
                from None

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # a refused chunked body is not read to its end: the socket cannot be reused
            raw = bytearray()
            while True:
                try:
                    size = int(self.rfile.readline(1026).split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "undecodable", "bad chunk size") from None
                if size < 0:
                    raise Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "undecodable", "bad chunk size")
                if size == 0:
                    while self.rfile.readline(1026).strip():  # trailers
                        pass
                    break
                self.gate.check_size(len(raw) + size)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "truncated", "the body ended early")
                raw += chunk
                self.rfile.readline(3)
            self.close_connection = False
            return bytes(raw)
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or ()}
        if not lengths:
            raise Rejected(411, grpc.StatusCode.INVALID_ARGUMENT, "length_required",
                           "Content-Length (or Transfer-Encoding: chunked) is required")
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "bad_content_length",
                           "one Content-Length, a decimal number, is required")
        length = int(next(iter(lengths)))
        self.gate.check_size(length)  # before reading a byte of it
        data = self.rfile.read(length)
        if len(data) < length:
            raise Rejected(400, grpc.StatusCode.INVALID_ARGUMENT, "truncated", "the body ended early")
        return data

    def _refuse(self, transport: str, rejected: Rejected, is_json: bool) -> None:
        self.pipeline.stats.reject(transport, rejected.reason)
        self.close_connection = True  # the body may be unread: the connection cannot carry another request
        self._reply(rejected.http_status, is_json, str(rejected))

    def _reply(self, status: int, is_json: bool, message: str) -> None:
        # OTLP/HTTP: failures carry a google.rpc.Status in the request's encoding; a message is enough for humans.
        if is_json:
            self._send(status, "application/json", json.dumps({"code": status, "message": message}).encode())
        else:
            self._send(status, "text/plain; charset=utf-8", message.encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        headers = [("Content-Type", content_type)] + ([("Retry-After", "1")] if status == 503 else [])
        http_pool.reply(self, status, headers, body)


def _transport(headers: Any) -> str:
    kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower() if headers is not None else ""
    return "http/json" if kind == "application/json" else "http/protobuf"


def _respond(pipeline: Any, request: Any, undecodable: int) -> Any:
    """Price the request; the answer names the spans left out (OTLP partial success), which are counted."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if undecodable:
        pipeline.stats.span(REJECTED, undecodable)
        pipeline.stats.refuse_spans("undecodable", undecodable)
    refused = pipeline.export(request).get(REJECTED, 0) + undecodable
    if refused:
        response.partial_success.rejected_spans = refused
        response.partial_success.error_message = (
            f"{refused} span(s) rejected (undecodable, or a sampling probability below the agent's bound); "
            "see otel_gemini_agent_rejected_spans_total{reason}")
    return response


def content_type_unknown(header: str | None) -> bool:
    kind = (header or "").split(";")[0].strip().lower()
    return kind not in ("application/x-protobuf", "application/json", "application/protobuf")


def http_server(
    host: str, port: int, pipeline: Pipeline, gate: Gate, *, max_connections: int = http_pool.DEFAULT_MAX_CONNECTIONS,
    idle_timeout_s: float = http_pool.DEFAULT_IDLE_TIMEOUT_S, reuse_port: bool = False,
) -> http_pool.BoundedHTTPServer:
    """The OTLP/HTTP receiver, bound (``serve_forever`` is the caller's to run)."""
    handler = type("OTLPHandler", (_HTTPHandler,), {"pipeline": pipeline, "gate": gate})
    return http_pool.BoundedHTTPServer(
        (host, port), handler, max_connections=max_connections, idle_timeout_s=idle_timeout_s, reuse_port=reuse_port,
        on_busy=lambda headers: pipeline.stats.reject(_transport(headers), "busy"))


# -- gRPC -------------------------------------------------------------------------------------------------------

def grpc_server(
    host: str, port: int, pipeline: Pipeline, gate: Gate, workers: int = 8,
    max_concurrent_rpcs: int = http_pool.DEFAULT_MAX_CONNECTIONS,
) -> tuple[grpc.Server, int]:
    """The OTLP/gRPC receiver, started; returns it and its bound port. Past ``max_concurrent_rpcs`` waiting or
    running exports, grpcio answers RESOURCE_EXHAUSTED (exporters retry it) instead of queueing without bound."""

    def export(raw: bytes, context: grpc.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:
        metadata = dict(context.invocation_metadata())
        try:
            gate.enter(metadata.get("authorization"))
        except Rejected as rejected:
            pipeline.stats.reject("grpc", rejected.reason)
            context.abort(rejected.code, str(rejected))
        try:
            gate.check_size(len(raw))
            response = _respond(pipeline, decode(raw, is_json=False), 0)
            pipeline.stats.request("grpc")
        except Rejected as rejected:
            pipeline.stats.reject("grpc", rejected.reason)
            context.abort(rejected.code, str(rejected))
        finally:
            gate.leave()
        return response

    handler = grpc.method_handlers_generic_handler(TRACE_SERVICE, {
        "Export": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None,
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
        ),
    })
    backstop = min(2 * gate.max_request_bytes + 1024, 2**31 - 1)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", backstop)], maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


__all__ = ["Gate", "Rejected", "decode", "decode_export", "http_server", "grpc_server", "DEFAULT_MAX_REQUEST_BYTES"]
