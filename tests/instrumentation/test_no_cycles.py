"""A finished call leaves nothing for the cyclic garbage collector: its span, hops and charges are freed by
reference counting as soon as the caller drops the response (a cycle per call made every call pay GC time on
the user's thread and kept ~40 objects per call alive until a collection; benchmarks/README.md)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest

from otel_gemini.instrumentation._call import CallState
from otel_gemini.testing import Reply, response, stream, usage

MODEL = "gemini-2.5-flash"


def _cyclic_garbage(call: Callable[[], None], calls: int = 5) -> list[Any]:
    """Objects only the cyclic collector would free, left by ``calls`` calls made with automatic GC off."""
    call()  # first-use caches (endpoint, rate cards) are not garbage
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(calls):
            call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    return found


@pytest.mark.parametrize("kind", ["generate", "stream"])
def test_a_finished_call_leaves_no_reference_cycle(fake, client, telemetry, kind: str) -> None:
    def call() -> None:
        if kind == "generate":
            fake.push(Reply(body=response("ok", model_version=MODEL, usage_metadata=usage(prompt=8, candidates=1))))
            assert client.models.generate_content(model=MODEL, contents="hi").text == "ok"
        else:
            fake.push(Reply(chunks=stream(["o", "k"], model_version=MODEL, final_usage=usage(prompt=8, candidates=1))))
            assert "".join(chunk.text or "" for chunk in client.models.generate_content_stream(
                model=MODEL, contents="hi")) == "ok"

    garbage = _cyclic_garbage(call)
    assert not [obj for obj in garbage if isinstance(obj, CallState)]
    assert len([s for s in telemetry.spans() if s.instrumentation_scope.name == "otel_gemini"]) == 6  # instrumented
