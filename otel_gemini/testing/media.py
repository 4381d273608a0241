"""Imagen ``:predict`` and Veo ``:predictLongRunning`` wire shapes, and default routes for :class:`FakeGemini`.

Both SDK lines send Imagen (generate/edit/upscale/recontext/segment) as ``POST {model}:predict`` — on Vertex
``/v1beta1/projects/{p}/locations/{l}/publishers/google/models/{m}:predict`` — answered with ``predictions``:
one object per image (``bytesBase64Encoded``, ``mimeType``) or, for an image the RAI filter removed, only
``raiFilteredReason``. Veo is ``POST {model}:predictLongRunning`` answered with an operation ``{"name"}``; the
SDK polls it with ``operations.get``, which is ``GET /{version}/{operation name}`` on the Developer API and
``POST {model}:fetchPredictOperation`` with ``{"operationName"}`` on Vertex. A finished operation carries
``response.generateVideoResponse.generatedSamples[].video`` (Developer API) or ``response.videos[]`` (Vertex).

``install(fake)`` adds default routes that behave like a tiny stateful server: ``:predict`` returns as many
images as ``parameters.sampleCount`` asks (default 1); ``:predictLongRunning`` creates an operation that the
first poll finds running and every later poll finds done with ``sampleCount`` videos. Tests script anything else
(RAI filtering, failed operations, errors) by queueing a :class:`Reply` on the routes below.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_gemini.testing.fake_gemini import FakeGemini, Recorded

__all__ = [
    "CREATE_VIDEO_ROUTE", "FETCH_OPERATION_ROUTE", "GET_OPERATION_ROUTE", "PREDICT_ROUTE",
    "imagen_response", "install", "video_operation",
]

PREDICT_ROUTE = r"^POST /.*models/[^/:]+:predict$"
CREATE_VIDEO_ROUTE = r"^POST /.*models/[^/:]+:predictLongRunning$"
FETCH_OPERATION_ROUTE = r"^POST /.*models/[^/:]+:fetchPredictOperation$"
GET_OPERATION_ROUTE = r"^GET /[^/]+/.*models/[^/:]+/operations/[^/]+$"

_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image").decode()
_VERSION = re.compile(r"^/[^/]+/")
_VERTEX_DONE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
_MLDEV_DONE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"


def imagen_response(images: int = 1, filtered: int = 0, reason: str = "56562880") -> dict[str, Any]:
    """``images`` delivered images followed by ``filtered`` RAI-filtered predictions (no bytes)."""
    predictions: list[dict[str, Any]] = [{"bytesBase64Encoded": _PNG, "mimeType": "image/png"} for _ in range(images)]
    predictions += [{"raiFilteredReason": reason} for _ in range(filtered)]
    return {"predictions": predictions}


def video_operation(
    name: str, *, done: bool, videos: int = 1, vertex: bool = True, filtered: int = 0,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Veo operation as ``operations.get`` receives it: running, failed (``error``) or done with videos."""
    body: dict[str, Any] = {"name": name}
    if not done:
        return body | {"done": False, "metadata": {"@type": "type.googleapis.com/google.protobuf.Empty"}}
    body["done"] = True
    if error is not None:
        return body | {"error": error}
    extra: dict[str, Any] = {"raiMediaFilteredCount": filtered} if filtered else {}
    if filtered:
        extra["raiMediaFilteredReasons"] = ["Filtered by the fake RAI policy."] * filtered
    if vertex:
        folder = name.rsplit("/", 1)[-1]
        clips = [{"gcsUri": f"gs://fake-bucket/{folder}/{i}.mp4", "mimeType": "video/mp4"} for i in range(videos)]
        return body | {"response": {"@type": _VERTEX_DONE_TYPE, "videos": clips, **extra}}
    samples = [{"video": {"uri": f"https://fake.invalid/v1beta/files/{i}:download?alt=media"}} for i in range(videos)]
    generated = {"generatedSamples": samples, **extra}
    return body | {"response": {"@type": _MLDEV_DONE_TYPE, "generateVideoResponse": generated}}


def _sample_count(body: Any, default: int = 1) -> int:
    parameters = body.get("parameters") if isinstance(body, dict) else None
    count = parameters.get("sampleCount") if isinstance(parameters, dict) else None
    return int(count) if count else default


class _VideoServer:
    """Operations created through the fake: name -> (videos to deliver, polls so far)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._ops: dict[str, list[int]] = {}

    def create(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        resource = _VERSION.sub("", rec.path).rsplit(":", 1)[0]  # projects/…/models/m  or  models/m
        with self._lock:
            name = f"{resource}/operations/fake-op-{next(self._ids)}"
            self._ops[name] = [_sample_count(rec.body), 0]
        return 200, {"name": name}

    def poll(self, name: str, vertex: bool) -> tuple[int, dict[str, Any]]:
        with self._lock:
            state = self._ops.get(name)
            if state is None:
                return 404, {"error": {"code": 404, "message": f"operation {name} not found", "status": "NOT_FOUND"}}
            state[1] += 1
            videos, polls = state
        return 200, video_operation(name, done=polls > 1, videos=videos, vertex=vertex)

    def fetch(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        name = rec.body.get("operationName", "") if isinstance(rec.body, dict) else ""
        return self.poll(name, vertex=True)

    def get(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        return self.poll(_VERSION.sub("", rec.path), vertex=False)


def install(fake: FakeGemini) -> FakeGemini:
    """Default Imagen and Veo routes (a queued :class:`Reply` on the same route still wins)."""
    videos = _VideoServer()
    fake.route(PREDICT_ROUTE, lambda rec: (200, imagen_response(_sample_count(rec.body))))
    fake.route(CREATE_VIDEO_ROUTE, videos.create)
    fake.route(FETCH_OPERATION_ROUTE, videos.fetch)
    fake.route(GET_OPERATION_ROUTE, videos.get)
    return fake
