"""Imagen and Veo through the real client over real HTTP: per image returned, per second of video once done.

Prices (billing reference §2.14, prices.json): imagen-4.0-generate-001 $0.04 per image; veo-3.1-generate-preview
$0.40/s at 720p and 1080p (and when no resolution is given), $0.60/s at 4k. Vertex clients outside "global" pay
×1.10 since 2026-07-01 (the table's regional_endpoint adjustment); the fake's Vertex client is in us-central1.
google-genai 3.x runs generate_images and generate_videos only in Vertex mode; 2.34 also runs generate_videos
on the Developer API.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from otel_gemini import semconv
from otel_gemini.testing import Reply, error, media, vertex_client_kwargs

IMAGEN = "imagen-4.0-generate-001"
VEO = "veo-3.1-generate-preview"
SDK_MAJOR = int(genai.__version__.split(".")[0])


@pytest.fixture(scope="module", autouse=True)
def _media_routes(fake: Any) -> None:
    media.install(fake)


@pytest.fixture(autouse=True)
def _no_internal_errors(telemetry: Any) -> Any:
    yield
    assert telemetry.instrumentor.telemetry.recorder.counters[semconv.INTERNAL_ERRORS] == {}


@pytest.fixture
def vertex(fake: Any) -> genai.Client:
    return genai.Client(**vertex_client_kwargs(fake))


@pytest.fixture
def vertex_global(fake: Any) -> genai.Client:
    return genai.Client(**{**vertex_client_kwargs(fake), "location": "global"})


def dollars(telemetry: Any, operation: str, model: str) -> Decimal:
    """Exact dollars the recorder holds for one (operation, request model)."""
    costs = telemetry.instrumentor.telemetry.recorder.counters[semconv.COST]
    return sum((value for key, value in costs.items() if key[0] == operation and key[2] == model), Decimal(0))


def requests(telemetry: Any, operation: str, status: str | None = None) -> int:
    counts = telemetry.instrumentor.telemetry.recorder.counters[semconv.REQUESTS]
    width = len(semconv.REQUESTS.labels)  # the attribution labels (feature, tenant) follow
    return sum(v for k, v in counts.items() if k[0] == operation and (status is None or k[width - 1] == status))


def images_config(n: int) -> types.GenerateImagesConfig:
    return types.GenerateImagesConfig(number_of_images=n, include_rai_reason=True)


# -- Imagen --------------------------------------------------------------------------------------------------


def test_generate_images_bills_images_returned_not_rai_filtered(fake, vertex_global, telemetry) -> None:
    """4 requested, 1 filtered by RAI: 3 × $0.04 = $0.12 (global endpoint: no surcharge)."""
    fake.push(Reply(body=media.imagen_response(images=3, filtered=1), route=media.PREDICT_ROUTE))
    result = vertex_global.models.generate_images(model=IMAGEN, prompt="a cat", config=images_config(4))
    assert type(result) is types.GenerateImagesResponse
    assert len(result.generated_images) == 4 and result.generated_images[3].rai_filtered_reason
    assert fake.requests[-1].path.endswith(f"/locations/global/publishers/google/models/{IMAGEN}:predict")
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal("0.12")
    span = telemetry.span()
    assert span.name == f"generate_images {IMAGEN}"
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["gemini.images.returned"] == 3
    assert span.attributes["gemini.cost.usd_exact"] == "0.12"
    assert requests(telemetry, "generate_images", "priced") == 1


def test_regional_endpoint_surcharge(fake, vertex, vertex_global, telemetry) -> None:
    """us-central1 after 2026-07-01: 3 × $0.04 × 1.10 = $0.132; the same call on "global": $0.12."""
    fake.push(Reply(body=media.imagen_response(images=3, filtered=1), route=media.PREDICT_ROUTE))
    vertex.models.generate_images(model=IMAGEN, prompt="a cat", config=images_config(4))
    assert "/locations/us-central1/" in fake.requests[-1].path
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal("0.132")
    fake.push(Reply(body=media.imagen_response(images=3, filtered=1), route=media.PREDICT_ROUTE))
    vertex_global.models.generate_images(model=IMAGEN, prompt="a cat", config=images_config(4))
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal("0.132") + Decimal("0.12")


async def test_async_generate_images(vertex_global, telemetry) -> None:
    """The fake's default: as many images as asked, 2 × $0.04 = $0.08."""
    result = await vertex_global.aio.models.generate_images(model=IMAGEN, prompt="a cat", config=images_config(2))
    assert type(result) is types.GenerateImagesResponse and len(result.generated_images) == 2
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal("0.08")


def test_all_images_filtered_is_a_priced_zero(fake, vertex_global, telemetry) -> None:
    """0 images delivered: 0 × $0.04 = $0, and the call says so (priced, not unmetered)."""
    fake.push(Reply(body=media.imagen_response(images=0, filtered=2), route=media.PREDICT_ROUTE))
    vertex_global.models.generate_images(model=IMAGEN, prompt="a cat", config=images_config(2))
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal(0)
    assert requests(telemetry, "generate_images", "priced") == 1


def test_developer_api_generate_images_error_is_the_sdks(client, telemetry) -> None:
    """Both SDK lines refuse Imagen on the Developer API (ValueError before any request): unchanged, $0."""
    with pytest.raises(ValueError, match="only supported in Gemini Enterprise Agent Platform") as raised:
        client.models.generate_images(model=IMAGEN, prompt="a cat")
    assert type(raised.value) is ValueError
    span = telemetry.span()
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["gemini.pricing.status"] == "unbilled"
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal(0)


def test_error_reply_reraises_the_sdk_exception(fake, vertex_global, telemetry) -> None:
    fake.push(Reply(status=429, body=error(429, "RESOURCE_EXHAUSTED", "quota"), route=media.PREDICT_ROUTE))
    with pytest.raises(errors.ClientError) as raised:
        vertex_global.models.generate_images(model=IMAGEN, prompt="a cat")
    assert type(raised.value) is errors.ClientError and raised.value.code == 429
    assert telemetry.span().attributes["error.type"] == "429"
    assert requests(telemetry, "generate_images", "unbilled") == 1
    assert dollars(telemetry, "generate_images", IMAGEN) == Decimal(0)


def test_edit_upscale_recontext_segment_models_are_unpriced(fake, vertex_global, telemetry) -> None:
    """No table rate for the capability/upscale/try-on/segmentation models (nor for upscaling with a
    generation model, whose table rate is the generation price): each call is "unpriced", never $0."""
    image = types.Image(image_bytes=b"\x89PNG fake", mime_type="image/png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # edit_image is marked experimental/deprecated in 3.x
        vertex_global.models.edit_image(
            model="imagen-3.0-capability-001", prompt="a hat",
            reference_images=[types.RawReferenceImage(reference_id=1, reference_image=image)],
        )
    vertex_global.models.upscale_image(model="imagen-4.0-upscale-preview", image=image, upscale_factor="x2")
    vertex_global.models.upscale_image(model="imagen-3.0-generate-002", image=image, upscale_factor="x2")
    vertex_global.models.recontext_image(
        model="virtual-try-on-001",
        source=types.RecontextImageSource(person_image=image, product_images=[types.ProductImage(product_image=image)]),
    )
    vertex_global.models.segment_image(model="image-segmentation-001", source=types.SegmentImageSource(image=image))
    for operation in ("edit_image", "upscale_image", "recontext_image", "segment_image"):
        assert requests(telemetry, operation, "unpriced") == requests(telemetry, operation) > 0, operation
    assert sum(telemetry.instrumentor.telemetry.recorder.counters[semconv.COST].values()) == 0


# -- Veo -----------------------------------------------------------------------------------------------------


def veo_config(**fields: Any) -> types.GenerateVideosConfig:
    return types.GenerateVideosConfig(**fields)


def test_veo_billed_once_when_the_operation_succeeds(vertex_global, telemetry) -> None:
    """8 s at 4k, 1 video: nothing at create, nothing while running, 8 × $0.60 = $4.80 at the done get, then
    nothing."""
    operation = vertex_global.models.generate_videos(
        model=VEO, source=types.GenerateVideosSource(prompt="a cat"),
        config=veo_config(duration_seconds=8, resolution="4k"),
    )
    assert type(operation) is types.GenerateVideosOperation and not operation.done
    assert dollars(telemetry, "generate_videos", VEO) == 0 and requests(telemetry, "generate_videos", "unbilled") == 1

    running = vertex_global.operations.get(operation)
    assert not running.done
    assert dollars(telemetry, "generate_videos", VEO) == 0

    done = vertex_global.operations.get(running)
    assert type(done) is types.GenerateVideosOperation and done.done and len(done.result.generated_videos) == 1
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("4.80")
    span = telemetry.spans()[-1]
    assert span.name == f"get_operation {VEO}"
    assert span.attributes["gemini.video.seconds"] == 8 and span.attributes["gemini.video.resolution"] == "4k"
    assert span.attributes["gemini.cost.usd_exact"] == "4.8"

    vertex_global.operations.get(done)
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("4.80")
    assert requests(telemetry, "get_operation", "priced") == 1 and requests(telemetry, "get_operation", "unbilled") == 2


def test_veo_failed_operation_costs_nothing(fake, vertex_global, telemetry) -> None:
    operation = vertex_global.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"))
    failure = {"code": 3, "message": "The prompt could not be processed."}
    body = media.video_operation(operation.name, done=True, error=failure)
    fake.push(Reply(body=body, route=media.FETCH_OPERATION_ROUTE))
    failed = vertex_global.operations.get(operation)
    assert failed.done and failed.error == failure
    vertex_global.operations.get(operation)  # the fake now answers done with a video: a failed name stays settled
    assert dollars(telemetry, "generate_videos", VEO) == 0
    assert telemetry.spans()[-2].attributes["gemini.operation.failed"] is True


def test_veo_rai_filtered_videos_and_defaults(fake, vertex_global, telemetry) -> None:
    """2 requested, 1 filtered, no duration/resolution given: 1 × 8 s (Veo default) × $0.40 (720p default),
    × 1.0 on "global" = $3.20."""
    operation = vertex_global.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"),
                                                     config=veo_config(number_of_videos=2))
    body = media.video_operation(operation.name, done=True, videos=1, filtered=1)
    fake.push(Reply(body=body, route=media.FETCH_OPERATION_ROUTE))
    done = vertex_global.operations.get(operation)
    assert done.result.rai_media_filtered_count == 1
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("3.20")
    assert telemetry.spans()[-1].attributes["gemini.video.rai_filtered"] == 1


def test_veo_regional_endpoint(vertex, telemetry) -> None:
    """1080p, 6 s, 2 videos on us-central1: 2 × 6 × $0.40 × 1.10 = $5.28."""
    config = veo_config(duration_seconds=6, resolution="1080p", number_of_videos=2)
    operation = vertex.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"), config=config)
    operation = vertex.operations.get(vertex.operations.get(operation))
    assert operation.done
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("5.28")


async def test_async_veo(vertex_global, telemetry) -> None:
    """4 s at 720p: 4 × $0.40 = $1.60, once."""
    operation = await vertex_global.aio.models.generate_videos(
        model=VEO, source=types.GenerateVideosSource(prompt="x"),
        config=veo_config(duration_seconds=4, resolution="720p"),
    )
    while not operation.done:
        operation = await vertex_global.aio.operations.get(operation)
    await vertex_global.aio.operations.get(operation)
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("1.60")


def test_veo_operation_created_elsewhere_bills_veo_defaults(fake, vertex_global, telemetry) -> None:
    """Polled by a process that did not create it: the model comes from the operation's name, 8 s (Veo's default)
    at the default (720p) rate: 8 × $0.40 = $3.20."""
    name = f"projects/p/locations/global/publishers/google/models/{VEO}/operations/from-another-worker"
    fake.push(Reply(body=media.video_operation(name, done=True), route=media.FETCH_OPERATION_ROUTE))
    vertex_global.operations.get(types.GenerateVideosOperation(name=name))
    assert telemetry.span().name == f"get_operation {VEO}"
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("3.20")


def test_veo_error_reply_reraises_the_sdk_exception(fake, vertex_global, telemetry) -> None:
    fake.push(Reply(status=500, route=media.CREATE_VIDEO_ROUTE))
    with pytest.raises(errors.ServerError) as raised:
        vertex_global.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"))
    assert type(raised.value) is errors.ServerError and raised.value.code == 500
    assert telemetry.span().attributes["error.type"] == "500"


def test_veo_on_the_developer_api(client, telemetry) -> None:
    """2.34 only (3.x: Vertex only). 8 s at 4k: 8 × $0.60 = $4.80; the Developer API has no regional surcharge."""
    if SDK_MAJOR >= 3:
        with pytest.raises(ValueError):
            client.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"))
        pytest.skip("google-genai 3.x runs generate_videos only in Vertex mode (the ValueError above is the SDK's)")
    operation = client.models.generate_videos(model=VEO, source=types.GenerateVideosSource(prompt="x"),
                                              config=veo_config(duration_seconds=8, resolution="4k"))
    assert operation.name.startswith(f"models/{VEO}/operations/")
    operation = client.operations.get(operation)
    assert not operation.done and dollars(telemetry, "generate_videos", VEO) == 0
    operation = client.operations.get(operation)
    assert operation.done and operation.response.generated_videos[0].video.uri
    client.operations.get(operation)
    assert dollars(telemetry, "generate_videos", VEO) == Decimal("4.80")
    assert telemetry.spans()[-1].attributes["gen_ai.provider.name"] == "gcp.gemini"
