"""Opt-in message content on spans and events, as the GenAI semantic conventions shape it.

Off by default: prompts and answers are the users' data (PII, secrets pasted into prompts). The standard
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` variable decides, with the semconv values:

* ``NO_CONTENT`` (default; any unknown value, e.g. the old ``true``, also means this, as in the OTel GenAI util);
* ``SPAN_ONLY``: ``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions`` as JSON
  strings on the call's span;
* ``EVENT_ONLY``: the same attributes on one ``gen_ai.client.inference.operation.details`` event (an OTel log
  record with an event name, in the span's context) and not on the span;
* ``SPAN_AND_EVENT``: both.

Each attribute is capped at ``OTEL_GEMINI_CONTENT_MAX_LENGTH`` characters (default 16384): the longest text is
cut first, with a ``…[truncated N chars]`` marker, so the JSON stays valid. Non-text parts become type markers
(``blob`` with its MIME type and modality, ``uri`` with the file URI): bytes are never copied. Content goes to
spans and events only, never to a metric label. Only google-genai ``generate_content*`` calls that otel-gemini
reports on its own span capture content (a peer instrumentation's span carries its own, coexist.py).
"""

from __future__ import annotations

import json
from typing import Any

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation._call import CallState

MODES = ("NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")
EVENT_NAME = semconv.CONTENT_EVENT
INPUT = semconv.INPUT_MESSAGES
OUTPUT = semconv.OUTPUT_MESSAGES
SYSTEM = semconv.SYSTEM_INSTRUCTIONS
_ROLES = {"model": "assistant", "user": "user", "function": "tool", "tool": "tool", "system": "system"}


def mode(settings: Any) -> str:
    """The capture mode (upper-cased by config.load_settings); anything else captures nothing, warned once."""
    value = settings.capture_content
    if value not in MODES:
        _guard.warn_once(
            f"capture-mode:{value}", "otel-gemini: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=%r is not one of "
            "%s; capturing no content.", value, ", ".join(MODES),
        )
        return "NO_CONTENT"
    return value


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _modality(mime: Any) -> str:
    kind = str(mime or "").split("/", 1)[0]
    return kind if kind in ("image", "video", "audio") else "document" if kind else "unknown"


def _plain(value: Any) -> Any:
    """A function call's args / response as JSON-able data (dicts and lists stay structured)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def part(value: Any) -> dict[str, Any]:
    """One google-genai Part (object or dict) as a semconv message part."""
    if isinstance(value, str):
        return {"type": "text", "content": value}
    text = _get(value, "text")
    if text is not None:
        return {"type": "reasoning" if _get(value, "thought") else "text", "content": str(text)}
    call = _get(value, "function_call")
    if call is not None:
        out = {"type": "tool_call", "name": _get(call, "name"), "arguments": _plain(_get(call, "args"))}
        return {**({"id": _get(call, "id")} if _get(call, "id") else {}), **out}
    reply = _get(value, "function_response")
    if reply is not None:
        out = {"type": "tool_call_response", "name": _get(reply, "name"), "response": _plain(_get(reply, "response"))}
        return {**({"id": _get(reply, "id")} if _get(reply, "id") else {}), **out}
    blob = _get(value, "inline_data")
    if blob is not None:
        mime = _get(blob, "mime_type")
        return {"type": "blob", "mime_type": mime, "modality": _modality(mime)}  # the bytes stay out
    data = _get(value, "file_data")
    if data is not None:
        mime = _get(data, "mime_type")
        return {"type": "uri", "mime_type": mime, "modality": _modality(mime), "uri": _get(data, "file_uri")}
    fields = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    kind = next((k for k, v in fields.items() if v is not None and not k.startswith("_")), "unknown")
    return {"type": "generic", "generic_type": kind}


def _contents(value: Any) -> list[Any]:
    """Whatever the SDK accepts as contents (str, Part, Content, dicts, lists) as a list of Content."""
    from google.genai import _transformers

    return list(_transformers.t_contents(value))


def message(content: Any, default_role: str = "user") -> dict[str, Any]:
    parts = [part(p) for p in (_get(content, "parts") or ())]
    role = _ROLES.get(str(_get(content, "role") or default_role), "user")
    if parts and all(p["type"] == "tool_call_response" for p in parts):
        role = "tool"
    return {"role": role, "parts": parts}


def input_messages(contents: Any) -> list[dict[str, Any]]:
    return [message(c) for c in _contents(contents)]


def system_instructions(instruction: Any) -> list[dict[str, Any]]:
    return [p for c in _contents(instruction) for p in message(c)["parts"]]


def _reason(reason: Any) -> str | None:
    if reason is None:
        return None
    value = getattr(reason, "value", reason)
    return str(value).lower()


def output_messages(candidates: Any) -> list[dict[str, Any]]:
    messages = []
    for candidate in candidates or ():
        out = message(_get(candidate, "content") or {"role": "model", "parts": []}, "model")
        out["role"] = "assistant"
        reason = _reason(_get(candidate, "finish_reason"))
        if reason:
            out["finish_reason"] = reason
        messages.append(out)
    return messages


def capped(value: Any, limit: int) -> str:
    """JSON of ``value`` at most ``limit`` characters: the longest string is cut (with a marker) until it fits."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    for _ in range(64):
        if len(text) <= limit:
            return text
        holders: list[tuple[Any, Any, str]] = []

        def collect(node: Any, holders: list[tuple[Any, Any, str]] = holders) -> None:
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, child in items:
                if isinstance(child, str):
                    holders.append((node, key, child))
                else:
                    collect(child)

        collect(value)
        if not holders:
            break
        node, key, longest = max(holders, key=lambda h: len(h[2]))
        excess = len(text) - limit
        keep = max(0, len(longest) - excess - 32)
        marker = f"…[truncated {len(longest) - keep} chars]"
        if keep == 0 and longest.endswith("]") and "[truncated" in longest:
            break
        node[key] = longest[:keep] + marker
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: max(0, limit - 14)] + "…[truncated]"


class _Capture:
    """What one call sent, and the stream's chunks as they pass, until the call finishes."""

    __slots__ = ("chosen", "inputs", "system", "chunks")

    def __init__(self, chosen: str, inputs: list[dict[str, Any]], system: list[dict[str, Any]] | None) -> None:
        self.chosen = chosen
        self.inputs = inputs
        self.system = system
        self.chunks: list[Any] = []

    def chunk(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def outputs(self, result: Any) -> list[dict[str, Any]]:
        if not self.chunks:
            return output_messages(_get(result, "candidates")) if result is not None else []
        joined: dict[int, dict[str, Any]] = {}
        for chunk in self.chunks:  # a stream: each candidate's parts arrive in pieces; texts are joined
            for candidate in _get(chunk, "candidates") or ():
                index = _get(candidate, "index") or 0
                current = joined.setdefault(index, {"role": "assistant", "parts": []})
                for new in message(_get(candidate, "content") or {"parts": []}, "model")["parts"]:
                    last = current["parts"][-1] if current["parts"] else None
                    if last is not None and new["type"] in ("text", "reasoning") and last["type"] == new["type"]:
                        last["content"] += new["content"]
                    else:
                        current["parts"].append(new)
                reason = _reason(_get(candidate, "finish_reason"))
                if reason:
                    current["finish_reason"] = reason
        return [joined[i] for i in sorted(joined)]

    def finish(self, state: CallState, result: Any, error: BaseException | None) -> None:
        limit = state.telemetry.settings.content_max_length or 16384
        attributes = {INPUT: capped(self.inputs, limit)}
        if self.system:
            attributes[SYSTEM] = capped(self.system, limit)
        outputs = self.outputs(result) if error is None else []
        if outputs:
            attributes[OUTPUT] = capped(outputs, limit)
        if self.chosen in ("SPAN_ONLY", "SPAN_AND_EVENT") and state.span.is_recording():
            state.span.set_attributes(attributes)
        if self.chosen in ("EVENT_ONLY", "SPAN_AND_EVENT"):
            _emit(state, attributes)


def _emit(state: CallState, content: dict[str, str]) -> None:
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord, get_logger

    from otel_gemini.version import __version__

    attributes: dict[str, Any] = {
        semconv.OPERATION: state.operation,
        semconv.PROVIDER: state.endpoint.provider,
        semconv.REQUEST_MODEL: state.request_model,
    }
    model = next((h.model_version for h in reversed(state.hops) if h.model_version), None)
    if model:
        attributes[semconv.RESPONSE_MODEL] = model
    attributes.update(content)
    logger = get_logger("otel_gemini", __version__, logger_provider=state.telemetry.logger_provider,
                        schema_url=semconv.SCHEMA_URL)
    logger.emit(
        LogRecord(event_name=EVENT_NAME, attributes=attributes, context=trace.set_span_in_context(state.span))
    )


def request(state: CallState, kwargs: dict[str, Any]) -> None:
    """At the start of a generate call: keep what was sent, when content capture is on and the span is ours."""
    chosen = mode(state.telemetry.settings)
    if chosen == "NO_CONTENT" or not state.owns_span:
        return
    try:
        config = kwargs.get("config")
        instruction = _get(config, "system_instruction") if config is not None else None
        capture = _Capture(
            chosen, input_messages(kwargs.get("contents")),
            system_instructions(instruction) if instruction is not None else None,
        )
    except Exception as failure:
        _guard.report("content", failure)
        return
    state.finish_hooks.append(capture.finish)
    if state.chunk_hook is None:
        state.chunk_hook = capture.chunk
