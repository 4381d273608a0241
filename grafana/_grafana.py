"""Builders for Grafana 11 dashboard JSON: variables, selectors, panels and a grid that places them.

Why generated rather than hand-edited JSON: the filters must reach every query (a panel that forgets `$tenant`
silently shows everyone's spend), panel ids must stay stable across edits, and
tests/monitoring/test_dashboards.py checks the
queries against docs/metrics.md. Stdlib only, so `python3 grafana/generate.py` runs anywhere.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 39  # Grafana 11.0 - 11.2 write 39; later 11.x migrate it on load
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}

# Grafana variable name -> Prometheus label it filters.
FILTERS: dict[str, str] = {
    "job": "job",
    "gemini_project": "gemini_project",
    "model": "gen_ai_request_model",
    "feature": "feature",
    "tenant": "tenant",
}

_CALL = ("job", "gemini_project", "model", "feature", "tenant")
_PROCESS = ("job", "gemini_project")
_PROCESS_MODEL = ("job", "gemini_project", "model")

# Which filters apply to which series: a gauge is never filtered by a label it lacks (the selector would match
# nothing as soon as a value is picked). Recording rules keep only gemini_project (and the model) and drop job.
SCOPES: dict[str, tuple[str, ...]] = {
    **{name: _CALL for name in (
        "gemini_cost_usd_total", "gemini_tokens_total", "gemini_requests_total", "gemini_http_attempts_total",
        "gemini_quota_exceeded_total", "gemini_grounding_units_total", "gemini_cost_paid_tier_equivalent_usd_total",
        "gemini_service_tier_downgrades_total", "gemini_whatif_cost_usd_total",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket", "gen_ai_client_token_usage_bucket",
    )},
    **{name: _PROCESS_MODEL for name in (
        "gemini_requests_pacific_day_total", "gemini_quota_limit", "gemini_cache_tokens",
        "gemini_batch_enqueued_tokens", "gemini_batch_jobs",
    )},
    **{name: _PROCESS for name in (
        "gemini_cost_pacific_month_usd_total", "gemini_spend_limit_usd", "gemini_pacific_calendar_info",
        "gemini_pacific_month_end_timestamp_seconds", "otel_gemini_internal_errors_total",
        "otel_gemini_label_overflow_total", "otel_gemini_price_table_checked_timestamp_seconds",
        "otel_gemini_price_table_info",
    )},
    **{name: ("job",) for name in (
        "otel_gemini_agent_spans_total", "otel_gemini_agent_requests_total",
        "otel_gemini_agent_requests_rejected_total", "otel_gemini_agent_span_gaps_total",
        "otel_gemini_agent_sampled_spans_total", "otel_gemini_agent_forward_total",
    )},
}


def scope(metric: str) -> tuple[str, ...]:
    """Filter variables a series takes; recording rules by their level (`project:` / `project_model:`)."""
    if metric in SCOPES:
        return SCOPES[metric]
    if metric.startswith("project_model:"):
        return ("gemini_project", "model")
    if metric.startswith("project:"):
        return ("gemini_project",)
    raise KeyError(f"{metric}: add it to SCOPES with the filters its labels allow")


# PromQL matchers every scraped series also gets (monitoring/config.py's `selector`, e.g. `job="gemini-app"`):
# set once by configure() before the dashboards are built; empty = every job.
SELECTOR = ""


def configure(selector: str) -> None:
    """Render for one installation (monitoring/generate.py calls it; grafana/generate.py keeps the default)."""
    global SELECTOR
    SELECTOR = selector


def sel(metric: str, *matchers: str) -> str:
    """`metric{<every filter its labels allow>, <the selector>, <matchers>}`: the one way a query names a series.
    Recording rules take no selector: prometheus/rules.yaml selected their inputs."""
    parts = [f'{FILTERS[var]}=~"${var}"' for var in scope(metric)]
    parts += [SELECTOR] if SELECTOR and metric in SCOPES else []
    return f"{metric}{{{', '.join(parts + list(matchers))}}}"


def grown(series: str, window: str = "$__range") -> str:
    """How much each counter series grew over `window`, exactly: its last value in the window minus its value at the
    window's start, or its whole last value when it was born inside the window (our counters appear at their first
    increment, from 0). increase() would extrapolate, and drop the first increment of every series born mid-range
    (a new model, tenant or replica), so "in range" dollars would not equal the spend. A series that died inside
    the window counts up to its last sample. Trade-off: a counter reset inside the window (a restart that keeps
    the same labels) falls back to the value since the reset, so it undercounts by what came before; a negative
    difference is never shown."""
    last = f"last_over_time({series}[{window}])"
    return f"(({last} - {series} offset {window}) >= 0 or {last})"


# ---------------------------------------------------------------------------------------------------- variables

def datasource_variable() -> dict[str, Any]:
    """Picks the default Prometheus data source on import and on file provisioning (no `__inputs` needed)."""
    return {
        "current": {}, "hide": 0, "includeAll": False, "label": "Data source", "multi": False,
        "name": "datasource", "options": [], "query": "prometheus", "refresh": 1, "regex": "",
        "skipUrlSync": False, "type": "datasource",
    }


def query_variable(name: str, label: str, query: str, description: str) -> dict[str, Any]:
    """A multi-select label_values() variable whose All is `.*`, so `=~"$var"` also matches empty values."""
    return {
        "allValue": ".*", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": dict(DATASOURCE), "definition": query, "description": description, "hide": 0,
        "includeAll": True, "label": label, "multi": True, "name": name, "options": [],
        "query": query,  # the plain-string form: every Grafana since 7 reads it (and 11 migrates it on edit)
        "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1, "type": "query",
    }


def variables() -> list[dict[str, Any]]:
    """The same six variables on every dashboard, each narrowing the next (job -> project -> model/feature/tenant)."""
    extra = [SELECTOR] if SELECTOR else []
    calls = "gemini_requests_total{" + ", ".join(['job=~"$job"', 'gemini_project=~"$gemini_project"'] + extra) + "}"
    jobs = "gemini_requests_total" + (f"{{{SELECTOR}}}" if SELECTOR else "")
    in_job = "gemini_requests_total{" + ", ".join(['job=~"$job"'] + extra) + "}"
    return [
        datasource_variable(),
        query_variable("job", "Job", f"label_values({jobs}, job)",
                       "Prometheus scrape job of the instrumented apps or agents."),
        query_variable("gemini_project", "Project", f"label_values({in_job}, gemini_project)",
                       "OTEL_GEMINI_PROJECT: the Google Cloud project whose quotas and caps apply."),
        query_variable("model", "Model", f"label_values({calls}, gen_ai_request_model)",
                       "gen_ai_request_model: the model id as the app asked for it."),
        query_variable("feature", "Feature", f"label_values({calls}, feature)",
                       "otel_gemini.attributes(feature=...): call metrics only."),
        query_variable("tenant", "Tenant", f"label_values({calls}, tenant)",
                       "otel_gemini.attributes(tenant=...): call metrics only."),
    ]


# ------------------------------------------------------------------------------------------------------- panels

EXEMPLIFIED = ("gemini_cost_usd_total", "gemini_tokens_total", "gen_ai_client_operation_duration_seconds_bucket")
"""Raw series that carry trace exemplars (docs/metrics.md "Exemplars"); recorded rules carry none."""


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    """A Prometheus query; instant for stats, bar gauges and tables (one value per series, at the range end).

    A graph of a series with exemplars shows them (a point per traced call, linking to its trace through the
    datasource's exemplarTraceIdDestinations, deploy/grafana/provisioning/datasources/prometheus.yaml)."""
    query: dict[str, Any] = {
        "datasource": dict(DATASOURCE), "editorMode": "code", "expr": expr, "instant": instant,
        "legendFormat": legend or "__auto", "range": not instant, "refId": ref,
    }
    if not instant and any(name in expr for name in EXEMPLIFIED):
        query["exemplar"] = True
    return query


def _targets(queries: list[tuple[str, str]], instant: bool) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i), instant) for i, (expr, legend) in enumerate(queries)]


def _defaults(unit: str, decimals: int | None, thresholds: list[tuple[float | None, str]] | None,
              minimum: float | None, maximum: float | None) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"color": {"mode": "thresholds" if thresholds else "palette-classic"},
                                "thresholds": {"mode": "absolute", "steps": steps}, "unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return defaults


def timeseries(title: str, description: str, queries: list[tuple[str, str]], unit: str = "short",
               stack: bool = False, w: int = 12, h: int = 8, decimals: int | None = None,
               thresholds: list[tuple[float | None, str]] | None = None, minimum: float | None = None,
               maximum: float | None = None, bars: bool = False) -> dict[str, Any]:
    """A graph over the dashboard range; stacked when the series are disjoint parts of one total."""
    defaults = _defaults(unit, decimals, thresholds, minimum, maximum)
    if thresholds:
        defaults["color"] = {"mode": "palette-classic"}
    defaults["custom"] = {
        "drawStyle": "bars" if bars else "line", "fillOpacity": 30 if (stack or bars) else 10, "lineWidth": 1,
        "showPoints": "never", "spanNulls": False, "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "dashed" if thresholds else "off"},
    }
    return {
        "datasource": dict(DATASOURCE), "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "bottom",
                               "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": _targets(queries, instant=False), "title": title, "type": "timeseries", "_size": (w, h),
    }


def stat(title: str, description: str, queries: list[tuple[str, str]], unit: str = "short", w: int = 4,
         h: int = 5, decimals: int | None = None, thresholds: list[tuple[float | None, str]] | None = None,
         sparkline: bool = False) -> dict[str, Any]:
    """One number per series, now (instant query)."""
    return {
        "datasource": dict(DATASOURCE), "description": description,
        "fieldConfig": {"defaults": _defaults(unit, decimals, thresholds, None, None), "overrides": []},
        "options": {"colorMode": "value", "graphMode": "area" if sparkline else "none", "justifyMode": "auto",
                    "orientation": "auto", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": "value_and_name", "wideLayout": True},
        "targets": _targets(queries, instant=True), "title": title, "type": "stat", "_size": (w, h),
    }


def bargauge(title: str, description: str, queries: list[tuple[str, str]], unit: str = "short", w: int = 8,
             h: int = 8, decimals: int | None = None, thresholds: list[tuple[float | None, str]] | None = None,
             minimum: float | None = None, maximum: float | None = None) -> dict[str, Any]:
    """Series ranked side by side, now (instant query): the 'which one is it' panels."""
    return {
        "datasource": dict(DATASOURCE), "description": description,
        "fieldConfig": {"defaults": _defaults(unit, decimals, thresholds, minimum, maximum), "overrides": []},
        "options": {"displayMode": "gradient", "maxVizHeight": 300, "minVizHeight": 16, "minVizWidth": 8,
                    "namePlacement": "auto", "orientation": "horizontal",
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "showUnfilled": True, "sizing": "auto", "valueMode": "color"},
        "targets": _targets(queries, instant=True), "title": title, "type": "bargauge", "_size": (w, h),
    }


def table(title: str, description: str, queries: list[tuple[str, str]], unit: str = "short", w: int = 12,
          h: int = 8, decimals: int | None = None) -> dict[str, Any]:
    """Label sets and their value now, one row per series (instant query, Prometheus 'table' format)."""
    panel = {
        "datasource": dict(DATASOURCE), "description": description,
        "fieldConfig": {"defaults": _defaults(unit, decimals, None, None, None), "overrides": []},
        "options": {"cellHeight": "sm", "showHeader": True, "sortBy": [{"desc": True, "displayName": "Value"}]},
        "targets": _targets(queries, instant=True), "title": title, "type": "table", "_size": (w, h),
        "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
    }
    for t in panel["targets"]:
        t["format"] = "table"
    return panel


# ------------------------------------------------------------------------------------------------ layout, output

class Dashboard:
    """Rows of panels placed left to right on Grafana's 24-column grid; ids in insertion order (stable)."""

    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = self._row_h = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        """A (non-collapsed) row header; the panels added after it belong to it."""
        self._newline()
        self.panels.append({"collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                            "id": self._next_id(), "panels": [], "title": title, "type": "row"})
        self._y += 1

    def _newline(self) -> None:
        self._y += self._row_h
        self._x = self._row_h = 0

    def add(self, *panels: dict[str, Any]) -> None:
        for panel in panels:
            w, h = panel.pop("_size")
            if self._x + w > 24:
                self._newline()
            panel["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
            panel["id"] = self._next_id()
            self._x += w
            self._row_h = max(self._row_h, h)
            self.panels.append(panel)

    def json(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
                "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
            }]},
            "description": self.description, "editable": True, "fiscalYearStartMonth": 0, "graphTooltip": 1,
            "id": None, "links": links, "panels": self.panels, "refresh": "1m", "schemaVersion": SCHEMA_VERSION,
            "tags": self.tags, "templating": {"list": variables()}, "time": {"from": "now-6h", "to": "now"},
            "timepicker": {}, "timezone": "browser", "title": self.title, "uid": self.uid, "version": 1,
            "weekStart": "",
        }
