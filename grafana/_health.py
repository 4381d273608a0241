"""Dashboard "otel-gemini / Health": can the numbers on the other dashboards be trusted?

Price table age, otel-gemini's own errors and label overflow, what every replica declares (limits, calendar), and
the agent's self-metrics (docs/agent.md). Counters that only exist after their first event show "No data" until
then; the stats add `or vector(0)` so that a healthy system reads 0.
"""

from __future__ import annotations

from _grafana import Dashboard, grown, sel, stat, table, timeseries

RI = "$__rate_interval"
DAY = 86400
INTERNAL = "otel_gemini_internal_errors_total"
OVERFLOW = "otel_gemini_label_overflow_total"
PRICES = "otel_gemini_price_table_checked_timestamp_seconds"
TABLE_INFO = "otel_gemini_price_table_info"


def agent(metric: str, by: str, per: str = "second") -> tuple[str, str]:
    scale = " * 60" if per == "minute" else ""
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return (f"sum by ({by}) (rate({sel(metric)}[{RI}])){scale}", legend)


def build() -> Dashboard:
    d = Dashboard("otel-gemini-health", "otel-gemini / Health",
                  "Is otel-gemini itself healthy: price table age, internal errors, label overflow, declared limits "
                  "and calendar per replica, and the agent's own counters.", ["otel-gemini", "health"])

    d.row("Price table")
    d.add(
        stat("Price table age", "How old are the prices? Time since the price table was last compared with "
             "Google's pricing pages (its checked_on day), oldest per job. The stale-price-table alert fires past "
             "45 days: run `otel-gemini prices update` (no restart needed) or upgrade otel-gemini.",
             [(f"time() - min by (job) ({sel(PRICES)})", "{{job}}")], unit="s", w=6, h=6, decimals=0,
             thresholds=[(None, "green"), (30 * DAY, "orange"), (45 * DAY, "red")]),
        stat("Price tables per job", "Do all replicas run the same table? Distinct price tables (by digest) the "
             "processes of each job price with now: 1 = all the same. Above 1 for 30 minutes fires "
             "GeminiPriceTablesDiffer (a `prices update` that reached some replicas only, differing override "
             "files, mixed versions).",
             [(f"count by (job) (count by (job, digest) ({sel(TABLE_INFO)}))", "{{job}}")], w=6, h=6, decimals=0,
             thresholds=[(None, "green"), (2, "red")]),
        table("Which table each replica runs", "Per instance: the price table's checked_on day, digest (SHA-256 "
              "prefix of the table in force) and origin (bundled, cache = installed by `otel-gemini prices "
              "update`, +override = an OTEL_GEMINI_PRICES file merged over it).",
              [(f"max by (job, instance, gemini_project, checked_on, digest, origin) ({sel(TABLE_INFO)})", "")],
              w=12, h=6),
    )

    d.row("otel-gemini's own errors")
    d.add(
        stat("Internal errors in range", "Did otel-gemini fail anywhere while measuring? Internal errors over the "
             "time range (never raised into the app; each is logged once per component and error type). Non-zero "
             "= some calls may be missing from the metrics.",
             [(f"sum({grown(sel(INTERNAL))}) or vector(0)", "errors")], w=4, h=8, decimals=0,
             thresholds=[(None, "green"), (1, "red")]),
        timeseries("Internal errors by component (per minute)", "Which part of otel-gemini failed: a hook "
                   "(start, response, stream...), the price table, the exporter, an operation? A flat 0 = none.",
                   [(f"sum by (component) (rate({sel(INTERNAL)}[{RI}])) * 60 or vector(0)", "{{component}}")],
                   stack=True, w=8),
        stat("Label values overflowed in range", "Did a label hit its cap? Values replaced by _other over the "
             "time range (model ids, quota ids, feature/tenant values past OTEL_GEMINI_METRIC_LABELS limits). "
             "Non-zero = per-value breakdowns lump some values together.",
             [(f"sum({grown(sel(OVERFLOW))}) or vector(0)", "overflowed")], w=4, h=8, decimals=0,
             thresholds=[(None, "green"), (1, "orange")]),
        timeseries("Label overflow by label (per minute)", "Which label's values are being replaced by _other?",
                   [(f"sum by (label) (rate({sel(OVERFLOW)}[{RI}])) * 60 or vector(0)", "{{label}}")],
                   stack=True, w=8),
    )

    d.row("What the replicas declare")
    d.add(
        table("Declared quota limits", "Which request and token limits did each job declare "
              "(OTEL_GEMINI_LIMITS)? The headroom panels compare against the highest per project and model.",
              [(f"max by (job, gemini_project, gen_ai_request_model, gemini_quota_unit, gemini_quota_window) "
                f"({sel('gemini_quota_limit')})", "")], w=9),
        table("Declared spend limits", "Which spend limits apply: the billing tier's 10-minute and monthly ones "
              "(OTEL_GEMINI_BILLING_TIER) and the project's monthly budget (OTEL_GEMINI_SPEND_CAP_USD)?",
              [(f"max by (job, gemini_project, gemini_spend_window, gemini_spend_scope) "
                f"({sel('gemini_spend_limit_usd')})", "")], unit="currencyUSD", w=9),
        table("Pacific calendar per job", "Do the replicas agree on today's Pacific day and month? (A replica "
              "whose clock is off starts its day early or late.)",
              [(f"count by (job, gemini_project, gemini_pacific_day, gemini_pacific_month) "
                f"({sel('gemini_pacific_calendar_info')})", "")], w=6),
    )
    d.add(
        stat("Time left in the Pacific month", "How long until the Pacific month (and its spend caps) resets? "
             "Per project.", [(sel("project:gemini_pacific_month:remaining_seconds"), "{{gemini_project}}")],
             unit="s", w=6, h=5, decimals=0),
    )

    d.row("otel-gemini agent")
    d.add(
        timeseries("Agent spans by outcome (per second)", "What does the agent do with the spans it receives: "
                   "priced, unpriced, ignored (not Gemini inference), already_priced (the app priced them), "
                   "rejected? Agent jobs only.", [agent("otel_gemini_agent_spans_total", "outcome")],
                   stack=True, w=8),
        timeseries("Agent OTLP requests accepted (per second)", "How many OTLP export requests does the agent "
                   "accept, over gRPC and HTTP?", [agent("otel_gemini_agent_requests_total", "transport")],
                   unit="reqps", stack=True, w=8),
        timeseries("Agent OTLP requests rejected (per minute)", "Is the agent refusing exports: bad token, too "
                   "large, undecodable, shutting down?",
                   [agent("otel_gemini_agent_requests_rejected_total", "transport, reason", "minute")],
                   stack=True, w=8),
    )
    d.add(
        timeseries("Agent span gaps (per minute)", "What could a sender's span dialect not tell the agent? "
                   "Priced spans that lacked something a billing rule needs (grounding, tool use, tier...), by "
                   "dialect and gap.",
                   [agent("otel_gemini_agent_span_gaps_total", "dialect, gap", "minute")], stack=True, w=8),
        timeseries("Agent sampled spans (per minute)", "How many priced spans carried a sampling probability, "
                   "their dollars weighted by 1/p?",
                   [agent("otel_gemini_agent_sampled_spans_total", "dialect", "minute")], stack=True, w=8),
        timeseries("Agent forwarding (per minute)", "Are exports passed on downstream (--forward-otlp-endpoint): "
                   "sent, failed, or dropped because the queue was full? No data = forwarding is off.",
                   [agent("otel_gemini_agent_forward_total", "outcome", "minute")], stack=True, w=8),
    )
    return d
