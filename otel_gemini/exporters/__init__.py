"""Exported: the recorder's aggregates as Prometheus exposition and as OpenTelemetry metrics."""
