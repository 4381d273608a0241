"""Price tables for the update and reload tests: the bundled one, and copies dated later with one model repriced."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from otel_gemini.pricing import pacific
from otel_gemini.pricing.table import _bundled

REPO = Path(__file__).resolve().parent.parent
MODEL = "gemini-2.5-flash"


def bundled_checked_on() -> date:
    return date.fromisoformat(_bundled()["checked_on"])


def table(days_after_bundled: int = 30, factor: Decimal = Decimal(1), model: str = MODEL) -> dict[str, Any]:
    """The bundled table dated ``days_after_bundled`` later, with the Developer API token rates of ``model``
    in force today (standard tier) multiplied by ``factor``."""
    raw = copy.deepcopy(_bundled())
    raw["checked_on"] = (bundled_checked_on() + timedelta(days=days_after_bundled)).isoformat()
    if factor != 1:
        today = pacific.pacific_date(time.time())
        for period in raw["models"][model]["periods"]:
            start = date.fromisoformat(period["effective_from"])
            end = date.fromisoformat(period["effective_to"]) if period.get("effective_to") else date.max
            if period.get("platform", "gemini") == "gemini" and start <= today < end:
                for key in ("input", "output", "cache_read"):
                    if key in period["standard"]:
                        period["standard"][key] = _scaled(period["standard"][key], factor)
    return raw


def _scaled(rate: Any, factor: Decimal) -> Any:
    if isinstance(rate, str):
        return str(Decimal(rate) * factor)
    return {k: str(Decimal(v) * factor) for k, v in rate.items()}


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return path


def cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``otel-gemini …`` as a user runs it: a process of its own, this worktree's package."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_GEMINI_")}
    environ.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run([sys.executable, "-m", "otel_gemini.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=environ, cwd=REPO)
