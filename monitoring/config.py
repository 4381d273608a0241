"""The one place the monitoring mixin is configured, like kubernetes-mixin's `_config`.

Rules, alerts, dashboards and the Kubernetes objects are all rendered from `Config` by monitoring/generate.py. The
committed files (prometheus/*.yaml, grafana/dashboards/, deploy/kubernetes/monitoring/) are the rendering of
`DEFAULT`; `python3 monitoring/generate.py --selector ... --out DIR` renders them for your setup.
"""

from __future__ import annotations

from dataclasses import dataclass

# GitHub's anchor of each `## AlertName` section of prometheus/runbook.md is the lower-cased alert name.
RUNBOOK_URL_PATTERN = "https://github.com/otel-gemini/otel-gemini/blob/main/prometheus/runbook.md#%s"


@dataclass(frozen=True)
class Config:
    """What differs between installations.

    selector: PromQL matchers added to every selector of an otel-gemini series that Prometheus scrapes (the
      recording rules' inputs, the alerts' raw series, the dashboards' queries and their Job list), e.g.
      `job="gemini-app"` or `job=~"otel-gemini-agent|my-app"` (kubernetes-mixin's `jobSelector`). Empty by
      default: every job, since otel-gemini's metric names are its own.
    runbook_url_pattern: each alert's runbook_url, `%s` being the lower-cased alert name (`runbookURLPattern`).
    namespace: the Kubernetes namespace of the kustomize base's objects.
    sidecar_pod_labels, sidecar_namespaces: the labels and namespaces of the app pods that run the agent as a
      sidecar (the PodMonitor's selector); the defaults are deploy/kubernetes/sidecar.yaml's example app.
    """

    selector: str = ""
    runbook_url_pattern: str = RUNBOOK_URL_PATTERN
    namespace: str = "observability"
    sidecar_pod_labels: tuple[tuple[str, str], ...] = (("app.kubernetes.io/name", "my-gemini-app"),)
    sidecar_namespaces: tuple[str, ...] = ("my-app",)

    def runbook_url(self, alert: str) -> str:
        return self.runbook_url_pattern.replace("%s", alert.lower())


DEFAULT = Config()
