"""A fake Live API endpoint (``BidiGenerateContent``) over real TLS websockets, for tests and the demo.

``client.aio.live.connect`` turns the client's ``base_url`` into ``wss://`` (``_websocket_base_url``), so the fake
must speak TLS. It makes a throw-away CA and a certificate for 127.0.0.1 when it starts; the client trusts them
through ``SSL_CERT_FILE=fake.cert_file`` *set before* ``genai.Client(...)`` is built (both SDK lines build the
websocket SSL context once, in the client's constructor: ``ssl.create_default_context(cafile=SSL_CERT_FILE or
certifi.where())``), or with ``http_options.async_client_args={"ssl": fake.ssl_context()}``.

The protocol is the Gemini Developer API's: the client sends ``{"setup": {...}}``, the server answers
``{"setupComplete": {}}``, then every client message that ends a user turn (``clientContent.turnComplete``,
``realtimeInput.audioStreamEnd`` / ``activityEnd``, ``toolResponse``) makes the server play the next scripted
:class:`LiveTurn`: model-turn chunks, then ``turnComplete`` with that turn's ``usageMetadata``. As on the real
service, each turn's usage reports the whole session context re-processed for that turn, not a delta.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["FakeLive", "LiveTurn", "live_turn", "live_usage"]

_TURN_ENDERS = (
    ("clientContent", "client_content", ("turnComplete", "turn_complete")),
    ("realtimeInput", "realtime_input", ("audioStreamEnd", "audio_stream_end", "activityEnd", "activity_end")),
)

_VERTEX_USAGE_KEYS = {"responseTokenCount": "candidatesTokenCount", "responseTokensDetails": "candidatesTokensDetails"}


def live_usage(prompt: dict[str, int], response: dict[str, int], *, cached: dict[str, int] | None = None,
               thoughts: int = 0, tool_use: int = 0) -> dict[str, Any]:
    """Live ``usageMetadata`` as the service serialises it: ``responseTokenCount``/``responseTokensDetails`` (not
    ``candidates*``), per-modality details, zero counts absent. ``prompt``/``response``/``cached`` map a
    modality ("TEXT", "AUDIO", "VIDEO", "IMAGE") to its token count.
    """
    out: dict[str, Any] = {}
    prompt_total, response_total = sum(prompt.values()), sum(response.values())
    cached_total = sum((cached or {}).values())
    for key, value in (("promptTokenCount", prompt_total), ("cachedContentTokenCount", cached_total),
                       ("responseTokenCount", response_total), ("toolUsePromptTokenCount", tool_use),
                       ("thoughtsTokenCount", thoughts)):
        if value:
            out[key] = value
    out["totalTokenCount"] = prompt_total + response_total + tool_use + thoughts
    for key, details in (("promptTokensDetails", prompt), ("cacheTokensDetails", cached or {}),
                         ("responseTokensDetails", response)):
        if details:
            out[key] = [{"modality": modality, "tokenCount": n} for modality, n in details.items() if n]
    return out


@dataclass
class LiveTurn:
    """One scripted model turn: the server messages to send, then optionally end the connection."""

    messages: list[dict[str, Any]]
    close_code: int | None = None
    """Close the websocket with this code after the messages (the client's next receive raises APIError)."""
    drop: bool = False
    """Cut the TCP connection after the messages, with no close frame (the client sees code 1006)."""


def live_turn(text: str | None = "ok", *, audio: bytes | None = None, usage: dict[str, Any] | None = None,
              transcription: str | None = None, usage_apart: bool = False, close_code: int | None = None,
              drop: bool = False) -> LiveTurn:
    """A model turn: a text part and/or an audio part (24 kHz PCM), then ``turnComplete`` carrying ``usage``.

    ``usage_apart=True`` sends the usage in its own message after ``turnComplete`` (the SDK's ``receive()`` stops
    at ``turnComplete``, so that usage reaches the caller on the next ``receive()``).
    """
    messages: list[dict[str, Any]] = []
    if text:
        messages.append({"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": text}]}}})
    if audio is not None:
        blob = {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(audio).decode("ascii")}
        messages.append({"serverContent": {"modelTurn": {"role": "model", "parts": [{"inlineData": blob}]}}})
    if transcription:
        messages.append({"serverContent": {"outputTranscription": {"text": transcription}}})
    final: dict[str, Any] = {"serverContent": {"generationComplete": True, "turnComplete": True}}
    if usage is not None and not usage_apart:
        final["usageMetadata"] = usage
    messages.append(final)
    if usage is not None and usage_apart:
        messages.append({"usageMetadata": usage})
    return LiveTurn(messages, close_code=close_code, drop=drop)


def _make_certificates(directory: str) -> tuple[str, str, str]:
    """A CA and a leaf for 127.0.0.1/localhost signed by it (a CA + leaf pair also passes VERIFY_X509_STRICT)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-gemini FakeLive test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ca_ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tuple(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key"))
    pem = serialization.Encoding.PEM
    for path, data in zip(paths, (
        ca.public_bytes(pem), leaf.public_bytes(pem),
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    ), strict=True):
        with open(path, "wb") as out:
            out.write(data)
    return paths  # type: ignore[return-value]


def _vertex_spelling(message: dict[str, Any]) -> dict[str, Any]:
    usage = message.get("usageMetadata")
    if not usage:
        return message
    renamed = {_VERTEX_USAGE_KEYS.get(key, key): value for key, value in usage.items()}
    return {**message, "usageMetadata": renamed}


def _ends_turn(message: dict[str, Any]) -> bool:
    if "toolResponse" in message or "tool_response" in message:
        return True
    for camel, snake, flags in _TURN_ENDERS:
        body = message.get(camel, message.get(snake))
        if isinstance(body, dict) and any(body.get(flag) not in (None, False) for flag in flags):
            return True
    return False


@dataclass
class _Session:
    """What one websocket connection carried, so tests can assert on the wire."""

    path: str
    headers: dict[str, str]
    setup: dict[str, Any] | None = None
    received: list[dict[str, Any]] = field(default_factory=list)


class FakeLive:
    """A TLS websocket server on 127.0.0.1 that plays scripted Live turns (use as a context manager)."""

    def __init__(self, default_usage: dict[str, Any] | None = None) -> None:
        self.port = 0
        self.cert_file = ""
        self.sessions: list[_Session] = []
        self._turns: deque[LiveTurn] = deque()
        self._lock = threading.Lock()
        self._default_usage = default_usage or live_usage({"TEXT": 10}, {"TEXT": 2})
        self._dir: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- script --------------------------------------------------------------------------------------------

    def push(self, *turns: LiveTurn) -> None:
        """Queue model turns, played one per user turn in order (across connections); then a default turn."""
        with self._lock:
            self._turns.extend(turns)

    def clear(self) -> None:
        with self._lock:
            self._turns.clear()
            self.sessions.clear()

    @property
    def base_url(self) -> str:
        """What to give ``HttpOptions(base_url=...)``: the SDK swaps ``https`` for ``wss``."""
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server (alternative to SSL_CERT_FILE)."""
        return ssl.create_default_context(cafile=self.cert_file)

    # -- server --------------------------------------------------------------------------------------------

    def _next_turn(self) -> LiveTurn:
        with self._lock:
            if self._turns:
                return self._turns.popleft()
        return live_turn("ok", usage=self._default_usage)

    def _handle(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        request = connection.request
        session = _Session(request.path, {k.lower(): v for k, v in request.headers.raw_items()})
        with self._lock:
            self.sessions.append(session)
        try:
            setup = json.loads(connection.recv())
            session.setup = setup.get("setup", setup)
            vertex = "LlmBidiService" in request.path
            # Vertex AI names the session and keeps generateContent's candidates* usage spelling on the wire.
            complete = {"sessionId": f"fake-live-{len(self.sessions)}"} if vertex else {}
            connection.send(json.dumps({"setupComplete": complete}))
            while True:
                message = json.loads(connection.recv())
                session.received.append(message)
                if not _ends_turn(message):
                    continue
                turn = self._next_turn()
                for server_message in turn.messages:
                    connection.send(json.dumps(_vertex_spelling(server_message) if vertex else server_message))
                if turn.drop:
                    connection.close_socket()
                    return
                if turn.close_code is not None:
                    connection.close(turn.close_code, "fake live: scripted close")
                    return
        except ConnectionClosed:
            return

    def start(self) -> FakeLive:
        from websockets.sync.server import serve

        self._dir = tempfile.mkdtemp(prefix="otel-gemini-fake-live-")
        self.cert_file, cert, key = _make_certificates(self._dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = serve(self._handle, "127.0.0.1", 0, ssl=context, ping_interval=None, compression=None,
                             max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> FakeLive:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
