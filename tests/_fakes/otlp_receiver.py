"""A loopback OTLP receiver (gRPC and HTTP) for tests: what an app really pushes, decoded, without a Collector.

No Collector binary can be installed everywhere the tests run, and an in-process exporter would not test the
wire. So this receiver speaks both OTLP transports on 127.0.0.1 with the official protobuf messages
(opentelemetry-proto) and grpcio: gRPC ``TraceService/Export`` and ``MetricsService/Export``, and HTTP
``POST /v1/traces`` and ``/v1/metrics`` in ``application/x-protobuf`` or ``application/json`` (gzip or not).
Every request is kept decoded, tagged with the transport it came by, so a test can prove which one was used.

Typical use::

    with OTLPReceiver() as receiver:
        run_app(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        span = receiver.wait_for_span("generate_content gemini-2.5-flash")
        points = receiver.metric_points(latest=True)
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["OTLPReceiver", "Received", "ReceivedSpan", "MetricPoint", "attributes"]

T = TypeVar("T")
TRACES, METRICS = "traces", "metrics"
_MESSAGES: dict[str, type[Message]] = {
    "/v1/traces": trace_service_pb2.ExportTraceServiceRequest,
    "/v1/metrics": metrics_service_pb2.ExportMetricsServiceRequest,
}
_RESPONSES: dict[str, type[Message]] = {
    "/v1/traces": trace_service_pb2.ExportTraceServiceResponse,
    "/v1/metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_HEX_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})  # OTLP/JSON writes ids as hex, protobuf-JSON as base64
# OTLP metric data kinds, named as docs/metrics.md names instrument types.
_KINDS = {"histogram": "histogram", "exponential_histogram": "histogram", "gauge": "gauge", "summary": "summary"}


def _value(any_value: AnyValue) -> Any:
    """An OTLP AnyValue as the plain Python value the SDK was given."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    """OTLP ``repeated KeyValue`` as a dict of plain values."""
    return {kv.key: _value(kv.value) for kv in key_values}


@dataclass(frozen=True)
class Received:
    """One Export request as it arrived: its signal, the transport ("grpc", "http/protobuf", "http/json")."""

    signal: str
    transport: str
    message: Any  # ExportTraceServiceRequest | ExportMetricsServiceRequest
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    transport: str
    span: Any  # the raw opentelemetry.proto.trace.v1.Span, for events, status, ids


@dataclass(frozen=True)
class MetricPoint:
    """One data point: ``value`` is the number for sums and gauges, the observation count for histograms."""

    name: str
    unit: str
    type: str  # "counter" (monotonic sum), "updowncounter", "gauge", "histogram", "summary"
    attributes: dict[str, Any]
    value: float
    resource: dict[str, Any]
    scope: str
    transport: str
    time_unix_nano: int
    sum: float | None = None  # histograms: the sum of observations
    point: Any = None  # the raw data point

    def series(self) -> tuple[Any, ...]:
        """Identity of the time series this point belongs to (cumulative points of one series supersede)."""
        return (self.name, self.scope, tuple(sorted(self.resource.items())), tuple(sorted(self.attributes.items())))


def _metric_points(received: Received) -> list[MetricPoint]:
    out: list[MetricPoint] = []
    for resource_metrics in received.message.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                if data is None:
                    continue
                body = getattr(metric, data)
                if data == "sum":
                    kind = "counter" if body.is_monotonic else "updowncounter"
                else:
                    kind = _KINDS[data]
                for point in body.data_points:
                    if data in ("sum", "gauge"):
                        value = float(getattr(point, point.WhichOneof("value") or "as_double"))
                        total = None
                    else:
                        value, total = float(point.count), float(point.sum)
                    out.append(MetricPoint(
                        name=metric.name, unit=metric.unit, type=kind, attributes=attributes(point.attributes),
                        value=value, resource=resource, scope=scope_metrics.scope.name,
                        transport=received.transport, time_unix_nano=point.time_unix_nano, sum=total, point=point,
                    ))
    return out


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON carries trace and span ids as hex; protobuf's JSON parser expects base64 for bytes fields."""
    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode() if key in _HEX_ID_KEYS and isinstance(value, str)
            else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _read_chunked(stream: Any) -> bytes:
    """An HTTP/1.1 chunked body (RFC 9112 §7.1), trailers skipped; http.server leaves the decoding to handlers."""
    body = bytearray()
    while True:
        size = int(stream.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(1024).strip():  # trailer fields, up to the empty line
                pass
            return bytes(body)
        body += stream.read(size)
        stream.readline(8)  # the CRLF closing the chunk


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, receiver: OTLPReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self._receiver._store(Received(TRACES, "grpc", request))
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
    def __init__(self, receiver: OTLPReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self._receiver._store(Received(METRICS, "grpc", request))
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporter keeps its connection alive between exports
    receiver: OTLPReceiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        """Per-request logging would drown test output."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = _read_chunked(self.rfile)  # OTel JS's exporter streams its body: chunked, no Content-Length
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        message_type = _MESSAGES.get(path)
        if message_type is None:
            self._reply(404, "text/plain", b"unknown OTLP path")
            return
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            raw = gzip.decompress(raw)
        is_json = (self.headers.get("Content-Type") or "").startswith("application/json")
        try:
            if is_json:
                message = json_format.ParseDict(_hex_ids_to_base64(json.loads(raw)), message_type(),
                                                ignore_unknown_fields=True)
            else:
                message = message_type.FromString(raw)
        except Exception as failure:  # a malformed body is the sender's bug: tell it, as a Collector would
            self._reply(400, "text/plain", f"undecodable OTLP body: {failure}".encode())
            return
        signal = TRACES if path == "/v1/traces" else METRICS
        self.receiver._store(Received(signal, "http/json" if is_json else "http/protobuf", message))
        response = _RESPONSES[path]()
        if is_json:
            self._reply(200, "application/json", json_format.MessageToJson(response).encode())
        else:
            self._reply(200, "application/x-protobuf", response.SerializeToString())

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Exporters closing their connection at exit are normal here; a traceback on stderr would be noise."""


class OTLPReceiver:
    """Both OTLP transports on loopback ports of their own, storing every decoded Export request."""

    def __init__(self, host: str = "127.0.0.1", grpc_port: int = 0, http_port: int = 0) -> None:
        self.host = host
        self._ports = (grpc_port, http_port)
        self._received: list[Received] = []
        self._arrived = threading.Condition()
        self._grpc: grpc.Server | None = None
        self._http: _HTTPServer | None = None
        self.grpc_port = self.http_port = 0

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self) -> OTLPReceiver:
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), self._grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"{self.host}:{self._ports[0]}")
        self._grpc.start()
        handler = type("Handler", (_HTTPHandler,), {"receiver": self})
        self._http = _HTTPServer((self.host, self._ports[1]), handler)
        self.http_port = int(self._http.server_address[1])
        # A short poll interval keeps stop() (and so every test teardown) fast.
        threading.Thread(target=self._http.serve_forever, args=(0.01,), name="otlp-http", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_PROTOCOL=grpc (http:// means insecure)."""
        return f"http://{self.host}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT with http/protobuf or http/json (the exporter appends /v1/<signal>)."""
        return f"http://{self.host}:{self.http_port}"

    def endpoint(self, protocol: str) -> str:
        """The endpoint to give an exporter speaking ``protocol`` (an OTEL_EXPORTER_OTLP_PROTOCOL value)."""
        return self.grpc_endpoint if protocol == "grpc" else self.http_endpoint

    # -- what arrived -------------------------------------------------------------------------------------------
    def _store(self, received: Received) -> None:
        with self._arrived:
            self._received.append(received)
            self._arrived.notify_all()

    def clear(self) -> None:
        with self._arrived:
            self._received.clear()

    def requests(self, signal: str | None = None) -> list[Received]:
        """A snapshot of the Export requests so far, oldest first; ``signal`` is "traces" or "metrics"."""
        with self._arrived:
            return [r for r in self._received if signal is None or r.signal == signal]

    def spans(self) -> list[ReceivedSpan]:
        out: list[ReceivedSpan] = []
        for received in self.requests(TRACES):
            for resource_spans in received.message.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(ReceivedSpan(span.name, span.kind, attributes(span.attributes), resource,
                                                scope_spans.scope.name, received.transport, span))
        return out

    def metric_points(self, name: str | None = None, *, latest: bool = False) -> list[MetricPoint]:
        """Every data point received (of metric ``name``); ``latest`` keeps only the newest point of each series.

        With the SDK's default cumulative temporality every export repeats each series' running total, so the
        latest point of a series is its total; summing all points would count the early exports again.
        """
        points = [p for r in self.requests(METRICS) for p in _metric_points(r) if name is None or p.name == name]
        if not latest:
            return points
        newest: dict[tuple[Any, ...], MetricPoint] = {}
        for point in points:
            key = point.series()
            if key not in newest or point.time_unix_nano >= newest[key].time_unix_nano:
                newest[key] = point
        return list(newest.values())

    def metric_names(self) -> dict[str, MetricPoint]:
        """One (the last) point per metric name: enough to read each metric's unit and type."""
        return {p.name: p for p in self.metric_points()}

    # -- waiting ------------------------------------------------------------------------------------------------
    def wait_for(self, probe: Callable[[], T | None], timeout: float = 10.0, what: str = "OTLP data") -> T:
        """Return ``probe()``'s first truthy result, re-asked at each arrival; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                result = probe()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s ({len(self._received)} Export requests received)")
                self._arrived.wait(min(left, 0.1))

    def wait_for_span(self, name: str, timeout: float = 10.0) -> ReceivedSpan:
        def probe() -> ReceivedSpan | None:
            return next((span for span in self.spans() if span.name == name), None)

        return self.wait_for(probe, timeout, f"span {name!r}")

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> list[MetricPoint]:
        return self.wait_for(lambda: self.metric_points(name), timeout, f"metric {name!r}")
