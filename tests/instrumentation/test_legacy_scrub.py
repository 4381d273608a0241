"""The legacy google-generativeai SDK: an error body echoing the key or quoting the prompt never reaches a span or
a label (issue 15), over its real REST transport."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("google.generativeai")
from google.api_core import exceptions as core_exceptions  # noqa: E402

from otel_gemini import semconv  # noqa: E402
from otel_gemini.testing import Reply, error  # noqa: E402
from tests._fakes import quota_bodies  # noqa: E402
from tests.instrumentation.test_hostile_input import PROMPT, _exported  # noqa: E402
from tests.instrumentation.test_legacy import KEY, model, rest, tel  # noqa: E402, F401

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:The argument `including_default_value_fields`:DeprecationWarning")]


def test_legacy_400_quoting_the_key_and_the_prompt(rest: Any, model: Any, tel: Any) -> None:  # noqa: F811
    message = f"API key {KEY} cannot serve: Invalid value at 'contents[0]' (\"{PROMPT}\")"
    rest.push(Reply(status=400, body=error(400, "INVALID_ARGUMENT", message, [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
        "metadata": {"key": KEY}}])))
    with pytest.raises(core_exceptions.BadRequest) as caught:
        model.generate_content(PROMPT)
    assert KEY in str(caught.value)  # the SDK's own exception, unchanged
    exported = _exported(tel)
    assert KEY not in exported and "quarterly revenue" not in exported
    assert semconv.REDACTED_API_KEY in exported and semconv.REDACTED_CONTENT in exported
    assert "400" in exported and tel.prom("gemini_requests_total", error_type="400") == 1


def test_legacy_429_with_the_key_in_the_quota_id(rest: Any, model: Any, tel: Any) -> None:  # noqa: F811
    rest.push(Reply(status=429, body=quota_bodies.quota_failure([quota_bodies.violation(f"PerDay-{KEY}")])))
    with pytest.raises(core_exceptions.TooManyRequests):
        model.generate_content("hi")
    assert KEY not in _exported(tel)
