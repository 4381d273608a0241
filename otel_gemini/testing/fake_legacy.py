"""The fake endpoint as the legacy ``google-generativeai`` SDK (0.8.x, ``transport="rest"``) talks to it.

That SDK's REST transport asks for ``$alt=json;enum-encoding=int`` on every call, streams included: a stream is
one JSON array whose elements arrive as they are generated, not server-sent events; FakeGemini answers streams
that way when asked with ``$alt=json``.

``install(fake)`` adds the one route the legacy SDK needs beyond FakeGemini's defaults: ``:embedContent`` (a
single content; a list goes to ``:batchEmbedContents``), answered without usage, as the Developer API does.
"""

from __future__ import annotations

from typing import Any

from otel_gemini.testing.fake_gemini import FakeGemini, Recorded


def embed_content_response(dims: int = 4) -> dict[str, Any]:
    """``:embedContent`` on the Developer API: one vector, no usage."""
    return {"embedding": {"values": [round((i % 7 - 3) / 10, 1) for i in range(dims)]}}


def install(fake: FakeGemini) -> None:
    """Default routes for the legacy SDK's calls that FakeGemini does not answer by itself."""

    def embed(rec: Recorded) -> tuple[int, dict[str, Any]]:
        return 200, embed_content_response()

    fake.route(r"POST .*:embedContent$", embed)
