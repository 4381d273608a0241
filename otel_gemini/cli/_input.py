"""What every command does with bad input: one line on stderr saying what and where, exit status 2, no traceback."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import IO, Any, NoReturn

from otel_gemini.pricing import pacific


class BadInput(Exception):
    """The one line to print (it names the command) before exiting 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def day(value: str | None, command: str) -> float:
    """Noon Pacific of a YYYY-MM-DD day (clear of any boundary), or now."""
    if not value:
        return time.time()
    try:
        return pacific.noon(date.fromisoformat(value))
    except ValueError:
        raise BadInput(f"otel-gemini {command}: --at {value!r} is not a YYYY-MM-DD day") from None


def markup(text: str) -> Decimal:
    """A positive multiplier (argparse type)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(0)
    if not (value.is_finite() and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number such as 1.15, not {text!r}")
    return value


def read_json(name: str, command: str, stdin: IO[str] | None = None) -> Any:
    """A JSON file, or standard input for ``-``."""
    where = "standard input" if name == "-" else name
    try:
        if name == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as problem:
        raise BadInput(f"otel-gemini {command}: cannot read {where}: {problem.strerror or problem}") from None
    except UnicodeDecodeError:
        raise BadInput(f"otel-gemini {command}: {where} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as problem:
        raise BadInput(f"otel-gemini {command}: {where} is not JSON ({problem})") from None
