# The otel-gemini agent image, built from this repository (illustrative; not built by the test suite):
#   docker build -f deploy/agent.Dockerfile -t otel-gemini-agent:local .
# Once otel-gemini is on PyPI, `RUN pip install --no-cache-dir "otel-gemini[agent]"` replaces the COPY lines.
# The [agent] extra is needed: the agent's receivers and forwarder use grpcio, opentelemetry-proto, the SDK and
# the OTLP exporters, which the base install (OpenTelemetry API only) does not pull in.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otel_gemini ./otel_gemini
RUN pip install --no-cache-dir ".[agent]" && cd / && rm -rf /src
WORKDIR /
USER 10001:10001
EXPOSE 4317 4318 9464
ENTRYPOINT ["otel-gemini", "agent"]
CMD ["--host", "0.0.0.0"]
