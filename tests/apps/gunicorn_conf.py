"""gunicorn config for the with-code path (docs/deployment.md): instrument in the master before the workers fork.

``when_ready`` runs in the master once its sockets are bound and before the first worker is forked, so the
/metrics port is bound once, by the master, and every worker inherits the instrumentation. The environment
gives PROMETHEUS_MULTIPROC_DIR and OTEL_GEMINI_PROMETHEUS_PORT; the master serves the merged view.
"""

import otel_gemini


def when_ready(server):  # type: ignore[no-untyped-def]
    otel_gemini.instrument()
