"""Imagen and Veo: ``models.generate_images``/``edit_image``/``upscale_image``/``recontext_image``/
``segment_image``, ``models.generate_videos`` and ``operations.get`` (sync and async, google-genai 2.x and 3.x).

These bill per unit, not per token (billing reference §1.4, §2.14):

* Imagen bills **per image returned**. An image the RAI filter removed comes back as a prediction with
  ``raiFilteredReason`` and no bytes (the SDK turns it into a ``GeneratedImage`` whose ``image`` is empty), and is
  not billed; so only images that carry bytes or a Cloud Storage URI are counted. A response whose every image
  was filtered is a priced call of $0.
* Veo bills **per second of video, by resolution, only when the video is generated** ("You will only be charged
  if your video is successfully generated"). ``generate_videos`` returns a long-running operation that is not
  done: nothing is billed there. The bill is found by the first ``operations.get`` that returns ``done=True``
  with generated videos — once per operation name per process (a bounded set), so an app that polls again, or
  keeps the finished operation and asks twice, pays once. A failed operation (``error``) costs nothing; videos
  removed by the RAI filter are absent from ``generated_videos`` and not billed.
  The response carries neither the duration nor the resolution, so both are read from the request's
  ``GenerateVideosConfig`` (``duration_seconds``, ``resolution``) and remembered per operation name (bounded).
  An operation this process did not create (polled by another worker) is billed at Veo's defaults:
  :data:`DEFAULT_VIDEO_SECONDS` seconds at the table's ``default`` resolution (720p).

Edit, upscale, recontext and segment use models the price table mostly does not know (``imagen-3.0-capability-001``,
``imagen-4.0-upscale-preview``, ``virtual-try-on-001``, ``image-segmentation-001``): those calls are "unpriced"
by the core. When one of them is called with a *generation* model (upscaling with ``imagen-3.0-generate-002``
is allowed), the table's rate is the generation price, not the upscale price, so it is reported unpriced too
rather than billed at a rate that is not the operation's.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from otel_gemini import _guard, semconv
from otel_gemini.instrumentation import _operation
from otel_gemini.instrumentation._call import CallState
from otel_gemini.instrumentation._operation import Operation, model_argument
from otel_gemini.instrumentation._telemetry import Telemetry
from otel_gemini.pricing import engine
from otel_gemini.recording import Charge

MODELS, OPERATIONS = "google.genai.models", "google.genai.operations"

DEFAULT_VIDEO_SECONDS = 8
"""Veo's ``durationSeconds`` when the request sets none: 8 s for Veo 2, 3 and 3.1 (Google's Veo API docs; the
SDK's ``GenerateVideosConfig.duration_seconds`` defaults to None and sends nothing). The default resolution is
720p, which is the table's ``default`` variant."""

_LIMIT = 10_000
_OPERATION_MODEL = re.compile(r"models/([^/:]+)/operations/")


# -- Imagen --------------------------------------------------------------------------------------------------


def _has_image(image: Any) -> bool:
    return image is not None and bool(getattr(image, "image_bytes", None) or getattr(image, "gcs_uri", None))


def images_returned(result: Any) -> int:
    """Images actually delivered (RAI-filtered predictions carry no bytes and are not billed)."""
    return sum(1 for generated in getattr(result, "generated_images", None) or () if _has_image(generated.image))


def masks_returned(result: Any) -> int:
    """segment_image analyses one input image; billed as one unit when it returned any mask (assumption)."""
    masks = getattr(result, "generated_masks", None) or ()
    return 1 if any(_has_image(getattr(mask, "mask", None)) for mask in masks) else 0


def _image_result(name: str, count: Callable[[Any], int]) -> Callable[[CallState, Any], None]:
    def on_result(state: CallState, result: Any) -> None:
        units = count(result)
        if state.span.is_recording():
            state.span.set_attribute(semconv.IMAGES_RETURNED, units)
        model_id = state.telemetry.pricer.resolve(state.request_model)[0]
        if name != semconv.OP_GENERATE_IMAGES and model_id is not None and "-generate-" in model_id:
            _guard.warn_once(
                f"unpriced-op:{name}:{model_id}", "otel-gemini: %s with %s is priced differently from image "
                "generation and the price table has no rate for it; counted as unpriced.", name, model_id,
            )
            state.add_charge(Charge(engine.Cost(engine.UNPRICED, model_id=model_id)))
            return
        state.charge_units(None, "per_image", units)

    return on_result


def _image_operation(name: str, count: Callable[[Any], int] = images_returned) -> Operation:
    return Operation(name, on_result=_image_result(name, count), unmetered_status=engine.UNBILLED)


IMAGE_OPERATIONS = (
    ("generate_images", _image_operation(semconv.OP_GENERATE_IMAGES)),
    ("edit_image", _image_operation(semconv.OP_EDIT_IMAGE)),
    ("upscale_image", _image_operation(semconv.OP_UPSCALE_IMAGE)),
    ("recontext_image", _image_operation(semconv.OP_RECONTEXT_IMAGE)),
    ("segment_image", _image_operation(semconv.OP_SEGMENT_IMAGE, masks_returned)),
)


# -- Veo -----------------------------------------------------------------------------------------------------


def _config_value(config: Any, field: str) -> Any:
    if config is None:
        return None
    return config.get(field) if isinstance(config, dict) else getattr(config, field, None)


def _operation_model(name: str | None) -> str | None:
    """``models/veo-3.1-generate-preview/operations/x`` (Developer API) or ``projects/…/models/…/operations/x``."""
    match = _OPERATION_MODEL.search(name or "")
    return match.group(1) if match else None


class Videos:
    """Veo operations seen by this process: what each asked for, and which were already billed (both bounded).

    The request (seconds, resolution) lives from ``generate_videos`` until the operation is billed or failed;
    a billed name is remembered so later polls of the same finished operation bill nothing.
    """

    def __init__(self, limit: int = _LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._requests: dict[int, tuple[int | None, str | None]] = {}
        self._pending: OrderedDict[str, tuple[str, int | None, str | None]] = OrderedDict()
        self._billed: OrderedDict[str, None] = OrderedDict()

    @staticmethod
    def _bounded_put(store: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > limit:
            store.popitem(last=False)

    # generate_videos: on_start sees the request, on_result the operation's name (the same call's state)
    def on_start(self, state: CallState, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        config = kwargs.get("config")
        seconds, resolution = _config_value(config, "duration_seconds"), _config_value(config, "resolution")
        with self._lock:
            if len(self._requests) >= 1000:  # calls that raised never reached on_result
                self._requests.clear()
            self._requests[id(state)] = (int(seconds) if seconds else None, str(resolution) if resolution else None)

    def on_created(self, state: CallState, operation: Any) -> None:
        with self._lock:
            seconds, resolution = self._requests.pop(id(state), (None, None))
        name = getattr(operation, "name", None)
        if name:
            with self._lock:
                self._bounded_put(self._pending, name, (state.request_model, seconds, resolution), self._limit)
        self.settle(state, operation)  # an operation may already be done when returned

    def model_of(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The video model of ``operations.get(operation)``: remembered at creation, else read from its name."""
        operation = kwargs.get("operation", args[0] if args else None)
        name = getattr(operation, "name", None)
        with self._lock:
            pending = self._pending.get(name) if name else None
        return pending[0] if pending else _operation_model(name)

    def _claim(self, name: str | None, fallback_model: str) -> tuple[str, int | None, str | None] | None:
        """The request of an operation about to be billed; None when this name was billed already."""
        with self._lock:
            if name and name in self._billed:
                return None
            request = self._pending.pop(name, None) if name else None
            if name:
                self._bounded_put(self._billed, name, None, self._limit)
        return request or (_operation_model(name) or fallback_model, None, None)

    def settle(self, state: CallState, operation: Any) -> None:
        """Bill a finished, successful video operation once; anything else costs nothing."""
        if not getattr(operation, "done", False):
            return
        name = getattr(operation, "name", None)
        if getattr(operation, "error", None):
            self._claim(name, state.request_model)  # settled: a failed operation is never billed later
            if state.span.is_recording():
                state.span.set_attribute(semconv.OPERATION_FAILED, True)
            return
        response = getattr(operation, "response", None) or getattr(operation, "result", None)
        if response is None or not hasattr(response, "generated_videos"):
            return  # not a video operation (file imports share operations.get in 3.x)
        claimed = self._claim(name, state.request_model)
        if claimed is None:
            return
        model, seconds, resolution = claimed
        videos = sum(
            1 for generated in response.generated_videos or ()
            if generated.video is not None and (generated.video.uri or generated.video.video_bytes)
        )
        seconds = seconds or DEFAULT_VIDEO_SECONDS
        variant = resolution.lower() if resolution else "default"
        state.charge_units(model, "per_second", seconds * videos, variant=variant, operation=semconv.OP_GENERATE_VIDEOS)
        if state.span.is_recording():
            state.span.set_attributes({
                semconv.VIDEO_COUNT: videos, semconv.VIDEO_SECONDS: seconds,
                semconv.VIDEO_RESOLUTION: resolution or "default",
                semconv.VIDEO_RAI_FILTERED: int(getattr(response, "rai_media_filtered_count", None) or 0),
            })


def operations(videos: Videos) -> tuple[tuple[str, str, Operation], ...]:
    """(module, method, Operation) of every wrapped method, without the Async prefix."""
    images = tuple((MODELS, f"Models.{method}", op) for method, op in IMAGE_OPERATIONS)
    create = Operation(
        semconv.OP_GENERATE_VIDEOS, model=model_argument, on_start=videos.on_start, on_result=videos.on_created,
        unmetered_status=engine.UNBILLED,
    )
    poll = Operation(
        semconv.OP_GET_OPERATION, model=videos.model_of, on_result=videos.settle, unmetered_status=engine.UNBILLED,
    )
    return images + ((MODELS, "Models.generate_videos", create), (OPERATIONS, "Operations.get", poll))


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap the Imagen/Veo methods and ``operations.get``, sync and async; a method an SDK lacks is skipped."""
    videos = Videos()
    wrapped: list[tuple[Any, str]] = []
    for module, qualname, op in operations(videos):
        for prefix, is_async in (("", False), ("Async", True)):
            pair = _operation.wrap(telemetry, module, prefix + qualname, op, is_async)
            if pair is not None:
                wrapped.append(pair)
    return wrapped
