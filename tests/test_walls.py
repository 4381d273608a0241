"""The walls between the parts hold at run time, not only file by file.

Each check runs in a fresh interpreter with an import blocker installed before anything else, so a wall that is
only true of the files (a lazy import that an ``__init__`` undoes, a helper reached through another module) fails
here: pricing and usage parsing work without OpenTelemetry or the SDK, the agent without the instrumentation or
google-genai, the instrumentation without the agent, and ``otel-gemini prices``/``price`` without OpenTelemetry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in BLOCKED):
                raise ModuleNotFoundError(f"{{name}} is behind a wall here", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def _run(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    script = _BLOCKER.format(blocked=blocked) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def _holds(blocked: tuple[str, ...], code: str) -> str:
    result = _run(blocked, code)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_blocker_blocks() -> None:
    """Without this, every wall below would pass vacuously."""
    result = _run(("opentelemetry",), "import opentelemetry.trace")
    assert result.returncode != 0 and "behind a wall" in result.stderr


@pytest.mark.parametrize(
    "module",
    ["otel_gemini.pricing", "otel_gemini.pricing.engine", "otel_gemini.pricing.pricer", "otel_gemini.pricing.table",
     "otel_gemini.pricing.bill", "otel_gemini.pricing.compare", "otel_gemini.usage",
     "otel_gemini.billing.interaction_usage"],
)
def test_pricing_and_usage_need_neither_opentelemetry_nor_the_sdk(module: str) -> None:
    _holds(("opentelemetry", "google"), f"import {module}")


def test_a_price_is_computed_without_opentelemetry_or_the_sdk() -> None:
    out = _holds(
        ("opentelemetry", "google"),
        """
        from otel_gemini.pricing import table
        from otel_gemini.pricing.bill import Facts, bill
        from otel_gemini.pricing.pricer import Pricer
        from otel_gemini.usage import extract_usage

        usage = extract_usage({"promptTokenCount": 1000, "candidatesTokenCount": 10, "totalTokenCount": 1010})
        print(bill(Pricer(table.load(None)), Facts(usage, "gemini-2.5-flash", at=1.8e9)).status)
        """,
    )
    assert out.strip() == "priced"


def test_the_agent_needs_neither_the_instrumentation_nor_google_genai() -> None:
    """The agent legitimately uses OpenTelemetry (OTLP protobufs, SDK exporters); only those two are walled off."""
    _holds(("otel_gemini.instrumentation", "otel_gemini.instrumentor", "google.genai"),
           "import otel_gemini.agent.server, otel_gemini.agent.pipeline, otel_gemini.agent.forward")


def test_the_instrumentation_does_not_need_the_agent() -> None:
    _holds(
        ("otel_gemini.agent",),
        """
        import otel_gemini
        otel_gemini.instrument()
        from google import genai
        genai.Client(api_key="test-key")
        otel_gemini.uninstrument()
        """,
    )


def test_the_library_needs_the_opentelemetry_api_only() -> None:
    """`pip install otel-gemini` brings no SDK: instrument() works with the API alone, and an OTLP endpoint with no
    SDK installed says once which extra pushes (the call itself is untouched)."""
    code = """
        import logging, os
        logging.basicConfig(format="%(message)s")
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
        import otel_gemini
        instrumentor = otel_gemini.instrument()
        assert instrumentor.telemetry is not None
        from otel_gemini.testing import FakeGemini, Reply, response, usage
        from google import genai
        from google.genai import types
        with FakeGemini() as fake:
            fake.push(Reply(body=response("ok", model_version="gemini-2.5-flash", usage_metadata=usage(prompt=1))))
            client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.base_url))
            print(client.models.generate_content(model="gemini-2.5-flash", contents="hi").text)
    """
    result = _run(("opentelemetry.sdk", "opentelemetry.exporter"), code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "pip install 'otel-gemini[otlp]'" in result.stderr


def test_prices_runs_without_opentelemetry() -> None:
    out = _holds(("opentelemetry",), "from otel_gemini.cli import main; raise SystemExit(main(['prices']))")
    assert "gemini-2.5-flash" in out


def test_price_runs_without_opentelemetry(tmp_path: Path) -> None:
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps({"modelVersion": "gemini-2.5-flash", "usageMetadata": {
        "promptTokenCount": 1000, "candidatesTokenCount": 10, "totalTokenCount": 1010}}))
    out = _holds(
        ("opentelemetry",),
        f"from otel_gemini.cli import main; raise SystemExit(main(['price', '--usage', {str(usage)!r}]))",
    )
    assert "total $" in out


def test_import_otel_gemini_is_cheap_and_instrument_stays_public() -> None:
    """``import otel_gemini`` loads neither the SDK nor OpenTelemetry; its public names still resolve."""
    _holds(
        (),
        """
        import sys
        import otel_gemini
        heavy = [m for m in sys.modules if m.startswith(("opentelemetry", "google.genai", "otel_gemini.instrument"))]
        assert not heavy, heavy
        from otel_gemini import GeminiInstrumentor, attributes, instrument, uninstrument
        with otel_gemini.attributes(feature="search"):
            pass
        assert GeminiInstrumentor is otel_gemini.GeminiInstrumentor
        assert callable(instrument) and callable(uninstrument)
        """,
    )
