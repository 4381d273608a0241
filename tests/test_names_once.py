"""Names once: every span attribute, event and metric name otel-gemini writes or reads is spelled in semconv.py.

Dashboards, alert rules, the agent and other people's tests read these exact names, so a second spelling is a
future mismatch. The one other place allowed is otel_gemini/agent/dialect_names.py: it spells OTHER dialects'
names (OpenLLMetry, OpenLIT, pre-1.37 semconv…) that the agent reads, never a name otel-gemini writes.
Docstrings and comments may mention names; only string literals in code count.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "otel_gemini"
ALLOWED = {PACKAGE / "semconv.py", PACKAGE / "agent" / "dialect_names.py"}
PREFIXES = ("gen_ai.", "gemini.")
_STATEMENT_START = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def _body(token: str) -> str:
    """The text inside a literal's quotes, prefixes (f, r, b…) dropped: f"gen_ai.{x}" counts as much as "gen_ai."."""
    stripped = token.lstrip("rRbBuUfF")
    quote = stripped[:3] if stripped[:3] in ('"""', "'''") else stripped[:1]
    return stripped[len(quote):]


def stray_names(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """``file:line: literal`` for each string literal in code (not a docstring) that starts with a GenAI prefix."""
    found = []
    previous = tokenize.ENCODING
    for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        in_code = previous not in _STATEMENT_START
        if token.type == tokenize.STRING and in_code and _body(token.string).startswith(PREFIXES):
            found.append(f"{path.relative_to(root)}:{token.start[0]}: {token.string}")
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return found


def test_no_attribute_or_metric_name_is_spelled_outside_semconv() -> None:
    strays = [line for path in sorted(PACKAGE.rglob("*.py")) if path not in ALLOWED for line in stray_names(path)]
    assert not strays, "add these names to otel_gemini/semconv.py and use the constant:\n" + "\n".join(strays)


def test_the_check_sees_a_stray_name(tmp_path: Path) -> None:
    """The scanner itself: a literal in code is caught, the same text in a docstring or comment is not."""
    module = tmp_path / "probe.py"
    module.write_text('"""Mentions "gemini.cost.usd"."""\n# "gen_ai.x"\nNAME = f"gen_ai.usage.{1}"\n', encoding="utf-8")
    assert [line.split(": ", 1)[1] for line in stray_names(module, tmp_path)] == ['f"gen_ai.usage.{1}"']
