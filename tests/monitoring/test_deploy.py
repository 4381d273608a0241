"""deploy/ checked without a container runtime (deploy/README.md, "What tests/monitoring/test_deploy.py checks"): each
file by the tool that reads it (promtool, amtool, Compose 1.29's `config`, kubernetes-validate's bundled Kubernetes
schemas), every path, port, name and flag one file expects of another must exist, and the agent and demo command
lines start.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate as kv
import pytest
import yaml

from otel_gemini import cli
from otel_gemini.settings import config
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes" / "agent.yaml"
SIDECAR = DEPLOY / "kubernetes" / "sidecar.yaml"
COMPOSE = DEPLOY / "compose" / "docker-compose.yaml"
PIPELINE = DEPLOY / "compose" / "pipeline.yaml"
COLLECTOR = DEPLOY / "collector" / "otel-collector.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "otel-gemini.yaml"
DOCKERFILE, DEMO_DOCKERFILE = DEPLOY / "agent.Dockerfile", DEPLOY / "demo.Dockerfile"
YAML_FILES = (K8S, SIDECAR, COMPOSE, PIPELINE, COLLECTOR, PROMETHEUS, ALERTMANAGER, DATASOURCES, DASHBOARD_PROVIDERS)
AGENT_FLAGS = {flag for flag, *_ in cli._AGENT_FLAGS} | {"--prices"}
TOKEN_ENV = {"OTEL_GEMINI_AGENT_BEARER_TOKEN": "deploy-test-token"}


def _text(path: Path) -> str: return path.read_text(encoding="utf-8")  # noqa: E704


def _load(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(_text(path)) if doc is not None]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_GEMINI", "GRAFANA_", "COMPOSE_"))}
    return subprocess.run(argv, cwd="/", capture_output=True, text=True, timeout=120, env={**base, **(env or {})})


# -- Prometheus, Alertmanager: their own checkers -----------------------------------------------------------------

def test_promtool_check_config() -> None:
    result = _run([require_tool("promtool"), "check", "config", str(PROMETHEUS)])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # The rule files are found relative to prometheus.yml and checked too.
    assert "2 rule files found" in out, out
    for name in ("rules.yaml", "alerts.yaml"):
        assert f"Checking {ROOT / 'prometheus' / name}" in out and "SUCCESS" in out, (name, out)


def test_amtool_check_config() -> None:
    result = _run([require_tool("amtool"), "check-config", str(ALERTMANAGER)])
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    (alertmanager,) = _load(ALERTMANAGER)
    # The documented placeholder: a webhook receiver that never resolves, and every route delivering somewhere.
    receivers = {r["name"]: r for r in alertmanager["receivers"]}
    assert receivers["webhook"]["webhook_configs"][0]["url"].startswith("http://alert-webhook.example.invalid/")
    assert {r["receiver"] for r in [alertmanager["route"], *alertmanager["route"]["routes"]]} <= set(receivers)


# -- Compose ------------------------------------------------------------------------------------------------------

def _compose(*files: Path, env: dict[str, str] | None = None, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [require_tool("docker-compose")] + [a for f in files for a in ("-f", str(f))] + ["config"]
    return _run(argv + (["-q"] if quiet else []), env)


def test_compose_config_accepts_every_file() -> None:
    """Compose 1.29 (Debian's) validates each file and the overlay; the monitoring stack needs no variable."""
    for files, env in (((COMPOSE,), None), ((PIPELINE,), TOKEN_ENV), ((COMPOSE, PIPELINE), TOKEN_ENV)):
        done = _compose(*files, env=env)
        assert done.returncode == 0, (files, done.stderr)
    refused = _compose(PIPELINE)  # the agents never run without a token by accident
    assert refused.returncode != 0 and "export OTEL_GEMINI_AGENT_BEARER_TOKEN first" in refused.stderr


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a resolved service's bind mounts (1.29 prints `src:dst:mode` strings)."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                out[volume["target"]] = Path(volume["source"])
        elif volume.startswith("/"):
            source, target = volume.split(":")[:2]
            out[target] = Path(source)
    return out


def _config_file(service: dict[str, Any]) -> str:
    return next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config.file="))


def _resolved() -> dict[str, Any]:
    done = _compose(COMPOSE, PIPELINE, env=TOKEN_ENV, quiet=False)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def test_compose_paths_ports_and_images() -> None:
    services = _resolved()
    assert set(services) == {"demo", "prometheus", "alertmanager", "grafana", "collector", "agent-1", "agent-2",
                             "jaeger"}
    for name, service in services.items():
        for target, source in _mounts(service).items():
            assert source.exists(), (name, target, source)
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"]["dockerfile"]).is_file(), name
        image = service["image"]
        assert re.search(r":v?\d+\.\d+", image) or image.endswith(":local"), (name, image)  # pinned, never latest
    published = {int(p["published"] if isinstance(p, dict) else p.split(":")[0])
                 for s in services.values() for p in s.get("ports", [])}
    assert {3000, 9090, 9093, 9464, 4317, 4318, 16686} <= published
    assert services["grafana"]["image"].startswith("grafana/grafana:11.")

    # prometheus.yml's rule_files resolve, relative to where it is mounted, to mounts of the same repository files.
    mounts, config_in_container = _mounts(services["prometheus"]), _config_file(services["prometheus"])
    assert mounts[config_in_container] == PROMETHEUS
    (prometheus,) = _load(PROMETHEUS)
    for rule_file in prometheus["rule_files"]:
        in_container = os.path.normpath(PurePosixPath(config_in_container).parent / rule_file)
        assert mounts[in_container] == (PROMETHEUS.parent / rule_file).resolve(), rule_file
    assert _mounts(services["alertmanager"])[_config_file(services["alertmanager"])] == ALERTMANAGER
    # Prometheus reaches the demo, Alertmanager and (by their shared alias) the agents under their compose names.
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["otel-gemini-demo"]["static_configs"][0]["targets"] == ["demo:9464"]
    assert services["demo"]["command"][-4:] == ["--port", "9464", "--loop", "5"]
    (agents,) = jobs["otel-gemini-agent"]["dns_sd_configs"]
    assert agents["names"] == [services["collector"]["environment"]["AGENTS_HOSTNAME"]]
    assert agents["port"] == 9464
    assert all(agents["names"][0] in services[a]["networks"]["default"]["aliases"] for a in ("agent-1", "agent-2"))
    assert services["agent-1"]["command"] == services["agent-2"]["command"]  # merged from x-agent


def test_grafana_provisioning() -> None:
    """The datasource points at the compose Prometheus; the dashboard provider at the mounted grafana/dashboards."""
    services = _resolved()
    ((source,),) = (d["datasources"] for d in _load(DATASOURCES))
    assert (source["type"], source["isDefault"], source["url"]) == ("prometheus", True, "http://prometheus:9090")
    assert any((str(p["published"]), p["target"]) == ("9090", 9090) for p in services["prometheus"]["ports"])
    ((provider,),) = (d["providers"] for d in _load(DASHBOARD_PROVIDERS))
    assert provider["type"] == "file"
    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning/datasources"] == DATASOURCES.parent
    assert grafana["/etc/grafana/provisioning/dashboards"] == DASHBOARD_PROVIDERS.parent
    dashboards = grafana[provider["options"]["path"]]
    assert dashboards == ROOT / "grafana" / "dashboards"
    home = PurePosixPath(services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == PurePosixPath(provider["options"]["path"]) and (dashboards / home.name).is_file()
    files = sorted(dashboards.glob("*.json"))
    assert files, f"no dashboard JSON in {dashboards}"
    for path in files:
        dashboard = json.loads(_text(path))
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", path  # Grafana's datasource-picker variable
        assert variables["datasource"]["query"] == "prometheus", path
        # File provisioning fills no import inputs: a ${DS_...} left in would be a broken datasource.
        assert "${DS_" not in _text(path), path


# -- Kubernetes ---------------------------------------------------------------------------------------------------

def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    """Offline, strict (unknown fields are errors), against the oldest version native sidecars need and the newest."""
    docs = [d for path in (K8S, SIDECAR) for d in _load(path)]
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap",
                                         "NetworkPolicy"}
    for version in ("1.29.0", kv.latest_version()):
        for doc in docs:
            kv.validate(doc, version, strict=True)
    # The check is not vacuous: a misspelt field and a wrong type are refused.
    for mutate in (lambda c: c.update(readOnlyRootFs=True), lambda c: c["ports"][0].update(containerPort="4317")):
        broken = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
        mutate(broken["spec"]["template"]["spec"]["containers"][0])
        with pytest.raises(kv.ValidationError):
            kv.validate(broken, kv.latest_version(), strict=True)


def test_kubernetes_pods_are_hardened_and_probed() -> None:
    for name, pod in ((d["metadata"]["name"], d["spec"]["template"]) for path in (K8S, SIDECAR) for d in _load(path)
                      if d["kind"] == "Deployment"):
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9464", name
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = (name, container["name"])
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], where
            assert container["readinessProbe"] and container["livenessProbe"], where


def test_kubernetes_agent_deployment_and_sidecar_shape() -> None:
    kinds = {d["kind"]: d for d in _load(K8S)}
    assert set(kinds) == {"Deployment", "Service", "PodDisruptionBudget"}
    deployment, service = kinds["Deployment"], kinds["Service"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    probes = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert probes == ({"path": "/readyz", "port": "metrics"}, {"path": "/healthz", "port": "metrics"})
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "otlp-grpc": 4317, "otlp-http": 4318, "metrics": 9464}
    assert service["spec"]["clusterIP"] == "None"  # headless: one A record per pod for the dns resolver
    assert service["spec"]["selector"] == pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    assert 4317 in {p["port"] for p in service["spec"]["ports"]}

    side = {d["kind"]: d for d in _load(SIDECAR)}
    spec = side["Deployment"]["spec"]["template"]["spec"]
    (agent,) = spec["initContainers"]
    assert agent["restartPolicy"] == "Always"  # native sidecar: up before the app, down after it
    assert agent["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert agent["envFrom"] == [{"configMapRef": {"name": side["ConfigMap"]["metadata"]["name"]}}]
    assert set(side["ConfigMap"]["data"]) <= set(config._ENV.values())
    assert "OTEL_GEMINI_SPEND_CAP_USD" in side["ConfigMap"]["data"]  # the budget the alerts use
    token = next(e for e in agent["env"] if e["name"] == "OTEL_GEMINI_AGENT_BEARER_TOKEN")["valueFrom"]
    (app,) = spec["containers"]
    env = {e["name"]: e for e in app["env"]}
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]["value"] == "http://localhost:4318/v1/traces"
    assert env["AGENT_TOKEN"]["valueFrom"] == token  # the same Secret key on both sides
    assert env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]["value"] == "authorization=Bearer%20$(AGENT_TOKEN)"
    policy = side["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == side["Deployment"]["spec"]["selector"]["matchLabels"]
    assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]}.isdisjoint({4317, 4318})


def test_collector_pipeline_shape() -> None:
    (collector,) = _load(COLLECTOR)
    lb = collector["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "traceID"
    assert lb["resolver"]["dns"]["port"] == "4317"
    assert lb["resolver"]["dns"]["hostname"] == "${env:AGENTS_HOSTNAME}"
    assert lb["protocol"]["otlp"]["headers"]["authorization"].startswith("Bearer ${env:")
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces/otel-gemini"]["exporters"] == ["loadbalancing"]
    assert not any("sampl" in p for p in pipelines["traces/otel-gemini"]["processors"])  # every GenAI span
    assert "tail_sampling" in pipelines["traces/backend"]["processors"]
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(collector[kind]), (kind, pipeline)


# -- Dockerfiles, flags, variables, and the command lines really starting -----------------------------------------

def _json_instruction(dockerfile: Path, instruction: str) -> list[str]:
    return json.loads(re.search(rf"^{instruction} (\[.+\])$", _text(dockerfile), re.M).group(1))


def test_dockerfiles_copy_what_exists() -> None:
    for dockerfile in (DOCKERFILE, DEMO_DOCKERFILE):
        for sources in re.findall(r"^COPY (.+) \S+$", _text(dockerfile), re.M):
            for source in sources.split():
                assert (ROOT / source).exists(), (dockerfile, source)
    assert _json_instruction(DOCKERFILE, "ENTRYPOINT") == ["otel-gemini", "agent"]
    assert _json_instruction(DEMO_DOCKERFILE, "ENTRYPOINT") == ["otel-gemini", "demo"]
    assert 'otel-gemini = "otel_gemini.cli:main"' in _text(ROOT / "pyproject.toml")
    # The demo image installs google-genai at requirements/genai3.txt's pin: its grep must find exactly that line.
    pin = re.search(r"grep -hE '(.+?)' requirements/genai3\.txt", _text(DEMO_DOCKERFILE)).group(1)
    pins = [line for line in _text(ROOT / "requirements" / "genai3.txt").splitlines() if re.search(pin, line)]
    assert any(line.startswith("google-genai==3.") for line in pins), pins


def _agent_argvs() -> dict[str, list[str]]:
    """The agent's flags as written in the Deployment and sidecar (args), compose (command), the Dockerfile (CMD)."""
    found = {}
    args = r"^\s+args: (\[.+\])$"
    for name, path, pattern in (("kubernetes", K8S, args), ("sidecar", SIDECAR, args), ("docker", DOCKERFILE,
                                r"^CMD (\[.+\])$"), ("compose", PIPELINE, r"^\s+command: (\[\"--host\".+\])$")):
        match = re.search(pattern, _text(path), re.M)
        assert match, name
        found[name] = json.loads(match.group(1))
    return found


def test_agent_flags_and_variables_exist() -> None:
    for name, argv in _agent_argvs().items():
        # In a container loopback is unreachable; a sidecar's OTLP stays on the pod's loopback, /metrics does not.
        host = ["--host", "127.0.0.1", "--metrics-host", "0.0.0.0"] if name == "sidecar" else ["--host", "0.0.0.0"]
        assert argv[:len(host)] == host, name
        for flag in (a for a in argv if a.startswith("--")):
            assert flag in AGENT_FLAGS, (name, flag)
    agent_variables = {"OTEL_GEMINI_AGENT_" + f.removeprefix("--").replace("-", "_").upper() for f in AGENT_FLAGS}
    for path in (*YAML_FILES, DOCKERFILE, DEMO_DOCKERFILE, DEPLOY / "README.md"):
        for variable in set(re.findall(r"\bOTEL_GEMINI_[A-Z_]*[A-Z]\b", _text(path))):
            if variable.startswith("OTEL_GEMINI_AGENT_"):
                assert variable in agent_variables, (path, variable)
            else:
                assert variable in config._ENV.values(), (path, variable)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _start(argv: list[str], ports: dict[str, int], env: dict[str, str], merge: bool = False) -> subprocess.Popen[str]:
    """The console script (the images' ENTRYPOINT) with a deploy file's flags, ports swapped, host on loopback."""
    swapped = ["127.0.0.1" if argv[i - 1] == "--host" else str(ports[argv[i - 1]]) if argv[i - 1] in ports else a
               for i, a in enumerate(argv)]
    script = Path(sys.executable).parent / "otel-gemini"
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "otel_gemini.cli"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_GEMINI")}
    return subprocess.Popen([*entry, *swapped], env={**clean, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen[str], url: str, needle: str = "") -> str:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()
        try:
            status, page = _get(url)
            if status == 200 and needle in page:
                return page
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered with {needle!r}"
        time.sleep(0.1)


@pytest.mark.parametrize("where", ["kubernetes", "sidecar", "compose"])
def test_deploy_command_line_starts(where: str) -> None:
    """The agent with the deploy file's flags: ready, healthy, /metrics, the bearer token enforced, clean SIGTERM."""
    ports = {"--otlp-grpc-port": _free_port(), "--otlp-http-port": _free_port(), "--metrics-port": _free_port()}
    env = {**TOKEN_ENV, "OTEL_GEMINI_PROJECT": "my-gcp-project", "OTEL_GEMINI_AGENT_MAX_REQUEST_BYTES": "8388608"}
    if where == "sidecar":
        env = {**TOKEN_ENV, **next(d for d in _load(SIDECAR) if d["kind"] == "ConfigMap")["data"]}
    process = _start(["agent", *_agent_argvs()[where]], ports, env)
    base = f"http://127.0.0.1:{ports['--metrics-port']}"
    try:
        _wait_for(process, base + "/readyz")
        assert _get(base + "/healthz")[0] == 200
        status, page = _get(base + "/metrics")
        assert status == 200 and "otel_gemini_agent_" in page
        if where == "sidecar":  # the budget of the ConfigMap, as the alerts read it
            assert re.search(r'gemini_spend_limit_usd\{[^}]*gemini_spend_scope="project"[^}]*\} 1000', page), page
        request = urllib.request.Request(f"http://127.0.0.1:{ports['--otlp-http-port']}/v1/traces", data=b"",
                                         headers={"Content-Type": "application/x-protobuf"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert f"127.0.0.1:{ports['--otlp-grpc-port']}" in out


def test_demo_command_line_starts() -> None:
    """The demo image's CMD (= compose's command) serves priced calls on /metrics and keeps making them."""
    argv = _json_instruction(DEMO_DOCKERFILE, "CMD")
    assert _load(COMPOSE)[0]["services"]["demo"]["command"] == argv
    port = _free_port()
    process = _start(["demo", *argv], {"--port": port}, {"OTEL_GEMINI_SPEND_CAP_USD": "100"}, merge=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        page = _wait_for(process, f"http://127.0.0.1:{port}/metrics", "gemini_cost_usd_total")
        assert 'gemini_project="demo"' in page
        assert re.search(r'gemini_spend_limit_usd\{[^}]*gemini_spend_scope="project"[^}]*\} 100', page)
        deadline = time.monotonic() + 30  # the workload done, it loops (and now stops cleanly on SIGTERM)
        while not any("every 5 s" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, lines
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, lines
