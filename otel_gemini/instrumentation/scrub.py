"""Never leak what an error body echoes: the client's API key anywhere, the request's own content unless captured.

Google's error bodies quote what they were sent: a 400 can carry the key in ``details[].metadata``, a 429 in its
message, quota id, dimension or ``ErrorInfo.reason``, and a 400 about an invalid part quotes the prompt. The SDK's
exception message is that body, so ``span.record_exception`` would export it (and the stack, whose last line is the
message) although content capture is off. otel-gemini knows each call's key and content, so every string it
exports from an error (the exception event, the quota attributes and labels) goes through :class:`Scrubber` first:

* the key (any string of at least :data:`MIN_SECRET` characters: the client's, ``GOOGLE_API_KEY``,
  ``GEMINI_API_KEY``, the legacy SDK's ``genai.configure(api_key=...)``) becomes ``[REDACTED:api_key]``;
* with content capture off, every run of at least :data:`MIN_RUN` characters that also occurs in the request's text
  parts becomes ``[REDACTED:content]`` (shorter runs are words any message has; the error type, the HTTP status, the
  google.rpc status and the rest of the message stay: they are what people debug with).

Only error paths pay: at the call's start the state keeps a reference to the key and the contents, nothing more.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from otel_gemini import semconv

MIN_SECRET = 8
"""Shorter "keys" are not scrubbed: replacing a 3-letter string everywhere would ruin messages, not protect them."""
MIN_RUN = 16
"""The shortest run of request content removed from an error message."""
SCANNED_FULLY = 100_000
"""Characters of request content compared at every position; past them, runs of 2 × MIN_RUN − 1 or more are found."""
_ENV_KEYS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


def _legacy_key() -> str | None:
    """``genai.configure(api_key=...)`` of google-generativeai, when it is loaded (never imported here)."""
    client = sys.modules.get("google.generativeai.client")
    manager = getattr(client, "_client_manager", None)
    config = getattr(manager, "client_config", None) or {}
    options = config.get("client_options") if isinstance(config, dict) else None
    key = getattr(options, "api_key", None) or (options.get("api_key") if isinstance(options, dict) else None)
    return key if isinstance(key, str) else None


def _texts(contents: Any, depth: int = 0) -> Iterator[str]:
    """The text of a request's contents in any of the SDK's shapes: str, Part, Content, dicts and lists of them."""
    if depth > 8 or contents is None:
        return
    if isinstance(contents, str):
        yield contents
    elif isinstance(contents, dict):
        for value in contents.values():
            yield from _texts(value, depth + 1)
    elif isinstance(contents, (list, tuple)):
        for item in contents:
            yield from _texts(item, depth + 1)
    else:
        text = getattr(contents, "text", None)
        if isinstance(text, str):
            yield text
        parts = getattr(contents, "parts", None)
        if parts:
            yield from _texts(parts, depth + 1)


class Scrubber:
    """What one call must not export: its key(s) and, when content is not captured, its request's text."""

    __slots__ = ("secrets", "texts")

    def __init__(self, secrets: Iterable[str | None], texts: Iterable[str] = ()) -> None:
        found = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET}
        self.secrets = sorted(found, key=len, reverse=True)  # a key containing another goes first
        self.texts = [t for t in texts if len(t) >= MIN_RUN]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, semconv.REDACTED_API_KEY)
        return _without_runs(text, self.texts) if self.texts else text


def for_call(api_key: Any, contents: Any) -> Scrubber:
    """The scrubber of a call: its client's key plus the process's known keys; ``contents`` None when captured."""
    secrets = [api_key if isinstance(api_key, str) else None, _legacy_key()]
    secrets.extend(os.environ.get(name) for name in _ENV_KEYS)
    try:
        texts = list(_texts(contents))
    except Exception:  # an odd contents object: the key is still scrubbed
        texts = []
    return Scrubber(secrets, texts)


def _without_runs(message: str, texts: list[str]) -> str:
    """``message`` with every run of >= MIN_RUN characters shared with ``texts`` replaced by one marker.

    The message's MIN_RUN-grams are indexed (a message is short; a prompt can be megabytes). The first
    :data:`SCANNED_FULLY` characters of the texts are looked up at every position; past them, every MIN_RUN-th
    position, which still finds every shared run of 2 × MIN_RUN − 1 characters or more: each hit is then extended
    both ways, so an error path never pays more than a few tens of milliseconds for a huge prompt.
    """
    n = MIN_RUN
    if len(message) < n:
        return message
    grams: dict[str, list[int]] = {}
    for i in range(len(message) - n + 1):
        grams.setdefault(message[i:i + n], []).append(i)
    covered = bytearray(len(message))
    for text in texts:
        full = min(len(text), SCANNED_FULLY)
        for j in itertools.chain(range(full - n + 1), range(full, len(text) - n + 1, n)):
            hits = grams.get(text[j:j + n])
            for i in hits or ():
                start, end, back = i, i + n, j
                while start > 0 and back > 0 and message[start - 1] == text[back - 1]:
                    start, back = start - 1, back - 1
                ahead = j + n
                while end < len(message) and ahead < len(text) and message[end] == text[ahead]:
                    end, ahead = end + 1, ahead + 1
                covered[start:end] = b"\x01" * (end - start)
    if not any(covered):
        return message
    out: list[str] = []
    i = 0
    while i < len(message):
        if covered[i]:
            out.append(semconv.REDACTED_CONTENT)
            while i < len(message) and covered[i]:
                i += 1
        else:
            out.append(message[i])
            i += 1
    return "".join(out)


def record_exception(span: Any, error: BaseException, scrubber: Scrubber | None) -> None:
    """``span.record_exception`` with the message and stack scrubbed (the SDK's own would export them raw)."""
    if scrubber is None:
        scrubber = for_call(None, None)
    module = type(error).__module__
    qualname = type(error).__qualname__
    span.add_event(semconv.EXCEPTION_EVENT, {
        semconv.EXCEPTION_TYPE: f"{module}.{qualname}" if module and module != "builtins" else qualname,
        semconv.EXCEPTION_MESSAGE: scrubber(str(error)),
        semconv.EXCEPTION_STACKTRACE: scrubber("".join(traceback.format_exception(type(error), error,
                                                                                  error.__traceback__))),
        semconv.EXCEPTION_ESCAPED: "False",
    })


def rpc_error(parsed: Any, scrubber: Scrubber) -> Any:
    """A parsed google.rpc error (billing/quota.py) with every string it exports scrubbed of the key: quota ids
    become span attributes and the ``gemini_quota_id`` label, dimensions and reasons span attributes."""
    if not scrubber.secrets:
        return parsed
    clean = key_only(scrubber)
    violations = tuple(
        replace(v, quota_id=clean(v.quota_id), metric=clean(v.metric),
                dimensions=tuple((clean(k), clean(d)) for k, d in v.dimensions),
                value=clean(v.value) if v.value is not None else None)
        for v in parsed.violations
    )
    return replace(parsed, message=clean(parsed.message), violations=violations,
                   reasons=tuple(clean(r) for r in parsed.reasons))


def key_only(scrubber: Scrubber) -> Scrubber:
    """The same keys, no content: labels and quota ids are ids, not prose."""
    return Scrubber(scrubber.secrets)
