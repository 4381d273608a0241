"""The legacy ``google-generativeai`` SDK (0.8.x): generate, chat, stream, count_tokens and embeddings.

Same spans, attributes and metrics as the google-genai path, priced by the same engine. Two layers, as in
``models.py``:

* the public methods (``GenerativeModel.generate_content[_async]``, ``ChatSession.send_message[_async]``,
  ``count_tokens[_async]``, ``embed_content[_async]``) own the span, through the core's :class:`Operation`;
  a chat owns its turn, and the ``generate_content`` calls the chat makes itself (one per automatic function
  calling round) pass through, so one turn is one span with one hop per billed request;
* the per-request methods of the low-level ``GenerativeServiceClient`` / ``GenerativeServiceAsyncClient``
  (``generate_content``, ``stream_generate_content``) record each billed response as a hop of the call.

Streams: ``generate_content(stream=True)`` returns the SDK's ``GenerateContentResponse`` after pulling the first
chunk; the user iterates *that* object, which pulls from the transport's iterator. So the proxy sits on the
transport's iterator (the user's object is returned untouched) and the call ends when that iterator is
exhausted, fails, or is dropped with the response object (``__del__``).

Usage: the pinned ``google-ai-generativelanguage`` 0.6.15 protos know only prompt, cached, candidates and total
counts. Over gRPC the newer fields survive as unknown fields and are read from there (exact). Over REST the
JSON parser drops them, so thoughts are recovered as ``total - prompt - candidates`` (exact unless the request
also produced tool-use prompt tokens; the span says ``gemini.usage.thoughts_inferred``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any
from urllib.parse import urlsplit

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import _kit
from otel_gemini.instrumentation._call import CallState, Endpoint, Hop, current_call
from otel_gemini.instrumentation._operation import Active, Operation, factory, start
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.instrumentation.models import request_attributes

_MODELS = "google.generativeai.generative_models"
_SERVICE = "google.ai.generativelanguage_v1beta.services.generative_service"
_DEFAULT_HOST = "generativelanguage.googleapis.com"
_MODALITIES = {0: "MODALITY_UNSPECIFIED", 1: "TEXT", 2: "IMAGE", 3: "VIDEO", 4: "AUDIO", 5: "DOCUMENT"}
# UsageMetadata fields newer than the pinned protos (generativelanguage v1beta field numbers).
_UNKNOWN_COUNTS = {8: "toolUsePromptTokenCount", 10: "thoughtsTokenCount"}
_UNKNOWN_DETAILS = {5: "promptTokensDetails", 6: "cacheTokensDetails", 7: "candidatesTokensDetails",
                    9: "toolUsePromptTokensDetails"}

_owner: ContextVar[Any] = ContextVar("otel_gemini_legacy_owner", default=None)
"""The legacy model or chat whose call is in flight: its own inner generate_content calls are hops, not spans."""


# -- what a call is ------------------------------------------------------------------------------------------


def _model_id(name: Any) -> str | None:
    """``models/gemini-2.5-flash`` -> ``gemini-2.5-flash``, the spelling google-genai users put in span names."""
    if not name:
        return None
    name = str(name)
    return name[len("models/"):] if name.startswith("models/") else name


def _endpoint(client: Any) -> Endpoint:
    """server.* of the client the call will use; before its first call a model has none yet, so read the config."""
    host = getattr(getattr(client, "_transport", None), "_host", None)
    if not host:
        from google.generativeai import client as legacy_client

        options = legacy_client._client_manager.client_config.get("client_options")
        host = getattr(options, "api_endpoint", None) or _DEFAULT_HOST
    parts = urlsplit(host if "://" in host else f"//{host}")
    port = parts.port or (80 if parts.scheme == "http" else 443)
    return Endpoint(provider=semconv.PROVIDER_GEMINI, platform="gemini", address=parts.hostname, port=port)


def _generation_config(model: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    from google.generativeai.types import generation_types

    config = dict(getattr(model, "_generation_config", None) or {})
    override = kwargs.get("generation_config")
    if override:
        config.update(generation_types.to_generation_config_dict(override))
    return config


def _starter(model_of: Callable[[Any], Any], async_client: bool) -> Callable[..., None]:
    """on_start: the real server and request attributes (the core only knows google-genai clients)."""
    attribute = "_async_client" if async_client else "_client"

    def on_start(state: CallState, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        model = model_of(instance)
        state.endpoint = endpoint = _endpoint(getattr(model, attribute, None))
        span = state.span
        if not span.is_recording():
            return
        span.set_attribute(semconv.SERVER_ADDRESS, endpoint.address or "")
        span.set_attribute(semconv.SERVER_PORT, endpoint.port or 0)
        if kwargs.get("stream"):
            span.set_attribute(semconv.REQUEST_STREAM, True)
        if model is not None:
            span.set_attributes(request_attributes(_generation_config(model, kwargs)))

    return on_start


def _self(instance: Any) -> Any:
    return instance


def _chat_model(instance: Any) -> Any:
    return getattr(instance, "model", None)


def _no_model(instance: Any) -> None:
    return None


def _operation(name: str, model_of: Callable[[Any], Any], async_client: bool, **extra: Any) -> Operation:
    return Operation(
        name,
        model=lambda instance, args, kwargs: _model_id(getattr(model_of(instance), "model_name", None)),
        on_start=_starter(model_of, async_client),
        **extra,
    )


def _embed_operation(async_client: bool) -> Operation:
    return Operation(
        semconv.OP_EMBEDDINGS,
        model=lambda instance, args, kwargs: _model_id(kwargs.get("model", args[0] if args else None)),
        on_start=_starter(_no_model, async_client),
    )


# -- usage ---------------------------------------------------------------------------------------------------


def _unknown_usage(usage_metadata: Any) -> dict[str, Any]:
    """Fields of a gRPC response that the pinned protos do not declare but kept as unknown fields."""
    from google.protobuf import empty_pb2
    from google.protobuf.unknown_fields import UnknownFieldSet

    found: dict[str, Any] = {}
    for field in UnknownFieldSet(type(usage_metadata).pb(usage_metadata)):
        if field.field_number in _UNKNOWN_COUNTS and field.wire_type == 0:
            found[_UNKNOWN_COUNTS[field.field_number]] = field.data
        elif field.field_number in _UNKNOWN_DETAILS and field.wire_type == 2:
            item = empty_pb2.Empty()
            item.ParseFromString(field.data)
            detail = {"modality": "MODALITY_UNSPECIFIED", "tokenCount": 0}
            for part in UnknownFieldSet(item):
                if part.field_number == 1:
                    detail["modality"] = _MODALITIES.get(part.data, "MODALITY_UNSPECIFIED")
                elif part.field_number == 2:
                    detail["tokenCount"] = part.data
            found.setdefault(_UNKNOWN_DETAILS[field.field_number], []).append(detail)
    return found


def usage_of(usage_metadata: Any) -> tuple[dict[str, Any], bool]:
    """The wire-format usage of one response, and whether its thoughts count had to be inferred."""
    prompt = int(usage_metadata.prompt_token_count)
    candidates = int(usage_metadata.candidates_token_count)
    total = int(usage_metadata.total_token_count)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": int(usage_metadata.cached_content_token_count),
        "candidatesTokenCount": candidates,
        "totalTokenCount": total,
    }
    try:
        usage.update(_unknown_usage(usage_metadata))
    except Exception as failure:  # an older protobuf without unknown_fields: fall back to inference
        _guard.report("legacy_usage", failure)
    if "thoughtsTokenCount" in usage or "toolUsePromptTokenCount" in usage:
        return usage, False
    # total = prompt + candidates + thoughts + tool-use prompt; the REST parser dropped the last two.
    gap = total - prompt - candidates
    if gap > 0:
        usage["thoughtsTokenCount"] = gap
        return usage, True
    return usage, False


def _observe(state: CallState, hop: Hop, response: Any) -> None:
    """Keep one response's (or stream chunk's running) usage and served model on the hop (the kit guards it)."""
    if "usage_metadata" in response:
        hop.usage_metadata, inferred = usage_of(response.usage_metadata)
        if inferred and state.span.is_recording():
            state.span.set_attribute(semconv.USAGE_THOUGHTS_INFERRED, True)
    if response.model_version:
        hop.model_version = response.model_version


# -- wrappers ------------------------------------------------------------------------------------------------


class _Owned:
    """A span-owning public method's call: its model or chat owns the call (inner calls of the owner pass
    through), and a stream ends with the transport's iterator (proxied per request), not here."""

    __slots__ = ("instance", "active", "streaming", "_token")

    def __init__(self, instance: Any, active: Active | None, streaming: bool) -> None:
        self.instance = instance
        self.active = active
        self.streaming = streaming

    def __enter__(self) -> None:
        self._token: Token[Any] = _owner.set(self.instance)
        if self.active is not None:
            self.active.__enter__()

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        try:
            if self.active is not None:
                self.active.__exit__(exc_type, error, tb)
        finally:
            _owner.reset(self._token)

    def done(self, value: Any, flavor: _kit.Flavor) -> Any:
        active = self.active
        if active is None:
            return value
        if not self.streaming:
            return active.done(value, flavor)
        if not active.state.hops:  # the transport was not ours to watch (see instrument): end the call now
            active.state.finish(result=value)
        return value


def _owning(telemetry: Telemetry, op: Operation, is_async: bool) -> _kit.Wrapper:
    def open_owned(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Owned | None:
        if _owner.get() is not None:
            return None
        state = start(telemetry, op, instance, args, kwargs)
        return _Owned(instance, None if state is None else Active(state, op), bool(kwargs.get("stream")))

    return _kit.wrapper(open_owned, is_async)


def _open_request(stream: bool) -> _kit.Opener:
    """One billed request of the legacy call in flight (none in flight: the low-level client used directly)."""

    def open_hop(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _kit.HopScope | None:
        state = current_call.get()
        if state is None or _owner.get() is None:
            return None
        return _kit.HopScope(state, functools.partial(_observe, state), stream, proxied=True)

    return open_hop


def _per_request(stream: bool, is_async: bool) -> _kit.Wrapper:
    return _kit.wrapper(_open_request(stream), is_async)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap the legacy SDK where installed; returns (owner, name) pairs for uninstrument.

    Not covered: a ``GenerativeServiceClient`` used directly (no model or chat call in flight), and clients made
    with ``configure(default_metadata=...)`` *before* instrumenting (the SDK binds their methods per instance);
    those calls still get their span, with status "unmetered".
    """
    try:
        importlib.import_module(_MODELS)
    except ImportError:
        return []
    generate = _operation(semconv.OP_GENERATE_CONTENT, _self, async_client=False)
    generate_async = _operation(semconv.OP_GENERATE_CONTENT, _self, async_client=True)
    chat = _operation(semconv.OP_GENERATE_CONTENT, _chat_model, async_client=False)
    chat_async = _operation(semconv.OP_GENERATE_CONTENT, _chat_model, async_client=True)
    count = _operation(semconv.OP_COUNT_TOKENS, _self, async_client=False, unmetered_status="unbilled")
    count_async = _operation(semconv.OP_COUNT_TOKENS, _self, async_client=True, unmetered_status="unbilled")
    plan: list[tuple[str, str, Callable[..., Any]]] = [
        (_MODELS, "GenerativeModel.generate_content", _owning(telemetry, generate, False)),
        (_MODELS, "GenerativeModel.generate_content_async", _owning(telemetry, generate_async, True)),
        (_MODELS, "ChatSession.send_message", _owning(telemetry, chat, False)),
        (_MODELS, "ChatSession.send_message_async", _owning(telemetry, chat_async, True)),
        (_MODELS, "GenerativeModel.count_tokens", factory(telemetry, count, False)),
        (_MODELS, "GenerativeModel.count_tokens_async", factory(telemetry, count_async, True)),
        (f"{_SERVICE}.client", "GenerativeServiceClient.generate_content", _per_request(False, False)),
        (f"{_SERVICE}.client", "GenerativeServiceClient.stream_generate_content", _per_request(True, False)),
        (f"{_SERVICE}.async_client", "GenerativeServiceAsyncClient.generate_content", _per_request(False, True)),
        (f"{_SERVICE}.async_client", "GenerativeServiceAsyncClient.stream_generate_content", _per_request(True, True)),
    ]
    # `genai.embed_content` is the same function as `embedding.embed_content`, bound under two names.
    for module in ("google.generativeai.embedding", "google.generativeai"):
        plan.append((module, "embed_content", factory(telemetry, _embed_operation(False), False)))
        plan.append((module, "embed_content_async", factory(telemetry, _embed_operation(True), True)))
    return _kit.wrap_all(plan)
