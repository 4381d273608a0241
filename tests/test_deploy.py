"""deploy/: what can be checked without Docker or a Collector (deploy/README.md, "What tests/test_deploy.py checks").

promtool checks the Prometheus config and the rule file it names; YAML is parsed where some Python here has PyYAML
(the venvs do not, and it is not a dependency), and checked as text everywhere; the agent flags and variables used
in deploy/ must exist in the CLI; the agent command line of the Deployment and of compose must really start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from otel_gemini import cli, config
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes" / "agent.yaml"
COMPOSE = DEPLOY / "compose" / "docker-compose.yaml"
COLLECTOR = DEPLOY / "collector" / "otel-collector.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DOCKERFILE = DEPLOY / "agent.Dockerfile"
YAML_FILES = (K8S, COMPOSE, COLLECTOR, PROMETHEUS)
AGENT_FLAGS = {flag for flag, *_ in cli._AGENT_FLAGS} | {"--prices"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _uncommented(path: Path) -> str:
    return "\n".join(line.split(" #", 1)[0] for line in _text(path).splitlines() if not line.lstrip().startswith("#"))


def test_promtool_check_config() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS)], cwd="/", capture_output=True, text=True,
                            timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # The rule file is found relative to prometheus.yml and checked too.
    assert "1 rule files found" in out and str(ROOT / "prometheus" / "rules.yaml") in out, out


# -- YAML ---------------------------------------------------------------------------------------------------------

_LOAD = "import json, sys, yaml; print(json.dumps([list(yaml.safe_load_all(open(p))) for p in sys.argv[1:]]))"


def _parse_all() -> list[list[object]] | None:
    """Every YAML document of YAML_FILES, via PyYAML in this interpreter or any python3 here that has it."""
    paths = [str(p) for p in YAML_FILES]
    try:
        import yaml  # noqa: F401
    except ImportError:
        pass
    else:
        return [list(yaml.safe_load_all(open(p, encoding="utf-8"))) for p in paths]
    for candidate in dict.fromkeys(filter(None, (shutil.which("python3"), "/usr/bin/python3"))):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        try:
            done = subprocess.run([candidate, "-c", _LOAD, *paths], capture_output=True, text=True, timeout=30, env=env)
        except OSError:
            continue
        if done.returncode == 0:
            return json.loads(done.stdout)
        if "No module named 'yaml'" not in done.stderr:
            pytest.fail(f"{candidate} could not parse deploy YAML:\n{done.stderr}")
    return None


def test_yaml_parses_and_has_the_expected_shape() -> None:
    docs = _parse_all()
    if docs is None:
        pytest.skip("no PyYAML in any Python here; test_yaml_text_shape checks the files as text")
    k8s, (compose,), (collector,), (prometheus,) = docs
    kinds = {d["kind"]: d for d in k8s if d}
    assert set(kinds) == {"Deployment", "Service", "PodDisruptionBudget"}
    deployment, service = kinds["Deployment"], kinds["Service"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "otlp-grpc": 4317, "otlp-http": 4318, "metrics": 9464}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {e["name"] for e in container["env"]} >= {"OTEL_GEMINI_AGENT_BEARER_TOKEN", "OTEL_GEMINI_PROJECT"}
    assert service["spec"]["clusterIP"] == "None"  # headless: one A record per pod for the dns resolver
    assert service["spec"]["selector"] == pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    assert 4317 in {p["port"] for p in service["spec"]["ports"]}

    lb = collector["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "traceID"
    assert lb["resolver"]["dns"]["port"] == "4317"
    assert lb["protocol"]["otlp"]["headers"]["authorization"].startswith("Bearer ${env:")
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces/otel-gemini"]["exporters"] == ["loadbalancing"]
    assert not any("sampl" in p for p in pipelines["traces/otel-gemini"]["processors"])  # every GenAI span
    assert "tail_sampling" in pipelines["traces/backend"]["processors"]
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(collector[kind]), (kind, pipeline)

    services = compose["services"]
    assert {"collector", "agent-1", "agent-2", "prometheus"} <= set(services)
    assert services["agent-1"]["command"] == services["agent-2"]["command"]  # merged from x-agent
    assert services["collector"]["environment"]["AGENTS_HOSTNAME"] in services["agent-2"]["networks"]["default"][
        "aliases"]
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["agent-1:9464", "agent-2:9464"]


def test_yaml_text_shape() -> None:
    """What holds without a YAML parser: no tabs, the kinds and probes, the Collector's key pieces."""
    for path in YAML_FILES:
        assert "\t" not in _text(path), path
    k8s = _uncommented(K8S)
    for needle in ("kind: Deployment", "kind: Service", "clusterIP: None", "replicas: 3", "readinessProbe:",
                   "path: /readyz", "livenessProbe:", "path: /healthz", 'prometheus.io/scrape: "true"',
                   "OTEL_GEMINI_PROJECT", "resources:"):
        assert needle in k8s, needle
    collector = _uncommented(COLLECTOR)
    for needle in ("loadbalancing:", "routing_key: traceID", "dns:", "hostname: ${env:AGENTS_HOSTNAME}",
                   "tail_sampling:", "ottl_condition:", 'attributes["gen_ai.operation.name"]',
                   "exporters: [loadbalancing]", "traces/backend:", "traces/otel-gemini:"):
        assert needle in collector, needle
    compose = _uncommented(COMPOSE)
    for needle in ("agent-1:", "agent-2:", "collector:", "prometheus:", "../../prometheus/rules.yaml"):
        assert needle in compose, needle
    assert "../../prometheus/rules.yaml" in _uncommented(PROMETHEUS)


def test_dockerfile_copies_what_exists() -> None:
    text = _text(DOCKERFILE)
    for sources in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), source
    assert json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1)) == ["otel-gemini", "agent"]
    assert 'otel-gemini = "otel_gemini.cli:main"' in _text(ROOT / "pyproject.toml")


# -- flags, variables, and the command line really starting ---------------------------------------------------------

def _agent_argvs() -> dict[str, list[str]]:
    """The agent's flags as written in the Deployment (args), compose (command) and the Dockerfile (CMD)."""
    k8s = re.search(r"^\s+args: (\[.+\])$", _text(K8S), re.M)
    compose = re.search(r"^\s+command: (\[\"--host\".+\])$", _text(COMPOSE), re.M)
    cmd = re.search(r"^CMD (\[.+\])$", _text(DOCKERFILE), re.M)
    assert k8s and compose and cmd
    return {name: json.loads(m.group(1)) for name, m in (("kubernetes", k8s), ("compose", compose), ("docker", cmd))}


def test_agent_flags_and_variables_exist() -> None:
    for name, argv in _agent_argvs().items():
        assert argv[:2] == ["--host", "0.0.0.0"], name  # in a container, loopback would be unreachable
        for flag in (a for a in argv if a.startswith("--")):
            assert flag in AGENT_FLAGS, (name, flag)
    agent_variables = {"OTEL_GEMINI_AGENT_" + f.removeprefix("--").replace("-", "_").upper() for f in AGENT_FLAGS}
    for path in (*YAML_FILES, DOCKERFILE, DEPLOY / "README.md"):
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


def test_agent_help_starts() -> None:
    done = subprocess.run([sys.executable, "-m", "otel_gemini.cli", "agent", "--help"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for flag in AGENT_FLAGS:
        assert flag in done.stdout


@pytest.mark.parametrize("where", ["kubernetes", "compose"])
def test_deploy_command_line_starts(where: str) -> None:
    """The entrypoint (console script) with the deploy file's flags: ready, healthy, /metrics, clean SIGTERM."""
    argv = _agent_argvs()[where]
    ports = {"--otlp-grpc-port": _free_port(), "--otlp-http-port": _free_port(), "--metrics-port": _free_port()}
    swapped = ["127.0.0.1" if argv[i - 1] == "--host" else str(ports[argv[i - 1]]) if argv[i - 1] in ports else a
               for i, a in enumerate(argv)]
    script = Path(sys.executable).parent / "otel-gemini"
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "otel_gemini.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_GEMINI")}
    env.update(OTEL_GEMINI_AGENT_BEARER_TOKEN="deploy-test-token", OTEL_GEMINI_PROJECT="my-gcp-project",
               OTEL_GEMINI_AGENT_MAX_REQUEST_BYTES="8388608")
    process = subprocess.Popen([*entry, "agent", *swapped], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    base = f"http://127.0.0.1:{ports['--metrics-port']}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if _get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "agent never became ready"
            time.sleep(0.1)
        assert _get(base + "/healthz")[0] == 200
        status, page = _get(base + "/metrics")
        assert status == 200 and "otel_gemini_agent_" in page
        # The bearer token from the environment is enforced on the receivers.
        request = urllib.request.Request(f"http://127.0.0.1:{ports['--otlp-http-port']}/v1/traces", data=b"",
                                         headers={"Content-Type": "application/x-protobuf"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, err
    assert f"127.0.0.1:{ports['--otlp-grpc-port']}" in out
