"""The demo's second half: every billable surface beyond generate_content, one realistic call or two each.

Each block says what Google bills for it, so the cost table the demo prints can be read against this file.
All of it runs against the local fakes (otel_gemini.testing); nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Callable
from typing import Any

from otel_gemini.testing import FakeGemini, Reply, response, usage, vertex_client_kwargs

# The demo instruments with these, to show account-level billing: a free-tier key used for one model, a tuned
# model the app never fetched metadata for.
FREE_MODEL = "gemini-3.1-flash-lite"
TUNED_MODEL = "tunedModels/support-bot-7"
DEMO_OPTIONS = {
    "billing_tier": f"tier1,{FREE_MODEL}=free", "tuned_models": f"{TUNED_MODEL}=gemini-2.5-flash", "project": "demo",
    # Declared limits (Google publishes none per model; a project's are on aistudio.google.com/rate-limit).
    "limits": f"gemini-3.8-flash:rpm=1000,tpm=1000000,rpd=10000;{FREE_MODEL}:rpm=15,tpm=250000,rpd=1000",
    "spend_cap_usd": "100",
    # What the same traffic would cost on Batch, on Flex, with half of each prompt cached, on Flash-Lite (the page).
    "whatif": "batch,flex,cache", "whatif_models": "gemini-3.5-flash-lite",
}
# The media the demo makes, as (unit, count, price variant), so the cost table can say "8 s × $0.60/s (4k)".
IMAGES, VIDEO = ("generate_images", "imagen-4.0-generate-001"), ("generate_videos", "veo-3.1-generate-preview")
MEDIA = {IMAGES: ("per_image", 3, "default"), VIDEO: ("per_second", 8, "4k")}


def _quietly(step: Callable[[], Any], label: str) -> None:
    """One surface failing (an SDK line without it) must not stop the demo; say so and go on."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK's deprecation notices (Imagen) would drown the table
            step()
    except ImportError as missing:
        print(f"  ({label} skipped: {missing.name} is not installed here)")
    except Exception as failure:  # noqa: BLE001 - the demo reports and continues
        print(f"  ({label} skipped: {type(failure).__name__}: {failure})")


def _plans_and_grounding(fake: FakeGemini, client: Any) -> None:
    # Search grounding: per grounded prompt on 2.5 ($35/1k), per query on 3.x ($14/1k), list price by default.
    fake.push(Reply(body=response("grounded", model_version="gemini-2.5-flash", web_search_queries=["q1", "q2"],
                                  usage_metadata=usage(prompt=900, candidates=300, tool_use=4000))))
    client.models.generate_content(model="gemini-2.5-flash", contents="news today?")
    fake.push(Reply(body=response("grounded", model_version="gemini-3.8-flash", web_search_queries=["a", "b", "c"],
                                  usage_metadata=usage(prompt=900, candidates=300))))
    client.models.generate_content(model="gemini-3.8-flash", contents="compare prices")
    # A free-tier model: $0 billed, the paid-tier equivalent kept apart; a tuned model billed as its base.
    fake.push(Reply(body=response("free", model_version=FREE_MODEL, usage_metadata=usage(prompt=3000, candidates=800))))
    client.models.generate_content(model=FREE_MODEL, contents="free please")
    fake.push(Reply(body=response("tuned", model_version=TUNED_MODEL,
                                  usage_metadata=usage(prompt=1500, candidates=200))))
    client.models.generate_content(model=TUNED_MODEL, contents="ticket #42")


def _embeddings_tokens_files(fake: FakeGemini, client: Any) -> None:
    from google.genai import types

    from otel_gemini.testing import embeddings

    embeddings.install(fake)
    client.models.embed_content(model="gemini-embedding-2", contents=[
        "a cat on a mat", types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")])  # per modality
    client.models.embed_content(model="gemini-embedding-001", contents="hello")  # no usage reported: unmetered
    client.models.count_tokens(model="gemini-2.5-flash", contents="how long is this?")  # never billed
    uploaded = client.files.upload(file=io.BytesIO(b"meeting notes"), config={"mime_type": "text/plain"})
    client.files.delete(name=uploaded.name)  # files: spans only


def _caches(fake: FakeGemini, client: Any) -> None:
    from otel_gemini.testing import caches

    store = caches.install(fake)
    store.tokens = 100_000
    cache = client.caches.create(model="gemini-2.5-pro", config={"contents": ["the manual"], "ttl": "3600s"})
    client.caches.update(name=cache.name, config={"ttl": "7200s"})  # storage so far is settled
    client.caches.delete(name=cache.name)  # the rest of the storage is settled now


def _batches(fake: FakeGemini, client: Any) -> None:
    from otel_gemini.testing import batches

    store = batches.install(fake)
    job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "Summarise the Q3 notes"}] * 3)
    client.batches.get(name=job.name)  # still running: the enqueued-tokens gauge shows it
    store.finish(job.name, [batches.succeeded(10_000, 1_000, 1_000), batches.succeeded(2_000, 400), batches.failed()])
    client.batches.get(name=job.name)  # priced once at Batch rates; the failed request costs nothing
    client.batches.get(name=job.name)  # read again: nothing more


def _media(fake: FakeGemini) -> None:
    from google import genai

    from otel_gemini.testing import media

    media.install(fake)
    vertex = genai.Client(**{**vertex_client_kwargs(fake), "location": "global"})
    _unit, images, _variant = MEDIA[IMAGES]
    vertex.models.generate_images(model=IMAGES[1], prompt="a lighthouse",
                                  config={"number_of_images": images})  # per image returned
    _unit, seconds, resolution = MEDIA[VIDEO]
    operation = vertex.models.generate_videos(model=VIDEO[1], source={"prompt": "waves"},
                                              config={"duration_seconds": seconds, "resolution": resolution})
    while not operation.done:  # billed once, by the poll that sees the video done
        operation = vertex.operations.get(operation)


def _interactions(fake: FakeGemini, client: Any) -> None:
    from otel_gemini.testing import interactions

    interactions.install(fake)
    client.interactions.create(model="gemini-3-flash-preview", input="Explain OpenTelemetry in one line")
    for _event in client.interactions.create(model="gemini-3-flash-preview", input="Stream it", stream=True):
        pass


def _live(api_key: str) -> None:
    from google import genai
    from google.genai import types

    from otel_gemini.testing.fake_live import FakeLive, live_turn, live_usage

    async def session(client: Any) -> None:
        async with client.aio.live.connect(model="gemini-2.5-flash-native-audio-preview-12-2025",
                                           config={"response_modalities": ["AUDIO"]}) as live:
            for _turn in range(2):  # each turn re-bills the whole session context
                await live.send_realtime_input(audio=types.Blob(data=b"\0\0" * 16000, mime_type="audio/pcm;rate=16000"))
                await live.send_realtime_input(audio_stream_end=True)
                async for message in live.receive():
                    if message.server_content and message.server_content.turn_complete:
                        break

    with FakeLive() as fake_live:
        fake_live.push(
            live_turn("Hi!", audio=b"\0\0" * 2400,
                      usage=live_usage({"TEXT": 120, "AUDIO": 900}, {"TEXT": 30, "AUDIO": 1500})),
            live_turn("Sure.", audio=b"\0\0" * 2400,
                      usage=live_usage({"TEXT": 180, "AUDIO": 2400}, {"TEXT": 20, "AUDIO": 900})),
        )
        client = genai.Client(api_key=api_key, http_options=types.HttpOptions(
            base_url=fake_live.base_url, async_client_args={"ssl": fake_live.ssl_context()}))
        asyncio.run(session(client))


def _legacy(fake: FakeGemini, api_key: str) -> None:
    import google.generativeai as legacy  # not installed next to google-genai 3.x by default

    from otel_gemini.testing import fake_legacy

    fake_legacy.install(fake)
    legacy.configure(api_key=api_key, transport="rest", client_options={"api_endpoint": fake.base_url})
    legacy.GenerativeModel("gemini-2.5-flash").generate_content("Hello from the legacy SDK")


def run_surfaces(fake: FakeGemini, client: Any, api_key: str) -> None:
    _quietly(lambda: _plans_and_grounding(fake, client), "grounding, free tier, tuned model")
    _quietly(lambda: _embeddings_tokens_files(fake, client), "embeddings, count_tokens, files")
    _quietly(lambda: _caches(fake, client), "context caches")
    _quietly(lambda: _batches(fake, client), "batch jobs")
    _quietly(lambda: _media(fake), "Imagen and Veo")
    _quietly(lambda: _interactions(fake, client), "Interactions API")
    _quietly(lambda: _live(api_key), "Live API")
    _quietly(lambda: _legacy(fake, api_key), "legacy google-generativeai")
