"""SDK call: wrappers around the Gemini SDKs' methods, one module per surface."""
