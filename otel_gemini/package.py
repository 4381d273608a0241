"""What BaseInstrumentor checks before instrumenting (and what `opentelemetry-instrument` skips without).

otel-gemini instruments google-genai and the legacy google-generativeai SDK: either one is enough. The
auto-instrumentation loader reads the ``instruments-any`` extra in pyproject.toml (any one satisfies it);
``BaseInstrumentor.instrument()`` checks ``instrumentation_dependencies()``, which requires *all* it names, so
``_instruments`` names the one SDK that is installed in range (google-genai first), computed at import.
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
