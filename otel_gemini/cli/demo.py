"""``otel-gemini demo``: a real instrumented google-genai app against a local fake Gemini, with /metrics to read.

Nothing leaves the machine: the fake endpoint (otel_gemini.testing) answers on loopback with the usage shapes
Gemini sends, so every billing rule the workload touches is priced exactly as it would be in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import otel_gemini
from otel_gemini import semconv
from otel_gemini.cli.demo_surfaces import DEMO_OPTIONS, run_surfaces
from otel_gemini.cli.demo_table import cost_table
from otel_gemini.settings.config import _ENV as SETTING_VARIABLES
from otel_gemini.testing import FakeGemini, Reply, error, quota_exceeded, response, stream, usage

DEMO_KEY = "demo-key-not-a-real-key"
TENANTS = ("acme", "globex")


def _call(fake: FakeGemini, client: Any, model: str, reply: Reply, contents: str, **config: Any) -> None:
    """One generate_content answered by ``reply``; an API error is the point of some calls, so it is swallowed."""
    from google.genai import errors, types

    fake.push(reply)
    try:
        client.models.generate_content(
            model=model, contents=contents, config=types.GenerateContentConfig(**config) if config else None
        )
    except errors.APIError:
        pass  # the demo shows failures on /metrics; a real app would handle them


def _workload(fake: FakeGemini, client: Any) -> None:
    from google.genai import types

    def call(model: str, reply: Reply, **config: Any) -> None:
        _call(fake, client, model, reply, "demo", **config)

    # Everyday traffic on the current Flash models, attributed to a feature and a tenant (cost per feature and
    # tenant: the `feature` and `tenant` labels); the calls outside an attributes() block carry empty ones.
    for i in range(5):
        with otel_gemini.attributes(feature="chat", tenant=TENANTS[i % len(TENANTS)]):
            call("gemini-3.8-flash", Reply(body=response("ok", model_version="gemini-3.8-flash",
                                                          usage_metadata=usage(prompt=1200 + 100 * i, candidates=300))))
    # Thinking: most of the bill is thoughts.
    with otel_gemini.attributes(feature="search", tenant="acme"):
        call("gemini-2.5-flash", Reply(body=response("answer", model_version="gemini-2.5-flash",
                                                     usage_metadata=usage(prompt=1200, candidates=300, thoughts=8500))))
    # Implicit cache hit: 8,192 of 20,000 prompt tokens at the cache rate.
    call("gemini-3.8-flash", Reply(body=response("cached", model_version="gemini-3.8-flash", usage_metadata=usage(
        prompt=20000, cached=8192, candidates=900, thoughts=2100))))
    # A >200k prompt on 2.5 Pro: the whole request moves to the long-context rates.
    with otel_gemini.attributes(feature="summaries", tenant="globex"):
        call("gemini-2.5-pro", Reply(body=response("long", model_version="gemini-2.5-pro", usage_metadata=usage(
            prompt=250_000, candidates=4000, thoughts=6000))))
    # Audio input, image output.
    call("gemini-2.5-flash", Reply(body=response("transcript", model_version="gemini-2.5-flash", usage_metadata=usage(
        prompt=9640, candidates=700, thoughts=260, prompt_details={"TEXT": 40, "AUDIO": 9600}))))
    call("gemini-2.5-flash-image", Reply(body=response(
        "image", model_version="gemini-2.5-flash-image",
        usage_metadata=usage(prompt=20, candidates=1302, candidates_details={"TEXT": 12, "IMAGE": 1290}))))
    # Served at the Flex tier (half price), as the x-gemini-service-tier header says.
    call("gemini-3.6-flash", Reply(body=response("flex", model_version="gemini-3.6-flash", usage_metadata=usage(
        prompt=5000, candidates=500)), headers={"x-gemini-service-tier": "flex"}))
    # Asked for Priority, served at Standard (the header says so): billed at standard, counted as a downgrade.
    call("gemini-3.8-flash", _served_standard(), service_tier="priority")
    # Streaming.
    fake.push(Reply(chunks=stream(["Once ", "upon ", "a time"], model_version="gemini-3.6-flash",
                                  final_usage=usage(prompt=800, candidates=600, thoughts=400)), chunk_delay_s=0.02))
    for _chunk in client.models.generate_content_stream(model="gemini-3.6-flash", contents="tell me a story"):
        pass
    # Quota: a burst of 429s on the free-tier model (its per-minute quota), then an overloaded 503.
    with otel_gemini.attributes(feature="chat", tenant="initech"):
        for _ in range(3):
            call("gemini-3.1-flash-lite", _free_tier_429())
    call("gemini-3.8-flash", Reply(status=503, body=error(503, "UNAVAILABLE", "The model is overloaded.")))
    # The SDK's own retries (HttpRetryOptions): one call, three HTTP attempts, one span; attempts are counted.
    from google import genai

    retrying = genai.Client(api_key=DEMO_KEY, http_options=types.HttpOptions(
        base_url=fake.base_url, retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)))
    fake.push(Reply(status=503, body=error(503, "UNAVAILABLE", "The model is overloaded.")),
              Reply(status=429, body=quota_exceeded(
                  quota_id="GenerateContentInputTokensPerModelPerMinute", model="gemini-3.8-flash", value=None,
                  metric="generativelanguage.googleapis.com/generate_content_input_token_count", retry_delay="0.5s")),
              Reply(body=response("third time", model_version="gemini-3.8-flash",
                                  usage_metadata=usage(prompt=400, candidates=90))))
    retrying.models.generate_content(model="gemini-3.8-flash", contents="retry me")
    # A model the price table does not know: counted as unpriced, never $0.
    call("gemini-experimental-0xx", Reply(body=response("?", model_version="gemini-experimental-0xx",
                                                        usage_metadata=usage(prompt=100, candidates=10))))

    async def concurrent() -> None:
        async def one(i: int) -> None:
            await client.aio.models.generate_content(model="gemini-3.5-flash-lite", contents=f"async {i}")

        await asyncio.gather(*(one(i) for i in range(4)))

    asyncio.run(concurrent())  # queue empty: the fake's default answer, priced from its usage


def _free_tier_429() -> Reply:
    return Reply(status=429, body=quota_exceeded(
        quota_id="GenerateRequestsPerMinutePerProjectPerModel-FreeTier", model="gemini-3.1-flash-lite",
        value="15", retry_delay="12.5s"))


def _served_standard() -> Reply:
    return Reply(body=response("standard after all", model_version="gemini-3.8-flash",
                               usage_metadata=usage(prompt=300, candidates=60)),
                 headers={"x-gemini-service-tier": "standard"})


def _tick(fake: FakeGemini, client: Any, n: int) -> None:
    """One round of ``--loop``: a few cheap attributed calls (one streamed), and now and then a 429 burst, a
    Priority request served at Standard, a 503 and an unpriced model, so a Prometheus scraping the demo sees every
    rate move (the compose stack, the e2e test).
    """
    def call(model: str, reply: Reply, **config: Any) -> None:
        _call(fake, client, model, reply, "loop", **config)

    fake.clear()  # nothing queued is left over; and the fake's record of requests does not grow for ever
    tenant = TENANTS[n % len(TENANTS)]
    with otel_gemini.attributes(feature="chat", tenant=tenant):
        call("gemini-3.8-flash", Reply(body=response("ok", model_version="gemini-3.8-flash",
                                                      usage_metadata=usage(prompt=300 + n % 50, candidates=80))))
        fake.push(Reply(chunks=stream(["Once ", "more"], model_version="gemini-3.6-flash",
                                      final_usage=usage(prompt=200, candidates=60)), chunk_delay_s=0.01))
        for _chunk in client.models.generate_content_stream(model="gemini-3.6-flash", contents="loop"):
            pass
    with otel_gemini.attributes(feature="search", tenant=tenant):
        call("gemini-2.5-flash", Reply(body=response("answer", model_version="gemini-2.5-flash",
                                                     usage_metadata=usage(prompt=400, candidates=60, thoughts=200))))
    if n % 3 == 0:  # a burst of 429s on the free-tier model's per-minute quota
        with otel_gemini.attributes(feature="chat", tenant="initech"):
            for _ in range(2):
                call("gemini-3.1-flash-lite", _free_tier_429())
    if n % 4 == 0:
        with otel_gemini.attributes(feature="search", tenant=tenant):
            call("gemini-3.8-flash", _served_standard(), service_tier="priority")
    if n % 5 == 0:
        call("gemini-3.8-flash", Reply(status=503, body=error(503, "UNAVAILABLE", "The model is overloaded.")))
    if n % 7 == 0:
        call("gemini-experimental-0xx", Reply(body=response("?", model_version="gemini-experimental-0xx",
                                                            usage_metadata=usage(prompt=50, candidates=5))))


def _options() -> dict[str, str]:
    """DEMO_OPTIONS as defaults only: an instrument() keyword beats its OTEL_GEMINI_* variable, so a setting the
    environment gives (OTEL_GEMINI_SPEND_CAP_USD in the compose stack and the e2e test) is not passed at all."""
    return {name: value for name, value in DEMO_OPTIONS.items()
            if not os.environ.get(SETTING_VARIABLES[name], "").strip()}


def quota_table(recorder: Any) -> str:
    """Today's quota use against the declared limits, the 429s' quota violations, this month's spend vs caps.

    The same series Prometheus reads; across replicas the headroom is computed there (prometheus/rules.yaml).
    """
    used: dict[str, int] = defaultdict(int)
    for key, value in recorder.counters[semconv.REQUESTS_PACIFIC_DAY].items():
        used[key[1]] += int(value)
    lines = [f"quota (project {recorder.project}){'':<12}{'used today':>12}{'RPD limit':>11}{'headroom':>10}"]
    retried = sum(int(v) for k, v in recorder.counters[semconv.HTTP_ATTEMPTS].items() if k[6] == "retried")
    attempts = sum(int(v) for v in recorder.counters[semconv.HTTP_ATTEMPTS].values())
    for (model, unit, window), limit in sorted(recorder.gauge_values(semconv.QUOTA_LIMIT)):
        if unit == "requests" and window == "day":
            lines.append(f"  {model:<36}{used[model]:>12}{int(limit):>11}{1 - used[model] / limit:>10.2%}")
    for key, value in sorted(recorder.counters[semconv.QUOTA_EXCEEDED].items()):
        lines.append(f"  429 x{int(value)} on {key[1]}: {key[2]} ({key[3]} per {key[4]}, {key[5]} tier)")
    lines.append(f"  HTTP attempts {attempts}, of which {retried} retried by the SDK inside one call")
    month = sum((Decimal(v) for v in recorder.counters[semconv.COST_PACIFIC_MONTH].values()), Decimal(0))
    for (window, scope), cap in sorted(recorder.gauge_values(semconv.SPEND_LIMIT)):
        if window == "month":
            lines.append(f"  spend this month ${month:.6f} of the {scope.replace('_', ' ')} cap ${cap:,.0f}")
    return "\n".join(lines)


def run(port: int = 9464, host: str = "127.0.0.1", once: bool = False, loop: float | None = None) -> int:
    """The workload once, its tables, then /metrics until Ctrl-C (or SIGTERM); with ``loop``, a few more calls
    every ``loop`` seconds meanwhile, so rates and alerts have live data."""
    from google import genai
    from google.genai import types

    with FakeGemini() as fake:
        instrumentor = otel_gemini.instrument(prometheus_port=port, prometheus_host=host, **_options())
        client = genai.Client(api_key=DEMO_KEY, http_options=types.HttpOptions(base_url=fake.base_url))
        print(f"fake Gemini endpoint on {fake.base_url}; running the workload...")
        _workload(fake, client)
        run_surfaces(fake, client, DEMO_KEY)
        telemetry = instrumentor.telemetry
        if telemetry is None:  # OTEL_SDK_DISABLED=true: nothing was recorded
            print("otel-gemini demo: OTEL_SDK_DISABLED=true, so nothing was instrumented", file=sys.stderr)
            return 2
        print()
        print(cost_table(telemetry.recorder, telemetry.pricer))
        print()
        print(quota_table(telemetry.recorder))
        print()
        shown = instrumentor.prometheus_port or port
        print(f"page:    http://{host}:{shown}/  (spend, breakdowns, what-if savings; no Grafana needed)")
        print(f"metrics: http://{host}:{shown}/metrics  (gemini_cost_usd_total, gemini_tokens_total, "
              "gemini_requests_total, gen_ai_client_operation_duration_seconds, ...)")
        if once:
            return 0
        try:  # a container's stop (SIGTERM) ends the demo as Ctrl-C does, not after the runtime's grace period
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        except ValueError:  # not the main thread
            pass
        if loop is None:
            print("serving /metrics until Ctrl-C", flush=True)
        else:
            print(f"serving /metrics and making a few calls every {loop:g} s until Ctrl-C", flush=True)
        try:
            n = 0
            while True:
                if loop is None:
                    time.sleep(3600)
                    continue
                started = time.monotonic()
                try:
                    _tick(fake, client, n)
                except Exception as failure:  # noqa: BLE001 - one bad round must not stop the stream of calls
                    print(f"  (round {n} failed: {type(failure).__name__}: {failure})", flush=True)
                n += 1
                time.sleep(max(0.0, loop - (time.monotonic() - started)))
        except KeyboardInterrupt:
            return 0
