"""The otel-gemini agent: receives OTLP GenAI spans from apps in any language and prices them."""
