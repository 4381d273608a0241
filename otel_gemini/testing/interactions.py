"""Interactions API (``client.interactions``) wire shapes and default routes for :class:`FakeGemini`.

The Interactions API is a separate REST surface (``POST /{version}/interactions``, ``GET
/{version}/interactions/{id}``) served to google-genai by its own generated client (``google.genai._gaos``),
with snake_case JSON, a ``usage`` block instead of ``usageMetadata``, and SSE events (``interaction.created``,
``step.start``, ``step.delta``, ``step.stop``, ``interaction.status_update``, ``interaction.completed``) whose
``data`` carries an ``event_type``. The bodies here are the shapes the SDK parses, so tests and the demo can
script them exactly.

``install(fake)`` adds default routes that behave like a tiny stateful server: ``create`` answers a finished
interaction (or, with ``background=True``, an ``in_progress`` one that the next ``get`` finds completed), and
``get`` returns what ``create`` stored.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_gemini.testing.fake_gemini import FakeGemini, Recorded

__all__ = ["completed_event", "install", "interaction", "interaction_stream", "interaction_usage"]

CREATE_ROUTE = r"^POST /[^/]+/interactions$"
GET_ROUTE = r"^GET /[^/]+/interactions/[^/]+$"


def _by_modality(counts: Mapping[str, int] | None) -> list[dict[str, Any]]:
    return [{"modality": modality, "tokens": n} for modality, n in (counts or {}).items() if n]


def interaction_usage(
    input: int = 10, output: int = 5, thoughts: int = 0, cached: int = 0, tool_use: int = 0,  # noqa: A002
    *, input_by_modality: Mapping[str, int] | None = None, cached_by_modality: Mapping[str, int] | None = None,
    output_by_modality: Mapping[str, int] | None = None, tool_use_by_modality: Mapping[str, int] | None = None,
    grounding: Mapping[str, int] | None = None, total: int | None = None,
) -> dict[str, Any]:
    """An Interactions ``usage`` block as the API serialises it (zero counts absent).

    ``input`` includes ``cached`` (cached ⊂ input, as ``promptTokenCount`` ⊃ ``cachedContentTokenCount``);
    ``total`` defaults to input + output + thoughts + tool_use. ``grounding`` maps a tool type
    (``google_search``, ``google_maps``, ``retrieval``) to its count. Per-modality lists default to all-text
    when their total is non-zero; pass ``{}`` to leave one out.
    """
    out: dict[str, Any] = {"total_input_tokens": input}
    for key, value in (("total_output_tokens", output), ("total_thought_tokens", thoughts),
                       ("total_cached_tokens", cached), ("total_tool_use_tokens", tool_use)):
        if value:
            out[key] = value
    out["total_tokens"] = input + output + thoughts + tool_use if total is None else total
    for key, given, count in (("input_tokens_by_modality", input_by_modality, input),
                              ("cached_tokens_by_modality", cached_by_modality, cached),
                              ("output_tokens_by_modality", output_by_modality, output),
                              ("tool_use_tokens_by_modality", tool_use_by_modality, tool_use)):
        details = _by_modality(given if given is not None else ({"text": count} if count else {}))
        if details:
            out[key] = details
    if grounding:
        out["grounding_tool_count"] = [{"type": kind, "count": n} for kind, n in grounding.items()]
    return out


def interaction(
    text: str = "ok", *, id: str = "fake-interaction-1", model: str | None = "gemini-3-flash-preview",  # noqa: A002
    agent: str | None = None, status: str = "completed", usage: Mapping[str, Any] | None = None,
    service_tier: str | None = None,
) -> dict[str, Any]:
    """A full ``Interaction`` body; ``usage=None`` gives a small realistic usage, ``{}`` omits it."""
    body: dict[str, Any] = {"id": id, "status": status, "created": "2026-11-23T10:00:00Z",
                            "updated": "2026-11-23T10:00:01Z", "object": "interaction"}
    if agent is not None:
        body["agent"] = agent
    elif model is not None:
        body["model"] = model
    if status == "completed" or status == "requires_continuation":
        body["steps"] = [{"type": "model_output", "content": [{"type": "text", "text": text}]}]
    block = interaction_usage() if usage is None else dict(usage)
    if block and status not in ("in_progress", "queued"):
        body["usage"] = block
    if service_tier is not None:
        body["service_tier"] = service_tier
    return body


def completed_event(body: Mapping[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """``interaction.completed``: the streamed interaction's final status and its (per-hop) usage."""
    keep = {k: v for k, v in body.items() if k in ("id", "status", "model", "agent", "usage", "service_tier",
                                                   "created", "updated", "object")}
    event: dict[str, Any] = {"event_type": "interaction.completed", "interaction": keep}
    if event_id:
        event["event_id"] = event_id
    return event


def interaction_stream(
    texts: list[str], *, id: str = "fake-interaction-1", model: str | None = "gemini-3-flash-preview",  # noqa: A002
    agent: str | None = None, usage: Mapping[str, Any] | None = None, status: str = "completed",
    running_usage: bool = True,
) -> list[dict[str, Any]]:
    """The SSE ``data`` payloads of one streamed create: created, one text step, completed (with usage).

    With ``running_usage`` the ``step.stop`` event carries a partial running usage too (as the API does), so a
    consumer that keeps the *last* usage bills the ``interaction.completed`` one, and a consumer that sums would
    be caught by the tests.
    """
    final = interaction(text="".join(texts), id=id, model=model, agent=agent, status=status, usage=usage)
    head = {k: v for k, v in final.items() if k in ("id", "model", "agent", "created", "object")}
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": {**head, "status": "in_progress"}, "event_id": "e0"},
        {"event_type": "step.start", "index": 0, "step": {"type": "model_output"}, "event_id": "e1"},
    ]
    for i, text in enumerate(texts):
        events.append({"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": text},
                       "event_id": f"e{i + 2}"})
    stop: dict[str, Any] = {"event_type": "step.stop", "index": 0, "event_id": f"e{len(texts) + 2}"}
    block = final.get("usage")
    if running_usage and block:
        stop["usage"] = {"total_input_tokens": block.get("total_input_tokens", 0), "total_output_tokens": 1}
    events.append(stop)
    events.append(completed_event(final, event_id=f"e{len(texts) + 3}"))
    return events


def _prompt_tokens(body: Any) -> int:
    def chars(node: Any) -> int:
        if isinstance(node, str):
            return len(node)
        if isinstance(node, dict):
            return sum(chars(v) for k, v in node.items() if k in ("input", "text", "content", "parts"))
        if isinstance(node, list):
            return sum(chars(v) for v in node)
        return 0
    return max(1, chars(body) // 4)


class _Store:
    """The interactions the default routes created, so ``get`` can answer them (bounded: a demo runs long)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def create(self, rec: Recorded) -> tuple[int, dict[str, Any]] | Any:
        body = rec.body if isinstance(rec.body, dict) else {}
        model, agent = body.get("model"), body.get("agent")
        with self._lock:
            interaction_id = f"fake-interaction-{next(self._ids)}"
        usage = interaction_usage(input=_prompt_tokens(body.get("input")), output=1)
        done = interaction(id=interaction_id, model=model, agent=agent, usage=usage)
        with self._lock:
            if len(self._items) >= 1000:
                self._items.pop(next(iter(self._items)))
            self._items[interaction_id] = done
        if body.get("stream"):
            from otel_gemini.testing.fake_gemini import Reply

            # A handler answering a Reply needs FakeGemini to accept one (see FakeGemini.route).
            return Reply(chunks=interaction_stream(["o", "k"], id=interaction_id, model=model, agent=agent,
                                                   usage=usage))
        if body.get("background"):
            return 200, {**interaction(id=interaction_id, model=model, agent=agent, status="in_progress")}
        return 200, done

    def get(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        interaction_id = rec.path.rsplit("/", 1)[-1]
        with self._lock:
            found = self._items.get(interaction_id)
        if found is None:
            return 404, {"error": {"code": 404, "message": f"Interaction {interaction_id} not found",
                                   "status": "NOT_FOUND"}}
        return 200, found


def install(fake: FakeGemini) -> None:
    """Default routes for ``interactions.create`` (plain, background, stream) and ``interactions.get``."""
    store = _Store()
    fake.route(CREATE_ROUTE, store.create)
    fake.route(GET_ROUTE, store.get)
