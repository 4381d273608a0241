"""``python -m otel_gemini.cli``: the same ``otel-gemini`` command, for environments without the console script."""

import sys

from otel_gemini.cli import main

sys.exit(main())
