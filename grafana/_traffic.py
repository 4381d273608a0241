"""Dashboard "Gemini / Traffic & quota": calls, tokens, latency, errors, 429s, quota and spend-limit headroom, retries.

Headroom panels read the recording rules of prometheus/rules.yaml, which add up every replica before comparing
with the declared limits (a process alone only sees its own calls); see docs/quota.md.
"""

from __future__ import annotations

from _grafana import Dashboard, bargauge, grown, sel, table, timeseries

REQUESTS = "gemini_requests_total"
TOKENS = "gemini_tokens_total"
DURATION = "gen_ai_client_operation_duration_seconds_bucket"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
TOKEN_USAGE = "gen_ai_client_token_usage_bucket"
ATTEMPTS = "gemini_http_attempts_total"
QUOTA = "gemini_quota_exceeded_total"
RI = "$__rate_interval"
NOT_LIVE = 'gen_ai_operation_name!="live_session"'  # whole Live sessions, not calls: they would swamp latency
FAILED = 'error_type!=""'
RETRIED = 'gemini_attempt_outcome="retried"'
HEADROOM = [(None, "red"), (0.2, "orange"), (0.5, "green")]


def quantiles(metric: str, matchers: tuple[str, ...] = (), by: str = "") -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram, each a query of its own."""
    series = sel(metric, *matchers)
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({series}[{RI}])))", f"p{round(q * 100)}{suffix}")
            for q in (0.5, 0.95, 0.99)]


def headroom(name: str, label: str) -> tuple[str, str]:
    return (sel(f"project_model:gemini_{name}:headroom_ratio"), f"{{{{gen_ai_request_model}}}} {label}")


def build() -> Dashboard:
    d = Dashboard("otel-gemini-traffic", "Gemini / Traffic & quota",
                  "Gemini calls, tokens, latency and errors; 429s by quota; quota and spend-limit headroom across "
                  "every replica; HTTP attempts and retries.", ["otel-gemini", "gemini", "quota"])

    d.row("Calls and tokens")
    d.add(
        timeseries("Calls by model (per second)", "How many SDK calls per second, to which model? Every call "
                   "counts once, failed ones included; retries inside one call do not.",
                   [(f"sum by (gen_ai_request_model) (rate({sel(REQUESTS)}[{RI}]))", "{{gen_ai_request_model}}")],
                   unit="reqps", stack=True, w=8),
        timeseries("Calls by operation (per second)", "Which SDK operations are called: generate_content, "
                   "embeddings, caches, batches, files, Live sessions...?",
                   [(f"sum by (gen_ai_operation_name) (rate({sel(REQUESTS)}[{RI}]))", "{{gen_ai_operation_name}}")],
                   unit="reqps", stack=True, w=8),
        timeseries("Tokens per call (p95)", "How big are prompts and answers? p95 of input tokens (prompt incl. "
                   "cached and tool use) and output tokens (candidates + thinking) per call.",
                   [(f"histogram_quantile(0.95, sum by (le, gen_ai_token_type) (rate({sel(TOKEN_USAGE)}[{RI}])))",
                     "p95 {{gen_ai_token_type}}")], w=8),
    )
    d.add(
        timeseries("Tokens by type (per second)", "Where do the tokens go: uncached input, cache reads, tool "
                   "use, output, reasoning? The classes are disjoint (they sum to Google's totalTokenCount), so the "
                   "stack is the total.",
                   [(f"sum by (gen_ai_token_type) (rate({sel(TOKENS)}[{RI}]))", "{{gen_ai_token_type}}")],
                   stack=True, w=12),
        timeseries("Tokens by modality (per second)", "Which modalities are sent and generated: text, image, "
                   "audio, video, document?",
                   [(f"sum by (gen_ai_token_modality, gen_ai_token_type) (rate({sel(TOKENS)}[{RI}]))",
                     "{{gen_ai_token_modality}} {{gen_ai_token_type}}")], stack=True, w=12),
    )

    d.row("Latency")
    d.add(
        timeseries("Call duration p50 / p95 / p99", "How long do calls take, streams to their end? Live "
                   "sessions are left out (their duration is the whole session). The latency alert fires above "
                   "30 s at p95.", quantiles(DURATION, (NOT_LIVE,)), unit="s", w=8,
                   thresholds=[(None, "green"), (30, "red")]),
        timeseries("Call duration p95 by model", "Which model is slow? p95 call duration per requested model "
                   "(Live sessions excluded).", quantiles(DURATION, (NOT_LIVE,), "gen_ai_request_model")[1:2],
                   unit="s", w=8),
        timeseries("Time to first chunk p50 / p95 / p99", "How long until a stream's first chunk arrives "
                   "(generate_content_stream, legacy stream=True, interactions stream=True)?", quantiles(TTFC),
                   unit="s", w=8),
    )

    d.row("Errors")

    def errors(by: str) -> str:
        return f"sum by ({by}) (rate({sel(REQUESTS, FAILED)}[{RI}])) * 60"

    d.add(
        timeseries("Error ratio", "What share of calls fail? Failed calls (any error_type) / all calls. The "
                   "error-ratio alert fires above 5%.",
                   [(f"sum(rate({sel(REQUESTS, FAILED)}[{RI}]))\n/\nsum(rate({sel(REQUESTS)}[{RI}]))", "failed")],
                   unit="percentunit", w=8, minimum=0, thresholds=[(None, "green"), (0.05, "red")]),
        timeseries("Errors by type (per minute)", "Which errors: HTTP status (429, 500, 503...) or the "
                   "exception class (httpx.ReadTimeout...)?", [(errors("error_type"), "{{error_type}}")],
                   stack=True, w=8),
        timeseries("Errors by google.rpc status (per minute)", "What did Google's error body say: "
                   "RESOURCE_EXHAUSTED, UNAVAILABLE, INVALID_ARGUMENT...? Empty = no google.rpc body.",
                   [(errors("gemini_rpc_status"), "{{gemini_rpc_status}}")], stack=True, w=8),
    )

    d.row("429s and quota headroom")
    d.add(
        timeseries("429s by quota (violations per minute)", "Which quota refuses calls? One count per QuotaFailure "
                   "violation of a 429, by Google's quota id (per minute / per day, free or paid tier).",
                   [(f"sum by (gemini_quota_id) (rate({sel(QUOTA)}[{RI}])) * 60", "{{gemini_quota_id}}")],
                   stack=True, w=12, bars=True),
        table("429s by quota in range", "Which model hit which quota over the time range, and how often?",
              [(f"sum by (gen_ai_request_model, gemini_quota_id, gemini_quota_unit, gemini_quota_window, "
                f"gemini_quota_tier) ({grown(sel(QUOTA))})", "")], w=12, decimals=0),
    )
    d.add(
        timeseries("RPM headroom", "How close is each model to its declared requests-per-minute limit? 1 - "
                   "calls per minute / limit, all replicas: 1 = idle, 0 = at the limit, below 0 = over. Only models "
                   "with a declared limit (OTEL_GEMINI_LIMITS).", [headroom("rpm", "rpm")], unit="percentunit", w=8,
                   thresholds=HEADROOM),
        timeseries("TPM headroom", "How close is each model to its declared input-tokens-per-minute limit "
                   "(uncached input + cache reads + tool use)?", [headroom("tpm", "tpm")], unit="percentunit", w=8,
                   thresholds=HEADROOM),
        timeseries("RPD headroom (Pacific day)", "How much of each model's declared requests-per-day limit is "
                   "left today? The day resets at midnight Pacific.", [headroom("rpd", "rpd")],
                   unit="percentunit", w=8, thresholds=HEADROOM),
    )

    d.row("Spend-limit headroom")
    spend_headroom = [
        (sel("project:gemini_spend_10m_billing_tier:headroom_ratio"), "{{gemini_project}} tier 10m"),
        (sel("project:gemini_spend_month_billing_tier:headroom_ratio"), "{{gemini_project}} tier month"),
        (sel("project:gemini_spend_month_project:headroom_ratio"), "{{gemini_project}} project budget"),
    ]
    d.add(
        bargauge("Spend-limit headroom now", "How far is the project from the billing tier's rolling 10-minute "
                 "spend limit, the tier's monthly cap (the account pauses at it) and its own monthly budget? 1 - "
                 "spend / limit; Pacific month. Per project only.", spend_headroom, unit="percentunit", decimals=0,
                 thresholds=HEADROOM, minimum=0, maximum=1),
        timeseries("Spend-limit headroom", "How has the headroom to each spend limit moved? (Same series as the "
                   "bars, over time.)", spend_headroom, unit="percentunit", w=8, thresholds=HEADROOM),
        timeseries("Spend in the rolling 10 minutes vs tier limit", "How much was spent in the last 10 minutes, "
                   "against the billing tier's 10-minute spend limit (OTEL_GEMINI_BILLING_TIER)?",
                   [(sel("project:gemini_cost_usd:increase10m"), "{{gemini_project}} spent"),
                    (sel("project:gemini_spend_limit_usd:billing_tier_10m"), "{{gemini_project}} limit")],
                   unit="currencyUSD", w=8),
    )

    d.row("HTTP attempts and retries")
    d.add(
        timeseries("HTTP attempts by status (per second)", "What did every HTTP attempt get back, the SDK's own "
                   "retries and continuation hops included? Empty status = no response (reset, timeout).",
                   [(f"sum by (http_response_status_code) (rate({sel(ATTEMPTS)}[{RI}]))",
                     "{{http_response_status_code}}")], unit="reqps", stack=True, w=8),
        timeseries("Retried attempts (per minute)", "Is the SDK retrying? Attempts followed by another attempt "
                   "of the same request, by the status that caused the retry.",
                   [(f"sum by (http_response_status_code, gemini_rpc_status) (rate({sel(ATTEMPTS, RETRIED)}[{RI}]))"
                     " * 60", "{{http_response_status_code}} {{gemini_rpc_status}}")], stack=True, w=8),
        timeseries("Retry ratio", "What share of HTTP attempts were retried? retried / all attempts.",
                   [(f"sum(rate({sel(ATTEMPTS, RETRIED)}[{RI}]))\n/\nsum(rate({sel(ATTEMPTS)}[{RI}]))", "retried")],
                   unit="percentunit", w=8, minimum=0),
    )
    d.add(
        timeseries("Priority requests served at standard (per minute)", "Are priority calls being downgraded? "
                   "Calls that asked for service_tier=priority and were served (and billed) at standard. No data "
                   "= none yet.",
                   [(f"sum by (gen_ai_request_model) (rate({sel('gemini_service_tier_downgrades_total')}[{RI}])) * 60",
                     "{{gen_ai_request_model}}")], w=24, h=6),
    )
    return d
