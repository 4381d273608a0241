"""google-genai Interactions API: ``client.interactions.create/get`` and ``client.aio.interactions.create/get``.

The Interactions API is served by a separate generated client (``google.genai._gaos``, Speakeasy) that owns its
own transport: its requests never pass through ``BaseApiClient.request``, so the raw-body hook cannot see them and
everything is read from the parsed objects. Both SDK lines (2.34 and 3.4) have the same shape:

* ``GeminiNextGenInteractions.create`` / ``get`` (and the ``Async`` pair) in ``google.genai._gaos.google_genai``
  are the public methods; ``create`` runs *automatic continuation* there, sending one billed request per hop
  through ``_send_create_once`` and summing the hops' usage into the returned object. Like generate_content,
  each hop is priced on its own (billing reference §1.3), so the per-hop method is wrapped too.
* A stream (``stream=True``) is the SDK's ``Stream`` of SSE events. Usage arrives as the running total of the
  current hop (``step.stop.usage``, ``interaction.status_update.usage``) and finally in
  ``interaction.completed`` (``event.interaction.usage``, per hop); a continuation hop starts with another
  ``interaction.created``. The last usage of each hop is its bill, never a sum.
* ``background=True`` returns an ``in_progress`` interaction without usage; the bill is read by the first
  ``get`` that sees the finished interaction, once per interaction id per process (a bounded set of ids).
  Any other ``get`` is span-only ("unbilled"): the work was billed when it was created.

Usage blocks are read by otel_gemini/billing/interaction_usage.py (cached tokens taken as part of the input tokens).
``grounding_tool_count`` is kept on the span (``gemini.grounding.<type>.count``) and Google Search queries are
charged at the model's grounding rate (3.x: per query).
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from typing import Any

from otel_gemini import _guard, semconv
from otel_gemini.billing.interaction_usage import BilledIds, grounding_units, interaction_usage
from otel_gemini.billing.interaction_usage import get as _get
from otel_gemini.instrumentation import _kit, _operation
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Active, Operation
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine
from otel_gemini.recording import Charge

MODULE = "google.genai._gaos.google_genai"
SYNC, ASYNC = "GeminiNextGenInteractions", "AsyncGeminiNextGenInteractions"
_PENDING = frozenset(("in_progress", "queued"))
_GROUNDED = ("google_search", "google_maps")  # retrieved context not charged as input (§2.9)

billed = BilledIds()
"""Interaction ids already billed by this process (create, or the first get of a background one)."""

# -- one call --------------------------------------------------------------------------------------------------


def _request_field(kwargs: dict[str, Any], name: str) -> Any:
    """A create argument given as a keyword or inside ``request=`` (a CreateInteractionRequest or its dict)."""
    if kwargs.get(name) is not None:
        return kwargs[name]
    request = kwargs.get("request")
    body = _get(request, "body") if request is not None else None
    return _get(body, name) if body is not None else None


def _model(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The model, or for agent interactions the agent's name (no price: those calls are "unpriced")."""
    value = _request_field(kwargs, "model") or _request_field(kwargs, "agent")
    return str(value) if value else None


class _Call:
    """What an interactions call billed: its hops (each replaced by its latest running usage) and grounding."""

    __slots__ = ("state", "creating", "known_id", "hop", "seen", "grounding")

    def __init__(self, state: CallState, creating: bool, known_id: str | None) -> None:
        self.state = state
        self.creating = creating
        self.known_id = known_id
        self.hop: list[Charge] | None = None
        """The charges of the hop whose usage is still running (a stream between its events)."""
        self.seen = 0
        """Responses seen by the per-hop wrapper: when > 0, the SDK's merged result is not billed again."""
        self.grounding: dict[str, int] = {}

    def bill(self, interaction: Any, block: Any, *, final: bool = True) -> None:
        """Price one hop's usage; a later usage of the same (streamed) hop replaces that hop's charges."""
        interaction_id = _get(interaction, "id") or self.known_id
        state = self.state
        if self.hop is not None:
            state.charges[:] = [c for c in state.charges if all(c is not mine for mine in self.hop)]
        elif self.creating:
            billed.add(interaction_id)
        elif not final or not billed.add(interaction_id):
            return  # get: only the first sight of a finished interaction is billed, and only when final
        served = _get(interaction, "model") or _get(interaction, "agent")
        served = str(served) if served else None
        pricer = state.telemetry.pricer
        known = served and pricer.resolve(served)[0]
        model = served if known else state.request_model if self.creating else served
        operation = None if self.creating else semconv.OP_CREATE_INTERACTION
        units = grounding_units(block)
        tier = _get(interaction, "service_tier")
        before = len(state.charges)
        state.charge_tokens(model, interaction_usage(block), service_tier=str(tier) if tier else None,
                            grounding=tuple((tool, units[tool]) for tool in _GROUNDED if units.get(tool)),
                            operation=operation, response_model=served)
        self.hop = state.charges[before:]
        if final:
            billed.add(interaction_id)
            self.hop = None
            for kind, count in units.items():
                self.grounding[kind] = self.grounding.get(kind, 0) + count

    def describe(self, interaction: Any) -> None:
        span = self.state.span
        if not span.is_recording() or interaction is None:
            return
        attributes: dict[str, Any] = {}
        for key, value in ((semconv.RESPONSE_ID, _get(interaction, "id")),
                           (semconv.RESPONSE_MODEL, _get(interaction, "model") or _get(interaction, "agent")),
                           (semconv.INTERACTION_STATUS, _get(interaction, "status"))):
            if value:
                attributes[key] = str(value)
        for kind, count in self.grounding.items():
            attributes[semconv.grounding_count_of(kind)] = count
        span.set_attributes(attributes)

    # -- the three places a bill turns up ------------------------------------------------------------------

    def on_hop(self, value: Any) -> None:
        """One non-streamed HTTP response of create (a continuation hop is one more)."""
        if hasattr(value, "generator") or _get(value, "status") is None:
            return  # a stream: billed from its events
        self.seen += 1
        block = _get(value, "usage")
        if block is not None:
            self.bill(value, block)

    def on_result(self, state: CallState, result: Any) -> None:
        if self.seen == 0 and _get(result, "status") is not None:
            block = _get(result, "usage")
            if block is not None and (self.creating or _get(result, "status") not in _PENDING):
                self.bill(result, block)
        self.describe(result)

    def on_event(self, event: Any) -> None:
        kind = _get(event, "event_type")
        if kind == "interaction.created":
            self.hop = None  # a new hop: the previous one keeps its last bill
            return
        if kind == "interaction.completed":
            interaction = _get(event, "interaction")
            block = _get(interaction, "usage")
            if block is not None:
                self.bill(interaction, block)
            self.describe(interaction)
        elif kind in ("step.stop", "interaction.status_update") and self.creating:
            block = _get(event, "usage")
            if block is not None:
                self.bill({"id": _get(event, "interaction_id")}, block, final=False)


# -- wrapping --------------------------------------------------------------------------------------------------

_current: ContextVar[_Call | None] = ContextVar("otel_gemini_interaction", default=None)
_views: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _ClientView:
    """What ``endpoint_of`` reads from an api client, rebuilt from the generated client's configuration.

    The resource keeps no reference to the ``google.genai`` api client, only its own ``sdk_configuration``
    (server URL, API version path, auth); the key itself is never copied here.
    """

    __slots__ = ("_api_client",)

    def __init__(self, configuration: Any) -> None:
        from types import SimpleNamespace

        version = str(getattr(getattr(configuration, "globals", None), "api_version", "") or "")
        location = version.split("/locations/", 1)[1].split("/", 1)[0] if "/locations/" in version else None
        self._api_client = SimpleNamespace(
            vertexai="/projects/" in version, location=location,
            _http_options=SimpleNamespace(base_url=getattr(configuration, "server_url", None)),
        )


def _view(instance: Any) -> Any:
    configuration = getattr(instance, "sdk_configuration", None)
    try:
        view = _views.get(configuration)
        if view is None:
            view = _views[configuration] = _ClientView(configuration)
        return view
    except TypeError:
        return _ClientView(configuration)


_OPS = {
    ("create", False): Operation(semconv.OP_CREATE_INTERACTION, model=_model),
    ("create", True): Operation(semconv.OP_CREATE_INTERACTION, model=_model, stream=True),
    ("background", False): Operation(semconv.OP_CREATE_INTERACTION, model=_model, unmetered_status=engine.UNBILLED),
    ("get", False): Operation(semconv.OP_GET_INTERACTION, model=_model, unmetered_status=engine.UNBILLED),
    ("get", True): Operation(semconv.OP_GET_INTERACTION, model=_model, unmetered_status=engine.UNBILLED, stream=True),
}


Args = tuple[Any, ...]


class _InCall(Active):
    """Active, with the interaction call current too (its per-hop sender bills into it); stream or not is
    decided per call by its arguments, and only the SDK's ``Stream`` is proxied."""

    __slots__ = ("call", "_current_token")

    def __init__(self, state: CallState, op: Operation, call: _Call) -> None:
        super().__init__(state, op)
        self.call = call

    def __enter__(self) -> None:
        self._current_token = _current.set(self.call)
        super().__enter__()

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        try:
            super().__exit__(exc_type, error, tb)
        finally:
            _current.reset(self._current_token)

    def done(self, value: Any, flavor: _kit.Flavor) -> Any:
        if self.stream and hasattr(value, "generator"):
            return super().done(value, flavor)
        try:
            self.call.on_result(self.state, value)
        except Exception as failure:
            _guard.report(self.state.operation, failure)
        self.state.finish(result=value)
        return value


def _opener(telemetry: Telemetry, method: str) -> _kit.Opener:
    """create/get: the operation (and so stream or not, billed or not) is chosen by each call's arguments."""

    def open_call(instance: Any, args: Args, kwargs: dict[str, Any]) -> _InCall | None:
        try:
            stream = bool(_request_field(kwargs, "stream"))
            background = bool(_request_field(kwargs, "background")) and not stream
            kind = "get" if method == "get" else "background" if background else "create"
            op = _OPS[(kind, stream and kind != "background")]
            state = _operation.start(telemetry, op, _view(instance), args, kwargs)
            if state is None:
                return None
            known_id = kwargs.get("id", args[0] if args else None) if method == "get" else None
            call = _Call(state, method == "create", str(known_id) if known_id else None)
            state.chunk_hook = call.on_event
            return _InCall(state, op, call)
        except Exception as failure:
            _guard.report("start", failure)
            return None

    return open_call


def _open_hop(instance: Any, args: Args, kwargs: dict[str, Any]) -> _kit.After | None:
    """``_send_create_once``: one billed HTTP request of create, inside the call in flight."""
    call = _current.get()
    return None if call is None else _kit.After(call.on_hop, "response")


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap create/get (sync and async) and the per-hop sender; returns (class, name) pairs for uninstrument."""
    try:
        import google.genai._gaos.google_genai  # noqa: F401 - only to know the API is there
    except ImportError:
        _guard.warn_once("missing:interactions", "otel-gemini: google-genai has no Interactions API; not instrumented")
        return []
    return _kit.wrap_all(
        [(MODULE, f"{class_name}.{method}", _kit.wrapper(opener, is_async))
         for class_name, is_async in ((SYNC, False), (ASYNC, True))
         for method, opener in (("create", _opener(telemetry, "create")), ("get", _opener(telemetry, "get")),
                                ("_send_create_once", _open_hop))],
        own=True,  # only methods the bridge class defines itself: wrapping an inherited one would wrap the base
    )
