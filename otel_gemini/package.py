"""What BaseInstrumentor checks before instrumenting (and what `opentelemetry-instrument` skips without).

otel-gemini instruments google-genai and the deprecated google-generativeai SDK. pyproject.toml follows the
instrumentation convention: the ``instruments`` extra names google-genai (what ``opentelemetry-instrument``'s
dependency check reads, and all ``pip install 'otel-gemini[instruments]'`` installs); the legacy SDK has an extra
of its own (``legacy``) so nobody gets it by accident. ``BaseInstrumentor.instrument()`` checks
``instrumentation_dependencies()``: ``_instruments`` names the one SDK installed in range (google-genai first),
computed at import, so ``otel_gemini.instrument()`` works in an app that has only the legacy SDK.
"""

from __future__ import annotations

from collections.abc import Callable

from packaging.requirements import Requirement

_GENAI = "google-genai >= 2.0.0"
_LEGACY = "google-generativeai >= 0.8.0"
_instruments_any = (_GENAI, _LEGACY)


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def pick(installed: Callable[[str], str | None] = _installed) -> tuple[str, ...]:
    """The requirement to check: the first SDK installed in range; with none, google-genai's (reported missing)."""
    for spec in _instruments_any:
        requirement = Requirement(spec)
        found = installed(requirement.name)
        if found is not None and requirement.specifier.contains(found, prereleases=True):
            return (spec,)
    return (_GENAI,)


_instruments = pick()
