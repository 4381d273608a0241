"""The API key never reaches a span, a metric or a log line; prompts and responses stay out unless opted in."""

from __future__ import annotations

import json
import logging

from conftest import API_KEY
from prometheus_client import REGISTRY, generate_latest

from otel_gemini.testing import Reply, error, quota_exceeded, response, stream, usage

MODEL = "gemini-2.5-flash"
PROMPT = "my secret prompt about project nightingale"
ANSWER = "the confidential answer"


def test_nothing_exported_or_logged_contains_the_key_or_content(fake, client, telemetry, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx's included
    fake.push(
        Reply(body=response(ANSWER, model_version=MODEL, usage_metadata=usage(prompt=10, candidates=5))),
        Reply(chunks=stream([ANSWER, "!"], model_version=MODEL)),
        Reply(status=429, body=quota_exceeded()),
        Reply(status=500, body=error(500, "INTERNAL", "boom")),
        Reply(body=response(ANSWER, model_version="gemini-unknown-x", usage_metadata=usage(prompt=10, candidates=5))),
    )
    client.models.generate_content(model=MODEL, contents=PROMPT)
    list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    for model in (MODEL, MODEL, "gemini-unknown-x"):
        try:
            client.models.generate_content(model=model, contents=PROMPT)
        except Exception:
            pass

    exported = []
    for span in telemetry.spans():
        exported.append(span.to_json())
    exported.append(generate_latest(REGISTRY).decode())
    data = telemetry.metric_reader.get_metrics_data()
    exported.append(data.to_json() if data else "")
    exported.append("\n".join(record.getMessage() for record in caplog.records))
    exported.append(caplog.text)
    everything = "\n".join(exported)
    assert len(telemetry.spans()) == 5
    assert API_KEY not in everything
    assert PROMPT not in everything
    assert ANSWER not in everything
    assert fake.requests[0].headers["x-goog-api-key"] == API_KEY  # the key really was sent: the scan is meaningful
    json.loads(telemetry.spans()[0].to_json())
