"""A fake Gemini gRPC endpoint over TLS, for the legacy SDK's async path (``grpc_asyncio`` only speaks gRPC).

gRPC insists on TLS for the credentials the SDK sends (an API key as call metadata), so the server uses a
certificate made at start for ``127.0.0.1`` (a SAN IP: gRPC checks it) and :meth:`FakeGrpcGemini.trust` points
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` at it; gRPC reads that when it first needs root certificates, so call it
before the process creates its first secure channel. Replies reuse FakeGemini's JSON bodies
(``otel_gemini.testing.response`` / ``stream``), converted to the protos with the fields the pinned protos lack
(thoughts, tool-use, modality details) carried as the unknown fields a newer server would send.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import tempfile
import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from otel_gemini.testing.bodies import response, stream, usage

_SERVICE = "google.ai.generativelanguage.v1beta.GenerativeService"
_MODALITY_NUMBERS = {"MODALITY_UNSPECIFIED": 0, "TEXT": 1, "IMAGE": 2, "VIDEO": 3, "AUDIO": 4, "DOCUMENT": 5}
_NEWER_COUNTS = {"toolUsePromptTokenCount": 8, "thoughtsTokenCount": 10}
_NEWER_DETAILS = {"promptTokensDetails": 5, "cacheTokensDetails": 6, "candidatesTokensDetails": 7,
                  "toolUsePromptTokensDetails": 9}


@dataclass
class GrpcReply:
    """A scripted answer: a body, stream chunks, or a gRPC status code name ("RESOURCE_EXHAUSTED")."""

    body: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] | None = None
    error: str | None = None
    message: str = "Fake Gemini error"


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-gemini")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _newer_usage_fields(usage_json: dict[str, Any]) -> bytes:
    """The wire bytes of usage fields newer than the pinned protos, as a current server sends them."""
    data = b""
    for key, number in _NEWER_COUNTS.items():
        if usage_json.get(key):
            data += _varint(number << 3) + _varint(int(usage_json[key]))
    for key, number in _NEWER_DETAILS.items():
        for item in usage_json.get(key) or ():
            inner = (_varint(1 << 3) + _varint(_MODALITY_NUMBERS.get(item.get("modality", ""), 0))
                     + _varint(2 << 3) + _varint(int(item.get("tokenCount", 0))))
            data += _varint(number << 3 | 2) + _varint(len(inner)) + inner
    return data


def to_proto(body: dict[str, Any]) -> Any:
    """A GenerateContentResponse proto from a JSON body, newer usage fields kept as unknown fields."""
    from google.ai.generativelanguage_v1beta import GenerateContentResponse

    message = GenerateContentResponse.from_json(json.dumps(body), ignore_unknown_fields=True)
    extra = _newer_usage_fields(body.get("usageMetadata") or {})
    if extra:
        GenerateContentResponse.pb(message).usage_metadata.MergeFromString(extra)
    return message


class FakeGrpcGemini:
    """GenerateContent and StreamGenerateContent over TLS on 127.0.0.1; unscripted calls get a default answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[GrpcReply] = []
        self.requests: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self._server: Any = None
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="fake-grpc-")
        self.cert_path = os.path.join(self._dir.name, "cert.pem")

    def push(self, *replies: GrpcReply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def _next(self, request: Any, context: Any) -> GrpcReply:
        with self._lock:
            self.requests.append(request)
            self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
            return self._queue.pop(0) if self._queue else GrpcReply()

    def _abort(self, reply: GrpcReply, context: Any) -> None:
        import grpc

        context.abort(getattr(grpc.StatusCode, reply.error or "UNKNOWN"), reply.message)

    def _generate(self, request: Any, context: Any) -> Any:
        reply = self._next(request, context)
        if reply.error:
            self._abort(reply, context)
        model = request.model.rsplit("/", 1)[-1]
        return to_proto(reply.body or response(model_version=model, usage_metadata=usage(prompt=8, candidates=1)))

    def _stream(self, request: Any, context: Any) -> Any:
        reply = self._next(request, context)
        if reply.error:
            self._abort(reply, context)
        model = request.model.rsplit("/", 1)[-1]
        for chunk in reply.chunks or stream(["o", "k"], model_version=model):
            yield to_proto(chunk)

    def start(self) -> FakeGrpcGemini:
        import grpc
        from google.ai.generativelanguage_v1beta import GenerateContentRequest, GenerateContentResponse

        key_pem, cert_pem = self_signed_certificate()
        with open(self.cert_path, "wb") as file:
            file.write(cert_pem)
        io = dict(request_deserializer=GenerateContentRequest.deserialize,
                  response_serializer=GenerateContentResponse.serialize)
        handler = grpc.method_handlers_generic_handler(_SERVICE, {
            "GenerateContent": grpc.unary_unary_rpc_method_handler(self._generate, **io),
            "StreamGenerateContent": grpc.unary_stream_rpc_method_handler(self._stream, **io),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=(handler,))
        self.port = self._server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
        self._server.start()
        return self

    def trust(self) -> None:
        """Make this process's gRPC trust the fake's certificate (before its first secure channel)."""
        os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = self.cert_path

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        self._dir.cleanup()

    def __enter__(self) -> FakeGrpcGemini:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
