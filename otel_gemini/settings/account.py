"""The account's books, built from settings: one recorder and one pricer, configured the same way for the
instrumented app and for the agent (same labels, same limits, same prices), so their metrics are one contract.
"""

from __future__ import annotations

import calendar

from otel_gemini import _guard, semconv
from otel_gemini.pricing import cache, whatif
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.pricing.watch import TableWatcher
from otel_gemini.recording import Recorder
from otel_gemini.settings import limits
from otel_gemini.settings.config import Settings, parse_billing_tier, parse_metric_labels


def set_limits(recorder: Recorder, settings: Settings) -> None:
    """Declared rate limits and the spend limits of the billing tier, as gauges (docs/quota.md)."""
    declared = limits.parse_limits(settings.limits)
    cap = limits.parse_cap(settings.spend_cap_usd) if settings.spend_cap_usd else None
    if settings.limits_file:
        from_file, file_cap = limits.load_file(settings.limits_file)
        declared = {**from_file, **declared}  # the variable wins over the file, as everywhere
        cap = cap if cap is not None else file_cap
    tier, _overrides = parse_billing_tier(settings.billing_tier)
    for kind, key, value in limits.gauges(declared, tier, cap):
        recorder.set_gauge(semconv.QUOTA_LIMIT if kind == "quota" else semconv.SPEND_LIMIT, key, value)


def cache_dir(settings: Settings) -> str:
    return settings.prices_cache_dir or str(cache.default_dir())


def load_table(settings: Settings) -> cache.Loaded:
    """The newest valid table of the cache directory (the bundled one as the floor), the override file merged over."""
    return cache.resolve(cache_dir(settings), settings.prices_path)


def use_table(recorder: Recorder, pricer: Pricer, loaded: cache.Loaded) -> None:
    """Price with ``loaded`` from now on: one reference assignment, so a call never waits for a swap."""
    pricer.table = loaded.table
    recorder.set_gauge(semconv.PRICE_TABLE_CHECKED, (), float(calendar.timegm(loaded.checked_on.timetuple())))
    recorder.replace_gauge(
        semconv.PRICE_TABLE_INFO, {(loaded.checked_on.isoformat(), loaded.digest[:12], loaded.origin): 1.0},
    )


def books(
    settings: Settings, loaded: cache.Loaded, extra_labels: tuple[str, ...] = (),
) -> tuple[Recorder, Pricer]:
    """The recorder (labels, caps, project, limits, price-table date) and the pricer (plan, tuned models, markup).

    ``extra_labels`` join the attribution labels on the call metrics: the agent's ``gemini.estimate``.
    """
    pricer = Pricer(
        loaded.table, billing_tier=settings.billing_tier, tuned_models=settings.tuned_models,
        grounding_allowance=settings.grounding_allowance, markup=settings.markup,
    )
    pricer.whatif = whatif.parse(settings.whatif, settings.whatif_models, settings.whatif_cache_ratio)
    for scenario in pricer.whatif:
        if scenario.model is not None and pricer.resolve(scenario.model)[0] is None:
            _guard.warn_once(
                f"whatif-model:{scenario.model}", "otel-gemini: the what-if model %r is not in the price table; its "
                "scenario counts every response at its actual cost (no saving).", scenario.model,
            )
    recorder = Recorder(  # known_model reads pricer.table each time, so a model a new table adds gets its label
        model_label_limit=settings.model_label_limit, known_model=lambda m: pricer.table.normalize(m) is not None,
        attribution_keys=parse_metric_labels(settings.metric_labels) + extra_labels,
        label_value_limit=settings.label_value_limit, combination_limit=settings.label_combination_limit,
        system_keys=extra_labels,
    )
    recorder.project = settings.project
    set_limits(recorder, settings)
    use_table(recorder, pricer, loaded)
    return recorder, pricer


def watch_table(settings: Settings, recorder: Recorder, pricer: Pricer, loaded: cache.Loaded) -> TableWatcher | None:
    """The reload thread (pricing/watch.py), started; None when OTEL_GEMINI_PRICES_RELOAD_SECONDS is 0."""
    if not settings.prices_reload_seconds:
        return None
    return TableWatcher(
        cache_dir(settings), settings.prices_path, settings.prices_reload_seconds, loaded,
        lambda new: use_table(recorder, pricer, new),
    ).start()
