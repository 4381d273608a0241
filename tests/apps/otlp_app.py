"""An app with no OpenTelemetry setup of its own, configured by standard environment variables only.

tests/exporters/test_otlp_export.py runs it in a fresh process (OTel's global providers are set once per process) with
OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL, OTEL_SERVICE_NAME and OTEL_METRIC_EXPORT_INTERVAL, and google-genai's
own GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL pointing at the test's FakeGemini. otel_gemini.instrument() must
then install OTLP-exporting SDK providers itself. The app never flushes or shuts anything down: what reaches the
receiver at exit is what the providers' atexit shutdown pushes.

The calls, in order (the test queues the matching replies on the fake):
1. generate_content            -> 1,000 prompt + 500 candidate tokens
2. generate_content_stream     -> 100 prompt + 40 candidate tokens (final chunk)
3. count_tokens                -> the fake's default countTokens answer
4. generate_content            -> 429 RESOURCE_EXHAUSTED with a QuotaFailure (caught: the app carries on)
"""

from __future__ import annotations

import os
import time

from google import genai
from google.genai import errors

import otel_gemini

MODEL = "gemini-2.5-flash"


def main() -> None:
    otel_gemini.instrument()
    client = genai.Client()  # GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL
    client.models.generate_content(model=MODEL, contents="hi")
    for _chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
        pass
    client.models.count_tokens(model=MODEL, contents="how many tokens is this")
    try:
        client.models.generate_content(model=MODEL, contents="hi")
    except errors.APIError:
        pass
    # Outlive a few export intervals, so at least one periodic export happens before the one at exit.
    time.sleep(3 * float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "0")) / 1000)


if __name__ == "__main__":
    main()
