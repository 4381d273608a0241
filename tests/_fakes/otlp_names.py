"""The name an OTLP metric gets in Prometheus after the Collector (or Prometheus's own OTLP receiver) translates it.

A transcription, for tests, of the normalisation the OpenTelemetry Collector's `prometheus` and
`prometheusremotewrite` exporters apply with metric suffixes on (their default), which Prometheus 3's OTLP receiver
and Mimir share (the `otlptranslator` rules, `UnderscoreEscapingWithSuffixes`): the specification's "OTLP metric
points to Prometheus" section. Rules, in order:

1. the name is split into tokens at every character that is not a letter or digit (dots and underscores alike);
2. the unit, split at "/": a main unit containing "{" or "}" (a UCUM annotation) adds nothing; otherwise it is
   mapped (s→seconds, By→bytes, ...) and appended unless a token already equals it; likewise "per_<unit>";
3. a monotonic sum drops every "total" token and ends with "total";
4. a gauge whose unit is exactly "1" drops every "ratio" token and ends with "ratio";
5. tokens are joined with "_".
"""

from __future__ import annotations

import re

_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tebibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def _clean(text: str) -> str:
    return "_".join(token for token in re.split(r"[^A-Za-z0-9]+", text) if token)


def collector_prometheus_name(name: str, unit: str, kind: str) -> str:
    """``kind`` is "counter" (monotonic sum), "gauge", "histogram" or "updowncounter"."""
    tokens = [token for token in re.split(r"[^A-Za-z0-9]+", name) if token]
    main, _, per = unit.strip().partition("/")
    main, per = main.strip(), per.strip()
    if main and "{" not in main and "}" not in main:
        suffix = _clean(_UNITS.get(main, main))
        if suffix and suffix not in tokens:
            tokens.append(suffix)
    if per and "{" not in per and "}" not in per:
        suffix = _clean(_PER_UNITS.get(per, per))
        if suffix and suffix not in tokens:
            tokens += ["per", suffix]
    if kind == "counter":
        tokens = [token for token in tokens if token != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]
    return "_".join(tokens)
