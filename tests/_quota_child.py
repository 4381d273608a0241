"""One instrumented "replica" for tests/monitoring/test_prometheus_e2e.py: a real client calling a FakeGemini over HTTP.

Usage: python tests/_quota_child.py <fake base url>. It serves /metrics on a free loopback port, prints
"port N", then for each line N read from stdin makes N generate_content calls and prints "done N"; it exits
at end of input.
"""

from __future__ import annotations

import sys

import otel_gemini


def main() -> int:
    base_url = sys.argv[1]
    instrumentor = otel_gemini.instrument(
        prometheus_port=0, prometheus_host="127.0.0.1", limits="gemini-2.5-flash:rpm=100,rpd=1000", project="acme",
    )
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="test-key-DO-NOT-LEAK-7f3c9a", http_options=types.HttpOptions(base_url=base_url))
    print(f"port {instrumentor.prometheus_port}", flush=True)
    for line in sys.stdin:
        count = int(line)
        for _ in range(count):
            client.models.generate_content(model="gemini-2.5-flash", contents="hello")
        print(f"done {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
