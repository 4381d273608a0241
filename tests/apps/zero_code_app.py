"""An app with no telemetry code at all, for tests/instrumentation/test_zero_code.py: run as
``opentelemetry-instrument python zero_code_app.py``; everything about otel-gemini comes from the environment.

It makes one google-genai call (gemini-2.5-flash), one google-genai stream (gemini-2.5-flash-lite), and one
legacy google-generativeai call (gemini-2.5-flash) when that SDK is importable, against ZERO_CODE_BASE_URL;
then prints READY and waits for a line on stdin so the test can scrape /metrics while the process lives.
"""

import os
import sys
import warnings

from google import genai
from google.genai import types

BASE_URL = os.environ["ZERO_CODE_BASE_URL"]
KEY = os.environ["ZERO_CODE_API_KEY"]

client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=BASE_URL))
print("genai:", client.models.generate_content(model="gemini-2.5-flash", contents="hello").text, flush=True)
text = "".join(
    c.text or "" for c in client.models.generate_content_stream(model="gemini-2.5-flash-lite", contents="hi")
)
print("stream:", text, flush=True)

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import google.generativeai as legacy
except ImportError:
    legacy = None
if legacy is not None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy.configure(api_key=KEY, transport="rest", client_options={"api_endpoint": BASE_URL})
        print("legacy:", legacy.GenerativeModel("gemini-2.5-flash").generate_content("hello").text, flush=True)

print("READY", flush=True)
sys.stdin.readline()
