"""``client.files`` upload/get/list/delete/download (sync and async): spans and request counts, no cost.

The Files API is free ("available at no cost in all regions where the Gemini API is available", Files API
docs): what users need from it is latency and errors (an upload that fails is why a later generate call 404s), so
each method is one span, counted ``unbilled``. A file has no model, so the model getter returns None and the core
labels the call ``unknown``; the operation label (``upload_file``, ``list_files``, ...) tells these calls apart
from model calls. Only the size and MIME type of a returned file go on the span, never its display name
(user-chosen text).

``files.list`` returns a pager: the span covers the first page; later pages are fetched by the pager as the app
iterates, outside the call. ``register_files`` (Cloud Storage registration) has no operation name yet and is left
unwrapped.
"""

from __future__ import annotations

from typing import Any

from otel_gemini import semconv
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, wrap
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine

METHODS = ("upload", "get", "list", "delete", "download")


def _no_model(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    return None


def _file_attributes(state: CallState, result: Any) -> None:
    size = getattr(result, "size_bytes", None)
    if size is not None:
        state.span.set_attribute(semconv.FILE_SIZE, int(size))
    mime_type = getattr(result, "mime_type", None)
    if mime_type:
        state.span.set_attribute(semconv.FILE_MIME_TYPE, str(mime_type))


def _operation(method: str) -> Operation:
    on_result = _file_attributes if method in ("upload", "get") else None
    return Operation(semconv.OP_FILES[method], model=_no_model, on_result=on_result, unmetered_status=engine.UNBILLED)


OPERATIONS = {method: _operation(method) for method in METHODS}


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap every method on ``Files`` and ``AsyncFiles`` (both SDK lines have all five)."""
    wrapped = (
        wrap(telemetry, "google.genai.files", f"{cls}.{method}", op, is_async=is_async)
        for method, op in OPERATIONS.items()
        for cls, is_async in (("Files", False), ("AsyncFiles", True))
    )
    return [pair for pair in wrapped if pair is not None]
