"""Test-only fakes (not shipped): OTLP receiver, gRPC Gemini, google.rpc quota bodies."""
