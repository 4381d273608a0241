"""Errors, the SDK's own retries and 429 details, through the real client over real HTTP (and quota.py on raw dicts).

Hand-computed costs use gemini-2.5-flash's Standard rates (pricing page 2026-03-30): input $0.30 (text), output
incl. thinking $2.50 per 1M tokens; Priority is 1.8 × Standard. A failed attempt costs $0 whatever it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from otel_gemini.billing import quota
from otel_gemini.testing import Reply, response, stream, usage
from tests._fakes import quota_bodies as qb
from tests.conftest import API_KEY

MODEL = "gemini-2.5-flash"
BASE = dict(gen_ai_operation_name="generate_content", gen_ai_provider_name="gcp.gemini", gen_ai_request_model=MODEL)
QUOTA = dict(gen_ai_provider_name="gcp.gemini", gen_ai_request_model=MODEL)


def ok_call() -> Reply:
    """1,000 prompt + 200 candidates: 1,000 × 0.30/1M + 200 × 2.50/1M = 0.0003 + 0.0005 = $0.0008."""
    return Reply(body=response("hello", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200)))


def ok_stream() -> Reply:
    """Same bill as ok_call, streamed in two chunks (the last chunk's running usage is the bill): $0.0008."""
    return Reply(chunks=stream(["he", "llo"], model_version=MODEL, final_usage=usage(prompt=1000, candidates=200)))


@pytest.fixture
def retrying(fake: Any) -> Any:
    """A client whose HttpRetryOptions retry 429/503 three times in all, a few ms apart."""
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=fake.base_url, retry_options=retry))


def attempts(telemetry: Any) -> dict[tuple[str, str, str], float]:
    """{(status, rpc status, outcome): count} of gemini_http_attempts_total for the model."""
    found: dict[tuple[str, str, str], float] = {}
    for status in ("200", "400", "429", "503"):
        for rpc in ("", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INVALID_ARGUMENT", "OTHER"):
            for outcome in ("final", "retried"):
                n = telemetry.prom("gemini_http_attempts_total", **BASE, http_response_status_code=status,
                                   gemini_rpc_status=rpc, gemini_attempt_outcome=outcome)
                if n:
                    found[(status, rpc, outcome)] = n
    return found


def exceeded(telemetry: Any) -> dict[tuple[str, str, str, str], float]:
    """{(quota id, unit, window, tier): count} of gemini_quota_exceeded_total, from the recorder's series."""
    from otel_gemini import semconv

    series = telemetry.instrumentor.telemetry.recorder.counters[semconv.QUOTA_EXCEEDED]
    return {key[2:6]: float(value) for key, value in series.items()}  # (after them: the attribution labels)


# -- every 429 shape: counted, typed, $0, details on the span ------------------------------------------------

FREE_DAY = (qb.PER_DAY, "requests", "day", "free")
SHAPES: dict[str, tuple[Callable[[], dict[str, Any]], list[tuple[str, str, str, str]], float | None]] = {
    # The message's 38.90923309s agrees with RetryInfo's 38s to the second, so the precise figure is used.
    "2026 help,quota,retry": (qb.quota_failure, [FREE_DAY], 38.90923309),
    "2026 quota,retry,help": (lambda: qb.quota_failure(order="quota,retry,help"), [FREE_DAY], 38.90923309),
    "2026 retry,help,quota": (lambda: qb.quota_failure(order="retry,help,quota"), [FREE_DAY], 38.90923309),
    "several violations": (qb.several_violations, [
        FREE_DAY, (qb.PER_MINUTE, "requests", "minute", "free"), (qb.INPUT_TPM, "input_tokens", "minute", "free"),
    ], 55.846891726),
    "no quotaValue": (qb.no_quota_value, [(qb.PAID_REQUESTS_PER_MINUTE, "requests", "minute", "paid")], 12.0),
    "no details": (qb.no_details, [], 7.5),
    "2024 ErrorInfo": (qb.error_info_2024, [
        ("GenerateContentRequestsPerMinutePerProjectPerRegion", "requests", "minute", "paid"),
    ], None),
    "resource exhausted": (qb.resource_exhausted, [], None),
    "bare message": (qb.bare_message, [], None),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_429_shape(fake, client, telemetry, shape) -> None:
    build, violations, delay = SHAPES[shape]
    fake.push(Reply(status=429, body=build()))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert raised.value.code == 429 and raised.value.details == build()  # the SDK's own error, body intact
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="429", gemini_rpc_status="RESOURCE_EXHAUSTED",
                          gemini_pricing_status="unbilled") == 1
    assert exceeded(telemetry) == {v: 1.0 for v in violations}
    assert attempts(telemetry) == {("429", "RESOURCE_EXHAUSTED", "final"): 1}
    assert telemetry.prom("gemini_cost_usd_total", **BASE) == 0
    attrs = telemetry.span().attributes
    assert attrs["gen_ai.usage.cost.amount"] == 0.0 and attrs["error.type"] == "429"
    assert attrs["gemini.rpc.status"] == "RESOURCE_EXHAUSTED"
    assert attrs["gemini.http.attempts"] == 1
    assert attrs.get("gemini.retry.delay_s") == (pytest.approx(delay) if delay is not None else None)
    assert list(attrs.get("gemini.quota.violations", ())) == list(dict.fromkeys(v[0] for v in violations))
    assert telemetry.prom("gemini_requests_pacific_day_total", **QUOTA) == 1  # a failed call still spends quota


def test_violation_details_are_span_events(fake, client, telemetry) -> None:
    fake.push(Reply(status=429, body=qb.several_violations()))
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="hi")
    events = [e for e in telemetry.span().events if e.name == "gemini.quota.exceeded"]
    assert [e.attributes["gemini.quota.value"] for e in events] == ["20", "5", "250000"]
    tpm = events[2].attributes
    assert tpm["gemini.quota.metric"] == qb.FREE_INPUT_TOKENS
    assert tpm["gemini.quota.dimensions.model"] == MODEL and tpm["gemini.quota.dimensions.location"] == "global"
    assert (tpm["gemini.quota.unit"], tpm["gemini.quota.window"], tpm["gemini.quota.tier"]) == (
        "input_tokens", "minute", "free")


def test_other_errors_carry_their_rpc_status(fake, client, telemetry) -> None:
    fake.push(Reply(status=400, body=qb.error(400, "INVALID_ARGUMENT", "The request body is malformed")),
              Reply(status=400, body=qb.error(400, "SOMETHING_NEW", "?")))
    for _ in range(2):
        with pytest.raises(errors.ClientError):
            client.models.generate_content(model=MODEL, contents="hi")
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="400", gemini_rpc_status="INVALID_ARGUMENT") == 1
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="400", gemini_rpc_status="OTHER") == 1
    assert attempts(telemetry) == {("400", "INVALID_ARGUMENT", "final"): 1, ("400", "OTHER", "final"): 1}
    assert exceeded(telemetry) == {}


def test_a_body_that_is_not_google_rpc_is_tolerated(fake, client, telemetry) -> None:
    fake.push(Reply(status=429, body={"error": "slow down"}))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert raised.value.details == {"error": "slow down"}
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="429", gemini_rpc_status="") == 1
    assert attempts(telemetry) == {("429", "", "final"): 1}
    assert telemetry.prom("otel_gemini_internal_errors_total") == 0


# -- the SDK's own retries -----------------------------------------------------------------------------------


def assert_two_retries_then_success(fake, telemetry) -> None:
    assert len(fake.requests) == 3
    assert telemetry.prom("gemini_requests_total", **BASE) == 1
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="", gemini_rpc_status="",
                          gemini_pricing_status="priced") == 1
    assert attempts(telemetry) == {("429", "RESOURCE_EXHAUSTED", "retried"): 1, ("503", "UNAVAILABLE", "retried"): 1,
                                   ("200", "", "final"): 1}
    assert telemetry.prom("gemini_http_attempts_total", **BASE) == 3
    assert exceeded(telemetry) == {FREE_DAY: 1.0}  # the retried 429 was still a quota rejection
    assert telemetry.exact("gemini_cost_usd_total", **BASE) == Decimal("0.0008")  # the 200 only
    attrs = telemetry.span().attributes
    assert attrs["gemini.cost.usd_exact"] == "0.0008"
    assert attrs["gemini.http.attempts"] == 3
    assert attrs["gemini.rpc.status"] == "OK"  # the call ended well; the 429's details stay on the span
    assert attrs["gemini.retry.delay_s"] == pytest.approx(38.90923309)
    assert "error.type" not in attrs


def failing_then(success: Reply) -> tuple[Reply, ...]:
    return Reply(status=429, body=qb.quota_failure()), Reply(status=503, body=qb.unavailable()), success


def test_success_after_two_retries(fake, retrying, telemetry) -> None:
    fake.push(*failing_then(ok_call()))
    assert retrying.models.generate_content(model=MODEL, contents="hi").text == "hello"
    assert_two_retries_then_success(fake, telemetry)


async def test_async_success_after_two_retries(fake, retrying, telemetry) -> None:
    fake.push(*failing_then(ok_call()))
    assert (await retrying.aio.models.generate_content(model=MODEL, contents="hi")).text == "hello"
    assert_two_retries_then_success(fake, telemetry)


def test_stream_success_after_two_retries(fake, retrying, telemetry) -> None:
    fake.push(*failing_then(ok_stream()))
    assert [c.text for c in retrying.models.generate_content_stream(model=MODEL, contents="hi")] == ["he", "llo"]
    assert_two_retries_then_success(fake, telemetry)


async def test_async_stream_success_after_two_retries(fake, retrying, telemetry) -> None:
    fake.push(*failing_then(ok_stream()))
    chunks = [c.text async for c in await retrying.aio.models.generate_content_stream(model=MODEL, contents="hi")]
    assert chunks == ["he", "llo"]
    assert_two_retries_then_success(fake, telemetry)


def test_retries_exhausted(fake, retrying, telemetry) -> None:
    """Three 429s: the SDK gives up and raises the last one; each 429 counts its violation."""
    fake.push(*[Reply(status=429, body=qb.quota_failure()) for _ in range(3)])
    with pytest.raises(errors.ClientError):
        retrying.models.generate_content(model=MODEL, contents="hi")
    assert attempts(telemetry) == {
        ("429", "RESOURCE_EXHAUSTED", "retried"): 2, ("429", "RESOURCE_EXHAUSTED", "final"): 1,
    }
    assert telemetry.prom("gemini_requests_total", **BASE, error_type="429",
                          gemini_rpc_status="RESOURCE_EXHAUSTED") == 1
    assert exceeded(telemetry) == {FREE_DAY: 3.0}
    assert telemetry.span().attributes["gemini.quota.violations"] == (qb.PER_DAY,)
    assert telemetry.prom("gemini_cost_usd_total", **BASE) == 0


def test_attempts_reach_otel_metrics(fake, retrying, telemetry) -> None:
    fake.push(*failing_then(ok_call()))
    retrying.models.generate_content(model=MODEL, contents="hi")
    points = {(p.attributes["http.response.status_code"], p.attributes["gemini.attempt.outcome"]): p.value
              for p in telemetry.otel_points("gemini.http.attempts")}
    assert points == {("429", "retried"): 1, ("503", "retried"): 1, ("200", "final"): 1}


def test_continuation_hops_are_final_attempts(fake, client, telemetry) -> None:
    """Two hops of one call, each its own request: 2 × $0.0008 = $0.0016."""
    fake.push(
        Reply(body=response("a", model_version=MODEL, usage_metadata=usage(prompt=1000, candidates=200),
                            continuation=True)),
        ok_call(),
    )
    client.models.generate_content(model=MODEL, contents="long")
    assert len(fake.requests) == 2
    assert attempts(telemetry) == {("200", "", "final"): 2}
    attrs = telemetry.span().attributes
    assert attrs["gemini.http.attempts"] == 2 and "gemini.rpc.status" not in attrs
    assert attrs["gemini.cost.usd_exact"] == "0.0016"


def test_calls_outside_instrumented_surfaces_are_untouched(fake, client, telemetry) -> None:
    """No call in flight, no attempt: the api client used directly is not counted."""
    client._api_client.request("post", f"models/{MODEL}:generateContent", {"contents": [{"parts": [{"text": "x"}]}]})
    assert telemetry.prom("gemini_http_attempts_total") == 0


# -- service tier downgrades ----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [types.GenerateContentConfig(service_tier="priority"), {"service_tier": "priority"}],
                         ids=["model", "dict"])
def test_priority_served_standard_is_a_downgrade(fake, client, telemetry, config) -> None:
    """Asked priority, the header says standard: billed at standard ($0.0008), one downgrade."""
    fake.push(Reply(body=ok_call().body, headers={"x-gemini-service-tier": "standard"}))
    client.models.generate_content(model=MODEL, contents="hi", config=config)
    assert '"serviceTier": "priority"' in json.dumps(fake.requests[0].body).replace("PRIORITY", "priority")
    assert telemetry.prom("gemini_service_tier_downgrades_total", **BASE, gemini_service_tier_requested="priority",
                          gemini_service_tier="standard") == 1
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_service_tier="standard") == pytest.approx(0.0008)


def test_priority_served_priority_is_no_downgrade(fake, client, telemetry) -> None:
    """Served priority: 1.8 × $0.0008 = $0.00144, no downgrade."""
    fake.push(Reply(body=ok_call().body, headers={"x-gemini-service-tier": "priority"}))
    client.models.generate_content(model=MODEL, contents="hi",
                                   config=types.GenerateContentConfig(service_tier="priority"))
    assert telemetry.prom("gemini_service_tier_downgrades_total") == 0
    assert telemetry.prom("gemini_cost_usd_total", **BASE, gemini_service_tier="priority") == pytest.approx(0.00144)


# -- the quota id label is bounded ----------------------------------------------------------------------------


def test_quota_id_cardinality_cap(fake, client, telemetry) -> None:
    """51 distinct quota ids in one 429: the first 50 keep their names, the 51st is _other and the overflow counted."""
    ids = [f"CustomQuota{i}PerMinute" for i in range(51)]
    fake.push(Reply(status=429, body=qb.quota_failure([qb.violation(i, "custom/metric", model=MODEL) for i in ids])))
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="hi")
    counted = exceeded(telemetry)
    assert len(counted) == 51 and counted[("_other", "other", "minute", "paid")] == 1
    assert all(counted[(i, "other", "minute", "paid")] == 1 for i in ids[:50])
    assert telemetry.prom("otel_gemini_label_overflow_total", label="gemini_quota_id") == 1
    assert len(telemetry.span().attributes["gemini.quota.violations"]) == 51  # the span keeps every name


# -- quota.py on raw dicts (no SDK) ---------------------------------------------------------------------------


def test_parse_the_captured_2026_body() -> None:
    parsed = quota.parse(qb.quota_failure())
    assert parsed is not None
    assert (parsed.code, parsed.status) == (429, "RESOURCE_EXHAUSTED")
    [v] = parsed.violations
    assert v == quota.Violation(qb.PER_DAY, qb.FREE_REQUESTS, (("location", "global"), ("model", "gemini-3.5-flash")),
                                "20", "requests", "day", "free")
    assert parsed.retry_delay_s == pytest.approx(38.90923309)


@pytest.mark.parametrize(
    "order", ["help,quota,retry", "quota,help,retry", "retry,quota,help", "quota,retry", "retry,quota"]
)
def test_parse_any_detail_order(order: str) -> None:
    parsed = quota.parse(qb.quota_failure(order=order, message_delay=None))
    assert parsed is not None and [v.quota_id for v in parsed.violations] == [qb.PER_DAY]
    assert parsed.retry_delay_s == 38.0


def test_parse_inner_dict_list_and_junk() -> None:
    inner = qb.several_violations()["error"]
    assert quota.parse(inner) == quota.parse({"error": inner}) == quota.parse([{"error": inner}])
    assert quota.parse(None) is None and quota.parse("429") is None and quota.parse({"error": "x"}) is None
    junk = {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": ["x", {"@type": "weird"},
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [None, {}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}]}
    parsed = quota.parse(junk)
    assert parsed is not None and parsed.retry_delay_s is None
    assert parsed.violations == (quota.Violation("unknown"),)


def test_parse_error_info_2024_and_reasons() -> None:
    parsed = quota.parse(qb.error_info_2024())
    assert parsed is not None and parsed.reasons == ("RATE_LIMIT_EXCEEDED",)
    [v] = parsed.violations
    assert (v.quota_id, v.value, v.dimensions) == ("GenerateContentRequestsPerMinutePerProjectPerRegion", "15",
                                                   (("location", "us-central1"),))
    assert (v.unit, v.window, v.tier) == ("requests", "minute", "paid")


def test_parse_no_details() -> None:
    parsed = quota.parse(qb.resource_exhausted())
    assert parsed is not None and parsed.violations == () and parsed.retry_delay_s is None
    assert quota.parse(qb.no_details()).retry_delay_s == 7.5  # type: ignore[union-attr]
    assert quota.parse(qb.unavailable()).status == "UNAVAILABLE"  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "seconds"), [
    ("38s", 38.0), ("55.846891726s", 55.846891726), ("0.5s", 0.5), ("1.s", 1.0),
    ({"seconds": 3, "nanos": 500_000_000}, 3.5),
    ("38", None), ("", None), (None, None), (38, None),
])
def test_parse_duration(value: Any, seconds: float | None) -> None:
    assert quota.parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(("message", "seconds"), [
    ("…\nPlease retry in 38.90923309s.", 38.90923309), ("Please retry in 590.5ms.", 0.5905),
    ("Please retry in 1m2.5s.", 62.5), ("please retry in 3s", 3.0), ("Please retry later.", None),
])
def test_message_delay(message: str, seconds: float | None) -> None:
    assert quota.message_delay(message) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_delay_precedence() -> None:
    """The message wins when it refines RetryInfo (same second) or stands alone; on disagreement RetryInfo wins."""
    assert quota.parse(qb.quota_failure(retry_delay="38s", message_delay="38.9s")).retry_delay_s == pytest.approx(38.9)  # type: ignore[union-attr]
    assert quota.parse(qb.quota_failure(retry_delay="38s", message_delay="120s")).retry_delay_s == 38.0  # type: ignore[union-attr]
    assert quota.parse(qb.quota_failure(retry_delay=None, message_delay="4.25s")).retry_delay_s == 4.25  # type: ignore[union-attr]


@pytest.mark.parametrize(("quota_id", "metric", "labels"), [
    (qb.PER_DAY, qb.FREE_REQUESTS, ("requests", "day", "free")),
    (qb.PER_MINUTE, "", ("requests", "minute", "free")),
    (qb.INPUT_TPM, qb.FREE_INPUT_TOKENS, ("input_tokens", "minute", "free")),
    ("", qb.FREE_INPUT_TOKENS, ("input_tokens", "other", "free")),
    ("GenerateRequestsPerMinutePerProjectPerModel", qb.PAID_REQUESTS, ("requests", "minute", "paid")),
    ("GenerateContentPaidTierInputTokensPerModelPerDay", "", ("input_tokens", "day", "paid")),
    ("ImagesPerMinutePerProjectPerModel", "", ("other", "minute", "paid")),
    ("SpendBasedLimit", "", ("other", "other", "paid")),
])
def test_classify(quota_id: str, metric: str, labels: tuple[str, str, str]) -> None:
    assert quota.classify(quota_id, metric) == labels


@pytest.mark.parametrize(("status", "bounded"), [
    ("RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"), ("UNAVAILABLE", "UNAVAILABLE"), ("NEW_CODE", "OTHER"),
    ("Too Many Requests", ""), (None, ""), (429, ""),
])
def test_rpc_status_is_bounded(status: Any, bounded: str) -> None:
    assert quota.rpc_status(status) == bounded
