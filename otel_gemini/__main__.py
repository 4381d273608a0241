"""``python -m otel_gemini``: the ``otel-gemini`` command, for environments without the console script on PATH."""

import sys

from otel_gemini.cli import main

if __name__ == "__main__":
    sys.exit(main())
