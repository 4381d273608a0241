"""Dashboard "Gemini / Cost": what is being spent, where it goes, what caching saves, and whether the bill is whole.

Month and budget panels read the shared recording rules of prometheus/rules.yaml (the alerts read the same
series, so a dashboard and a page never disagree); they are per project, so only the project filter applies to them.
"""

from __future__ import annotations

from _grafana import Dashboard, bargauge, grown, sel, stat, table, timeseries

COST = "gemini_cost_usd_total"
TOKENS = "gemini_tokens_total"
REQUESTS = "gemini_requests_total"
RI = "$__rate_interval"
CACHE_READ_TOKENS = 'gen_ai_token_type="cache_read"'
UNCACHED_INPUT_TOKENS = 'gen_ai_token_type=~"input|tool_use"'  # both bill at the input rate
PROMPT_TOKENS = 'gen_ai_token_type=~"input|cache_read|tool_use"'
INPUT_COST = 'gemini_cost_type="input"'
CACHE_READ_COST = 'gemini_cost_type="cache_read"'
CACHE_COST = 'gemini_cost_type=~"cache_write|cache_storage"'
UNACCOUNTED = 'gemini_pricing_status=~"unpriced|unmetered"'


def rule(name: str) -> str:
    """A per-project (or per-project-and-model) recorded series, filtered like the raw ones."""
    return sel(name)


def named(expr: str, label: str) -> str:
    """Calls outside an attributes() block carry an empty feature/tenant: show them as "(none)", not a blank."""
    return f'label_replace({expr}, "{label}", "(none)", "{label}", "")'


# Spend since midnight Pacific. PromQL ranges are literals and Grafana's `now/d` is midnight in the browser's
# time zone, so neither gives the Pacific day quota and billing use. Instead: this month's spend now minus this
# month's spend at the last minute of a previous Pacific day of the same month (the recorded calendar says which
# day each minute belonged to; `@ end()` pins "today" to the query time). On the 1st, or when Prometheus holds no
# earlier day of the month, nothing is subtracted: today = the month so far.
CALENDAR = rule("project:gemini_pacific_calendar:current")
MONTH = rule("project:gemini_cost_usd:pacific_month")
TODAY = f"""{MONTH}
- on (gemini_project) (
    max_over_time((
        {MONTH}
      and on (gemini_project) (
          {CALENDAR}
        and on (gemini_project, gemini_pacific_month) {CALENDAR} @ end()
        unless on (gemini_project, gemini_pacific_day) {CALENDAR} @ end()
      )
    )[25h:1m])
  or on (gemini_project)
    0 * {MONTH}
)"""


def cache_savings(window: str, rate: bool = False) -> str:
    """Gross savings of cache hits, per model and modality: cached tokens at the model's observed uncached input
    price (input dollars / input+tool-use tokens) minus what the cached tokens cost. grown() over a range gives
    dollars (exactly the window's tokens and dollars); `rate` gives dollars per second (the price ratio is the same
    either way)."""
    by = "sum by (gen_ai_request_model, gen_ai_token_modality)"
    on = "on (gen_ai_request_model, gen_ai_token_modality)"

    def amount(series: str) -> str:
        return f"rate({series}[{window}])" if rate else grown(series, window)

    cached = f"{by} ({amount(sel(TOKENS, CACHE_READ_TOKENS))})"
    input_usd = f"{by} ({amount(sel(COST, INPUT_COST))})"
    input_tokens = f"{by} ({amount(sel(TOKENS, UNCACHED_INPUT_TOKENS))})"
    cached_usd = f"{by} ({amount(sel(COST, CACHE_READ_COST))})"
    return (f"(\n  {cached}\n  * {on} ({input_usd} / {on} ({input_tokens} > 0))\n)\n"
            f"- {on}\n  {cached_usd}")


def build() -> Dashboard:
    d = Dashboard("otel-gemini-cost", "Gemini / Cost",
                  "Gemini spend priced by otel-gemini: now, today and this month (Pacific), against the budget, "
                  "by model, feature, tenant and cost type; cache savings; calls left out of the bill.",
                  ["otel-gemini", "gemini", "cost"])

    d.row("Spend: now, today, this month")
    d.add(
        stat("Spend now", "How fast is money going out right now? Dollars per hour at the last 5 minutes' rate, "
             "every replica summed, for the selected job, project, model, feature and tenant.",
             [(f"sum(rate({sel(COST)}[5m])) * 3600", "$/h")], unit="currencyUSD", w=3, decimals=2, sparkline=True),
        stat("Spend in range", "How much did the selection cost over the dashboard's time range? Each cost "
             "series' growth over $__range (last value minus the value at the start; all of it for a series born "
             "inside the range), summed over the series matching the filters (pick 'Today so far' for today in "
             "your browser's time zone; the next panel is the Pacific day).",
             [(f"sum({grown(sel(COST))})", "spent")], unit="currencyUSD", w=3, decimals=2),
        stat("Spend today (Pacific)", "How much has the project spent since midnight Pacific (the day Gemini's "
             "quotas and billing use)? This month's spend now minus this month's spend at the last minute of an "
             "earlier Pacific day, read from the recorded calendar (25h subquery, 1-minute steps, so exact to about "
             "a minute). On the 1st, or before Prometheus has recorded an earlier day of this month, it shows the "
             "month so far. Per project: the model, feature, tenant and job filters do not apply. Computed at the "
             "time range's end.", [(TODAY, "{{gemini_project}}")], unit="currencyUSD", w=3, decimals=2),
        stat("Spend this month (Pacific)", "How much has the project spent this Pacific calendar month? "
             "project:gemini_cost_usd:pacific_month (every replica's month counter, replicas that stopped "
             "included while Prometheus retains them). Per project only.",
             [(MONTH, "{{gemini_project}}")], unit="currencyUSD", w=3, decimals=2),
        stat("Month-end projection", "Where will the month land if the last 6 hours' spend rate holds? Spend this "
             "month + rate over 6h x seconds left in the Pacific month (project:gemini_cost_usd:month_end_projection)."
             " Per project only.", [(rule("project:gemini_cost_usd:month_end_projection"), "{{gemini_project}}")],
             unit="currencyUSD", w=3, decimals=2),
        stat("Monthly budget", "What is the project's monthly budget? OTEL_GEMINI_SPEND_CAP_USD (or spend_cap_usd "
             "in the limits file), the highest any replica declares. Empty when none is declared.",
             [(rule("project:gemini_spend_limit_usd:project_month"), "{{gemini_project}}")],
             unit="currencyUSD", w=3, decimals=2),
        stat("Budget left", "How much of the monthly budget is left this Pacific month? Budget - spend this month; "
             "negative once exceeded (project:gemini_budget:remaining_usd).",
             [(rule("project:gemini_budget:remaining_usd"), "{{gemini_project}}")], unit="currencyUSD", w=3,
             decimals=2, thresholds=[(None, "red"), (0, "green")]),
        stat("Projection / budget", "Will the month end over budget at the current pace? Month-end projection "
             "divided by the monthly budget: over 100% means yes (alert GeminiMonthlyBudgetProjectedOverrun).",
             [(f"{rule('project:gemini_cost_usd:month_end_projection')}\n/ on (gemini_project)\n"
               f"{rule('project:gemini_spend_limit_usd:project_month')}", "{{gemini_project}}")],
             unit="percentunit", w=3, decimals=0, thresholds=[(None, "green"), (0.8, "orange"), (1, "red")]),
    )
    d.add(
        timeseries("Spend rate vs affordable rate", "Is the project spending faster than its budget allows? Spend "
                   "in $/h over 5 minutes against the rate that would use exactly the budget left by the end of the "
                   "Pacific month. Per project: only the project filter applies.",
                   [(f"{rule('project:gemini_cost_usd:rate5m')} * 3600", "{{gemini_project}} spend"),
                    (f"{rule('project:gemini_budget:remaining_usd')}\n/ on (gemini_project)\n"
                     f"{rule('project:gemini_pacific_month:remaining_seconds')} * 3600",
                     "{{gemini_project}} affordable")], unit="currencyUSD", w=12),
        timeseries("Budget burn rate", "How many times faster than the budget allows is money going? 1 = the "
                   "month lands on the budget; the burn-rate alert pages above 14.4 (1h and 5m) and warns above 6 "
                   "(6h and 30m). Only while budget is left.",
                   [(rule("project:gemini_budget:burn_rate1h"), "{{gemini_project}} 1h"),
                    (rule("project:gemini_budget:burn_rate6h"), "{{gemini_project}} 6h")],
                   w=12, thresholds=[(None, "green"), (1, "orange"), (6, "red")], minimum=0),
    )

    d.row("Where the money goes")
    rate_by = "sum by ({}) (rate({}[{}])) * 3600"
    d.add(
        timeseries("Spend by model ($/h)", "Which models cost the most? Dollars per hour by requested model, "
                   "stacked.", [(rate_by.format("gen_ai_request_model", sel(COST), RI), "{{gen_ai_request_model}}")],
                   unit="currencyUSD", stack=True, w=12),
        timeseries("Spend by cost type ($/h)", "What part of the calls costs: uncached input, cache reads, "
                   "output, reasoning (thinking), cache writes and storage, grounding, media (per image / second)?",
                   [(rate_by.format("gemini_cost_type", sel(COST), RI), "{{gemini_cost_type}}")],
                   unit="currencyUSD", stack=True, w=12),
        timeseries("Spend by feature ($/h)", "Which product feature spends the money? The feature given to "
                   "otel_gemini.attributes(); (none) = calls outside any attributes() block.",
                   [(named(rate_by.format("feature", sel(COST), RI), "feature"), "{{feature}}")],
                   unit="currencyUSD", stack=True, w=12),
        timeseries("Spend by tenant ($/h)", "Which customer (tenant) drives the spend? (none) = calls without a "
                   "tenant attribute.", [(named(rate_by.format("tenant", sel(COST), RI), "tenant"), "{{tenant}}")],
                   unit="currencyUSD", stack=True, w=12),
    )
    inc_by = "sort_desc(sum by ({}) ({}))"
    d.add(
        bargauge("Spend by model in range", "Which models cost the most over the time range?",
                 [(inc_by.format("gen_ai_request_model", grown(sel(COST))), "{{gen_ai_request_model}}")],
                 unit="currencyUSD", decimals=2),
        bargauge("Spend by cost type in range", "How does the range's spend split by cost type?",
                 [(inc_by.format("gemini_cost_type", grown(sel(COST))), "{{gemini_cost_type}}")], unit="currencyUSD",
                 decimals=2),
        table("Spend by feature and tenant in range", "Who spent what over the time range, per feature and "
              "tenant pair?",
              [(named(named(inc_by.format("feature, tenant", grown(sel(COST))), "feature"), "tenant"), "")],
              unit="currencyUSD", w=8, decimals=4),
    )
    d.add(
        timeseries("Spend by service tier ($/h)", "How much is served at standard, flex, priority or batch "
                   "prices (the tier as served, not as asked)?",
                   [(rate_by.format("gemini_service_tier", sel(COST), RI), "{{gemini_service_tier}}")],
                   unit="currencyUSD", stack=True, w=12),
        timeseries("Free tier at paid-tier prices ($/h)", "What would the free-tier calls cost on the paid tier? "
                   "(gemini_cost_paid_tier_equivalent_usd_total; free calls cost $0 in the spend panels.)",
                   [(rate_by.format("gen_ai_request_model", sel("gemini_cost_paid_tier_equivalent_usd_total"), RI),
                     "{{gen_ai_request_model}}")], unit="currencyUSD", stack=True, w=12),
    )

    d.row("Cache savings")
    savings = ("How much did cache hits save? Estimate: cached prompt tokens x the model's uncached input price "
               "as observed in the window (input dollars / input + tool-use tokens, per model and modality), minus "
               "what the cached tokens cost. Approximate: the observed input price averages service tiers, the "
               ">200k long-context rate and free-tier calls ($0) over the window; a model with cache hits but no "
               "uncached input in the window shows no saving. Gross: explicit caches' write and storage costs are "
               "the next panel.")
    d.add(
        stat("Cache savings in range", savings, [(f"sum(\n{cache_savings('$__range')}\n)", "saved")],
             unit="currencyUSD", w=6, h=8, decimals=2),
        timeseries("Cache savings by model ($/h)", savings,
                   [(f"sum by (gen_ai_request_model) (\n{cache_savings(RI, rate=True)}\n) * 3600",
                     "{{gen_ai_request_model}}")],
                   unit="currencyUSD", stack=True, w=6),
        timeseries("Explicit cache cost ($/h)", "What do explicit context caches cost to create and keep? "
                   "cache_write and cache_storage dollars per hour by model (compare with the savings).",
                   [(rate_by.format("gen_ai_request_model, gemini_cost_type",
                                    sel(COST, CACHE_COST), RI),
                     "{{gen_ai_request_model}} {{gemini_cost_type}}")], unit="currencyUSD", stack=True, w=6),
        timeseries("Prompt tokens served from cache", "How much of the prompt is served from cache? cache_read "
                   "tokens / all prompt tokens (uncached input + cache reads + tool use), by model.",
                   [(f"sum by (gen_ai_request_model) (rate({sel(TOKENS, CACHE_READ_TOKENS)}[{RI}]))\n"
                     f"/\nsum by (gen_ai_request_model) (rate({sel(TOKENS, PROMPT_TOKENS)}[{RI}]))",
                     "{{gen_ai_request_model}}")], unit="percentunit", w=6, minimum=0, maximum=1),
    )

    whatif_row(d)

    d.row("Is the bill complete?")
    d.add(
        timeseries("Unpriced and unmetered calls (per minute)", "Which calls are missing from the spend? "
                   "unpriced: the price table does not know the model or operation (never counted as $0; update "
                   "the table or OTEL_GEMINI_PRICES); unmetered: the response carried no usage.",
                   [(f"sum by (gemini_pricing_status, gen_ai_request_model) (rate("
                     f"{sel(REQUESTS, UNACCOUNTED)}[{RI}])) * 60",
                     "{{gemini_pricing_status}} {{gen_ai_request_model}}")], stack=True, w=8),
        table("Unpriced and unmetered calls in range", "Which models and operations went unpriced or unmetered "
              "over the time range, and how often?",
              [(f"sum by (gemini_pricing_status, gen_ai_request_model, gen_ai_operation_name) ("
                f"{grown(sel(REQUESTS, UNACCOUNTED))})", "")],
              w=8, decimals=0),
        timeseries("Calls by pricing status (per second)", "What share of calls is priced, free, unbilled "
                   "(failed or free operations), unpriced or unmetered?",
                   [(f"sum by (gemini_pricing_status) (rate({sel(REQUESTS)}[{RI}]))", "{{gemini_pricing_status}}")],
                   unit="reqps", stack=True, w=8),
    )
    return d


WHATIF = "gemini_whatif_cost_usd_total"
ACTUAL = 'gemini_whatif="actual"'
SCENARIOS = 'gemini_whatif!="actual"'


def whatif_row(d: Dashboard) -> None:
    """What the same traffic would have cost on Batch, Flex, with a cached prefix or a cheaper model
    (OTEL_GEMINI_WHATIF; prometheus/runbook.md "Reading the what-if savings"). Every scenario is compared with
    `actual`, the real bill of the same responses; scenarios are never summed with each other or with the spend."""
    d.row("What-if savings")
    about = ("What would the same responses have cost another way? Each priced response re-billed by the same "
             "rules (long-context cliff included) on Batch, on Flex, with OTEL_GEMINI_WHATIF_CACHE_RATIO of its "
             "input read from cache, or on each model of OTEL_GEMINI_WHATIF_MODELS. 'actual' is their real bill. "
             "Empty unless OTEL_GEMINI_WHATIF / OTEL_GEMINI_WHATIF_MODELS are set.")
    actual = f"scalar(sum({grown(sel(WHATIF, ACTUAL))}))"
    d.add(
        bargauge("What-if cost in range", about, [(f"sum by (gemini_whatif) ({grown(sel(WHATIF))})",
                                                   "{{gemini_whatif}}")], unit="currencyUSD", w=8, decimals=2),
        bargauge("What-if saving in range", "How much would each scenario have saved over the time range? "
                 "actual minus the scenario (negative: it would have cost more).",
                 [(f"{actual} - sum by (gemini_whatif) ({grown(sel(WHATIF, SCENARIOS))})", "{{gemini_whatif}}")],
                 unit="currencyUSD", w=8, decimals=2),
        timeseries("What-if cost ($/h)", about,
                   [(f"sum by (gemini_whatif) (rate({sel(WHATIF)}[{RI}])) * 3600", "{{gemini_whatif}}")],
                   unit="currencyUSD", w=8),
    )
