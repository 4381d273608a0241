"""Tuned models: learn which base model a tuned model bills as, from the metadata the app already fetches.

A tuned model's id (``tunedModels/…``, a Vertex ``…/endpoints/123``) is not in the price table; it bills at
its base model's rate (Developer API) or 1.5× it (Vertex). The base model is in the tuning job
(``tunings.get``/``tune``: ``base_model`` and ``tuned_model.model``/``.endpoint``) and in ``models.get`` of a tuned
model (``tuned_model_info.base_model``). These wrappers only read those results — no span, no request of our own —
and tell the pricer; ``OTEL_GEMINI_TUNED_MODELS`` covers apps that never fetch them.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from otel_gemini import _guard
from otel_gemini.instrumentation import _kit
from otel_gemini.instrumentation._telemetry import Telemetry

_METHODS = (
    ("google.genai.tunings", "Tunings.get", False),
    ("google.genai.tunings", "Tunings.tune", False),
    ("google.genai.tunings", "AsyncTunings.get", True),
    ("google.genai.tunings", "AsyncTunings.tune", True),
    ("google.genai.models", "Models.get", False),
    ("google.genai.models", "AsyncModels.get", True),
)


def learn(telemetry: Telemetry, result: Any) -> None:
    """Tell the pricer what a tuning job or tuned Model says about its base model."""
    try:
        pricer = telemetry.pricer
        info = getattr(result, "tuned_model_info", None)
        if info is not None and getattr(info, "base_model", None):
            pricer.learn_tuned(getattr(result, "name", None), info.base_model)
        base = getattr(result, "base_model", None)
        tuned = getattr(result, "tuned_model", None)
        if base and tuned is not None:
            pricer.learn_tuned(getattr(tuned, "model", None), base)
            pricer.learn_tuned(getattr(tuned, "endpoint", None), base)
    except Exception as failure:
        _guard.report("tuning", failure)


def instrument(telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Read the results of the methods above; a method this SDK lacks is skipped quietly (it is no call to bill)."""
    seen = _kit.After(functools.partial(learn, telemetry), "tuning")

    def open_learn(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _kit.After:
        return seen

    return _kit.wrap_all([(module_name, qualname, _kit.wrapper(open_learn, is_async))
                          for module_name, qualname, is_async in _METHODS if _present(module_name, qualname)])


def _present(module_name: str, qualname: str) -> bool:
    class_name, method = qualname.split(".")
    return hasattr(getattr(importlib.import_module(module_name), class_name, None), method)
