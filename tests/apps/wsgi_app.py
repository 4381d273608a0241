"""A WSGI app with no telemetry code, for tests/exporters/test_multiprocess.py: served by a real gunicorn with several
workers, instrumented either by ``opentelemetry-instrument gunicorn`` (in the master, before fork) or by the
``when_ready`` hook of gunicorn_conf.py (the with-code path).

Every request makes one google-genai ``generate_content`` call against MP_BASE_URL (the test's FakeGemini) and
answers with the serving worker's pid, so the test can see the load spread over workers.
"""

import json
import os

from google import genai
from google.genai import types

_client = None


def _gemini() -> genai.Client:
    """One client per worker, created after fork (a connection pool must not be shared across processes)."""
    global _client
    if _client is None:
        options = types.HttpOptions(base_url=os.environ["MP_BASE_URL"])
        _client = genai.Client(api_key=os.environ["MP_API_KEY"], http_options=options)
    return _client


def app(environ, start_response):  # type: ignore[no-untyped-def]
    reply = _gemini().models.generate_content(model="gemini-2.5-flash", contents="hello")
    body = json.dumps({"pid": os.getpid(), "text": reply.text}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
