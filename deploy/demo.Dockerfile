# The instrumented demo workload of the compose stack (deploy/compose/docker-compose.yaml), built from this repository:
#   docker build -f deploy/demo.Dockerfile -t otel-gemini-demo:local .
# `otel-gemini demo` is a real google-genai app instrumented by otel-gemini, talking to the fake Gemini endpoint of
# otel_gemini.testing on loopback inside the container: no API key, no network, no spend. It serves /metrics on
# 9464 and, with --loop, makes a few more calls every few seconds (and now and then a 429 burst), so Prometheus
# rates, the dashboards and the alerts have live data.
#
# Versions: google-genai and the OpenTelemetry/Prometheus packages are pinned to what CI tests (the `==` lines of
# requirements/genai3.txt and test-base.txt, used as *constraints* only: the test tools they list are not
# installed; `pip -c requirements/genai3.txt` would not do, its nested `-r` would install them).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otel_gemini ./otel_gemini
COPY requirements/genai3.txt requirements/test-base.txt ./requirements/
RUN grep -hE '^[A-Za-z0-9_.-]+==' requirements/genai3.txt requirements/test-base.txt > /tmp/pins.txt \
    && pip install --no-cache-dir -c /tmp/pins.txt . google-genai \
    && cd / && rm -rf /src /tmp/pins.txt
WORKDIR /
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["otel-gemini", "demo"]
CMD ["--host", "0.0.0.0", "--port", "9464", "--loop", "5"]
