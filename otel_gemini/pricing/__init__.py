"""The cost engine: price table data, schema, lookups and billing rules (no OpenTelemetry, no SDK)."""
