"""extract_usage: one response's usageMetadata → disjoint token classes that add up to totalTokenCount.

Inputs are written the way the wire sends them (camelCase, proto3 JSON: zero counts may be absent); snake_case
dicts and the SDK's pydantic objects must give the same Usage. Reference: gemini-billing.md §1.1 (fields and the
additivity identity ``total = prompt + candidates + thoughts + toolUse``, ``cached ⊂ prompt``) and §2.4.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from google.genai import types

from otel_gemini.usage import MODALITIES, Usage, extract_usage


def details(**counts: int) -> list[dict[str, Any]]:
    """``promptTokensDetails``-style list: details(TEXT=40, AUDIO=9600)."""
    return [{"modality": modality, "tokenCount": count} for modality, count in counts.items()]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def to_snake(value: Any) -> Any:
    """The same usage as a snake_case dict (``prompt_token_count``, ``token_count``...)."""
    if isinstance(value, dict):
        return {_snake(key): (val if key == "modality" else to_snake(val)) for key, val in value.items()}
    if isinstance(value, list):
        return [to_snake(item) for item in value]
    return value


def to_sdk(value: dict[str, Any]) -> types.GenerateContentResponseUsageMetadata:
    """The same usage as google-genai's pydantic object (what ``response.usage_metadata`` holds)."""
    return types.GenerateContentResponseUsageMetadata.model_validate(value)


# -- nothing to extract --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "usage_metadata",
    [
        None,
        {},
        {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0},
        {"trafficType": "ON_DEMAND"},
        {"prompt_token_count": None},
    ],
)
def test_none_or_empty_usage_is_none(usage_metadata: Any) -> None:
    assert extract_usage(usage_metadata) is None


def test_empty_sdk_object_is_none() -> None:
    assert extract_usage(types.GenerateContentResponseUsageMetadata()) is None


# -- the classes ---------------------------------------------------------------------------------------------


def test_thinking_usage_e2() -> None:
    """E2: 1,200 prompt (text), 300 candidates, 8,500 thoughts, total 10,000."""
    usage = extract_usage({"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 8500,
                           "totalTokenCount": 10000, "promptTokensDetails": details(TEXT=1200)})
    assert usage == Usage(input={"text": 1200}, output={"text": 300}, reasoning=8500, prompt_tokens=1200)
    assert usage.total == 10000


def test_cached_tokens_leave_the_input_class_e3() -> None:
    """E3: 48,000 of 50,000 prompt tokens cached → input 2,000, cache_read 48,000; prompt_tokens stays 50,000."""
    usage = extract_usage({"promptTokenCount": 50000, "cachedContentTokenCount": 48000, "candidatesTokenCount": 500,
                           "totalTokenCount": 50500, "promptTokensDetails": details(TEXT=50000),
                           "cacheTokensDetails": details(TEXT=48000)})
    assert usage.input == {"text": 2000}
    assert usage.cache_read == {"text": 48000}
    assert usage.prompt_tokens == 50000
    assert usage.total == 50500


def test_per_modality_split_with_cache_subtraction() -> None:
    """Uncached = prompt detail − cache detail of the same modality (§2.4).

    prompt TEXT 1,000 + IMAGE 500 + AUDIO 2,000 = 3,500; cache TEXT 800 + AUDIO 1,500 = 2,300
    → input TEXT 200, IMAGE 500, AUDIO 500; cache_read TEXT 800, AUDIO 1,500.
    """
    usage = extract_usage({"promptTokenCount": 3500, "cachedContentTokenCount": 2300, "candidatesTokenCount": 10,
                           "totalTokenCount": 3510,
                           "promptTokensDetails": details(TEXT=1000, IMAGE=500, AUDIO=2000),
                           "cacheTokensDetails": details(TEXT=800, AUDIO=1500)})
    assert usage.input == {"text": 200, "image": 500, "audio": 500}
    assert usage.cache_read == {"text": 800, "audio": 1500}
    assert usage.total == 3510


def test_cache_fully_covering_a_modality_leaves_no_zero_entry() -> None:
    """A modality entirely served from cache has no input entry (no zero rows for gemini_tokens_total)."""
    usage = extract_usage({"promptTokenCount": 1100, "cachedContentTokenCount": 1000, "totalTokenCount": 1100,
                           "promptTokensDetails": details(TEXT=100, VIDEO=1000),
                           "cacheTokensDetails": details(VIDEO=1000)})
    assert usage.input == {"text": 100}
    assert usage.cache_read == {"video": 1000}


def test_cache_detail_missing_on_text_prompt() -> None:
    """E11 shape (implicit cache, no details at all): the cached 8,192 are text, the rest of the prompt too."""
    usage = extract_usage({"promptTokenCount": 20000, "cachedContentTokenCount": 8192, "candidatesTokenCount": 900,
                           "thoughtsTokenCount": 2100, "totalTokenCount": 23000})
    assert usage.input == {"text": 11808}
    assert usage.cache_read == {"text": 8192}
    assert usage.output == {"text": 900} and usage.reasoning == 2100
    assert usage.total == 23000


def test_cache_detail_missing_never_claims_more_of_a_modality_than_the_prompt_had() -> None:
    """cacheTokensDetails missing, prompt TEXT 500 + AUDIO 2,000, cached 1,000.

    The cached part cannot hold more text than the prompt's 500 text tokens, so per modality
    cache_read[m] <= promptTokensDetails[m]: cache TEXT 500 + AUDIO 500, input AUDIO 1,500.
    (Labelling all 1,000 cached tokens TEXT would bill 500 cached audio tokens at the text cache rate.)
    """
    usage = extract_usage({"promptTokenCount": 2500, "cachedContentTokenCount": 1000, "totalTokenCount": 2500,
                           "promptTokensDetails": details(TEXT=500, AUDIO=2000)})
    assert usage.input_total + usage.cache_read_total == 2500
    assert usage.cache_read_total == 1000
    assert usage.cache_read.get("text", 0) <= 500
    assert usage.cache_read == {"text": 500, "audio": 500}
    assert usage.input == {"audio": 1500}


def test_details_missing_means_text() -> None:
    """No promptTokensDetails/candidatesTokensDetails: every token is text (Google: unspecified = TEXT)."""
    usage = extract_usage({"promptTokenCount": 70, "candidatesTokenCount": 53, "thoughtsTokenCount": 199,
                           "toolUsePromptTokenCount": 79, "totalTokenCount": 401})
    assert usage == Usage(input={"text": 70}, tool_use={"text": 79}, output={"text": 53}, reasoning=199,
                          prompt_tokens=70)
    assert usage.total == 401


def test_details_partial_remainder_is_text() -> None:
    """promptTokensDetails names 258 IMAGE tokens of a 1,000-token prompt: the other 742 are text."""
    usage = extract_usage({"promptTokenCount": 1000, "totalTokenCount": 1000,
                           "promptTokensDetails": details(IMAGE=258)})
    assert usage.input == {"image": 258, "text": 742}


def test_details_exceeding_the_count_are_trimmed_never_inventing_tokens() -> None:
    """Details claim 900 TEXT + 258 IMAGE = 1,158 for a 1,000-token prompt: taken in order up to 1,000."""
    usage = extract_usage({"promptTokenCount": 1000, "totalTokenCount": 1000,
                           "promptTokensDetails": details(TEXT=900, IMAGE=258)})
    assert usage.input == {"text": 900, "image": 100}
    assert usage.input_total == 1000


def test_details_exceeding_the_count_on_output() -> None:
    """candidatesTokensDetails larger than candidatesTokenCount: trimmed to the count (IMAGE 1,290 of 1,000)."""
    usage = extract_usage({"promptTokenCount": 20, "candidatesTokenCount": 1000, "totalTokenCount": 1020,
                           "candidatesTokensDetails": details(IMAGE=1290, TEXT=12)})
    assert usage.output == {"image": 1000}
    assert usage.total == 1020


def test_modality_spellings() -> None:
    """MODALITY_UNSPECIFIED and a missing modality (proto3 drops the zero enum) are text; names are case-free."""
    usage = extract_usage({"promptTokenCount": 60, "totalTokenCount": 60, "promptTokensDetails": [
        {"modality": "MODALITY_UNSPECIFIED", "tokenCount": 10},
        {"tokenCount": 20},
        {"modality": "audio", "tokenCount": 5},
        {"modality": "DOCUMENT", "tokenCount": 15},
        {"modality": "VIDEO", "tokenCount": 10},
        {"modality": "IMAGE"},  # zero count dropped by proto3
    ]})
    assert usage.input == {"text": 30, "audio": 5, "document": 15, "video": 10}


def test_repeated_modality_entries_add_up() -> None:
    usage = extract_usage({"promptTokenCount": 30, "totalTokenCount": 30,
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10},
                                                   {"modality": "TEXT", "tokenCount": 20}]})
    assert usage.input == {"text": 30}


def test_cached_count_larger_than_prompt_is_clamped() -> None:
    """cachedContentTokenCount ⊂ promptTokenCount: a larger cached count is clamped to the prompt."""
    usage = extract_usage({"promptTokenCount": 100, "cachedContentTokenCount": 150, "totalTokenCount": 100})
    assert usage.cache_read == {"text": 100} and usage.input == {}
    assert usage.total == 100


def test_audio_input_and_image_output_modalities() -> None:
    """E4 prompt split (TEXT 40 / AUDIO 9,600) and E5 output split (TEXT 12 / IMAGE 1,290)."""
    e4 = extract_usage({"promptTokenCount": 9640, "candidatesTokenCount": 700, "thoughtsTokenCount": 260,
                        "totalTokenCount": 10600, "promptTokensDetails": details(TEXT=40, AUDIO=9600)})
    assert e4.input == {"text": 40, "audio": 9600} and e4.output == {"text": 700} and e4.reasoning == 260
    e5 = extract_usage({"promptTokenCount": 20, "candidatesTokenCount": 1302, "totalTokenCount": 1322,
                        "promptTokensDetails": details(TEXT=20),
                        "candidatesTokensDetails": details(TEXT=12, IMAGE=1290)})
    assert e5.output == {"text": 12, "image": 1290}


def test_tool_use_tokens_per_modality() -> None:
    """E7b: toolUsePromptTokenCount is its own class, outside promptTokenCount."""
    usage = extract_usage({"promptTokenCount": 151, "candidatesTokenCount": 1089, "thoughtsTokenCount": 1120,
                           "toolUsePromptTokenCount": 18329, "totalTokenCount": 20689,
                           "promptTokensDetails": details(TEXT=151),
                           "toolUsePromptTokensDetails": details(TEXT=18000, IMAGE=329)})
    assert usage.input == {"text": 151}
    assert usage.tool_use == {"text": 18000, "image": 329}
    assert usage.prompt_tokens == 151
    assert usage.total == 20689


# -- thoughts inside candidates (§1.1 caveat) ----------------------------------------------------------------


def test_thoughts_inside_candidates_are_taken_out() -> None:
    """prompt + candidates + toolUse == total while thoughts > 0: candidates already include the thoughts."""
    usage = extract_usage({"promptTokenCount": 1200, "candidatesTokenCount": 8800, "thoughtsTokenCount": 8500,
                           "totalTokenCount": 10000})
    assert usage.output == {"text": 300} and usage.reasoning == 8500
    assert usage.total == 10000


def test_thoughts_outside_candidates_are_kept() -> None:
    usage = extract_usage({"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 8500,
                           "totalTokenCount": 10000})
    assert usage.output == {"text": 300} and usage.reasoning == 8500


def test_thoughts_without_total_are_kept_separate() -> None:
    """Without totalTokenCount the identity cannot be tested: candidates and thoughts are taken as reported."""
    usage = extract_usage({"promptTokenCount": 10, "candidatesTokenCount": 30, "thoughtsTokenCount": 20})
    assert usage.output == {"text": 30} and usage.reasoning == 20


# -- other spellings and surfaces -----------------------------------------------------------------------------


def test_live_api_response_token_count() -> None:
    """The Live API names candidates ``responseTokenCount`` / ``responseTokensDetails``."""
    usage = extract_usage({"promptTokenCount": 100, "responseTokenCount": 500, "totalTokenCount": 600,
                           "promptTokensDetails": details(AUDIO=100),
                           "responseTokensDetails": details(AUDIO=480, TEXT=20)})
    assert usage.input == {"audio": 100}
    assert usage.output == {"audio": 480, "text": 20}


@pytest.mark.parametrize(("sent", "kept"), [("PRIORITY", "priority"), ("standard", "standard"), ("flex", "flex")])
def test_service_tier_is_read_and_lowercased(sent: str, kept: str) -> None:
    usage = extract_usage({"promptTokenCount": 1, "totalTokenCount": 1, "serviceTier": sent})
    assert usage.service_tier == kept
    assert extract_usage({"prompt_token_count": 1, "service_tier": sent}).service_tier == kept


def test_service_tier_absent_is_none() -> None:
    assert extract_usage({"promptTokenCount": 1, "totalTokenCount": 1}).service_tier is None


def test_token_classes_rows() -> None:
    """The (type, modality, count) rows of gemini_tokens_total: no zero rows, reasoning counted as text."""
    usage = extract_usage({"promptTokenCount": 3500, "cachedContentTokenCount": 2300, "candidatesTokenCount": 10,
                           "thoughtsTokenCount": 5, "toolUsePromptTokenCount": 7, "totalTokenCount": 3522,
                           "promptTokensDetails": details(TEXT=1000, IMAGE=500, AUDIO=2000),
                           "cacheTokensDetails": details(TEXT=800, AUDIO=1500)})
    assert sorted(usage.token_classes()) == sorted([
        ("input", "text", 200), ("input", "image", 500), ("input", "audio", 500),
        ("cache_read", "text", 800), ("cache_read", "audio", 1500),
        ("tool_use", "text", 7), ("output", "text", 10), ("reasoning", "text", 5),
    ])
    assert sum(count for _, _, count in usage.token_classes()) == usage.total == 3522


def test_embedding_prompt_token_details_spelling() -> None:
    """E8: embedding responses spell the list ``promptTokenDetails`` (reference §5 E8, §6.9).

    1,000 TEXT + 258 IMAGE must stay split, or image tokens are priced at the text rate.
    """
    usage = extract_usage({"promptTokenCount": 1258,
                           "promptTokenDetails": details(TEXT=1000, IMAGE=258)})
    assert usage.input == {"text": 1000, "image": 258}


# -- the same Usage from every surface ------------------------------------------------------------------------


SHAPES = {
    "e1": {"promptTokenCount": 250000, "candidatesTokenCount": 4000, "thoughtsTokenCount": 6000,
           "totalTokenCount": 260000, "promptTokensDetails": details(TEXT=250000),
           "candidatesTokensDetails": details(TEXT=4000)},
    "e3": {"promptTokenCount": 50000, "cachedContentTokenCount": 48000, "candidatesTokenCount": 500,
           "totalTokenCount": 50500, "promptTokensDetails": details(TEXT=50000),
           "cacheTokensDetails": details(TEXT=48000)},
    "e4": {"promptTokenCount": 9640, "candidatesTokenCount": 700, "thoughtsTokenCount": 260,
           "totalTokenCount": 10600, "promptTokensDetails": details(TEXT=40, AUDIO=9600)},
    "e5": {"promptTokenCount": 20, "candidatesTokenCount": 1302, "totalTokenCount": 1322,
           "promptTokensDetails": details(TEXT=20), "candidatesTokensDetails": details(TEXT=12, IMAGE=1290)},
    "e7b": {"promptTokenCount": 151, "candidatesTokenCount": 1089, "thoughtsTokenCount": 1120,
            "toolUsePromptTokenCount": 18329, "totalTokenCount": 20689, "promptTokensDetails": details(TEXT=151),
            "toolUsePromptTokensDetails": details(TEXT=18329)},
    "e11": {"promptTokenCount": 20000, "cachedContentTokenCount": 8192, "candidatesTokenCount": 900,
            "thoughtsTokenCount": 2100, "totalTokenCount": 23000},
    "thoughts_inside": {"promptTokenCount": 1200, "candidatesTokenCount": 8800, "thoughtsTokenCount": 8500,
                        "totalTokenCount": 10000},
    "mixed_cache": {"promptTokenCount": 3500, "cachedContentTokenCount": 2300, "candidatesTokenCount": 10,
                    "totalTokenCount": 3510, "promptTokensDetails": details(TEXT=1000, IMAGE=500, AUDIO=2000),
                    "cacheTokensDetails": details(TEXT=800, AUDIO=1500)},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sdk_object_gives_the_same_usage_as_the_camel_case_dict(shape: str) -> None:
    wire = SHAPES[shape]
    sdk = to_sdk(wire)
    assert isinstance(sdk, types.GenerateContentResponseUsageMetadata)
    assert extract_usage(sdk) == extract_usage(wire)


def test_sdk_object_built_from_python_types() -> None:
    """Built the way application code would: snake_case kwargs, MediaModality enums."""
    sdk = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=9640,
        candidates_token_count=700,
        thoughts_token_count=260,
        total_token_count=10600,
        prompt_tokens_details=[
            types.ModalityTokenCount(modality=types.MediaModality.TEXT, token_count=40),
            types.ModalityTokenCount(modality=types.MediaModality.AUDIO, token_count=9600),
        ],
    )
    assert extract_usage(sdk) == extract_usage(SHAPES["e4"])
    assert extract_usage(sdk) == Usage(input={"text": 40, "audio": 9600}, output={"text": 700}, reasoning=260,
                                       prompt_tokens=9640)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_snake_case_dict_gives_the_same_usage(shape: str) -> None:
    wire = SHAPES[shape]
    assert extract_usage(to_snake(wire)) == extract_usage(wire)


# -- property: the classes are disjoint and always add up --------------------------------------------------------

_WIRE_MODALITIES = ("TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT", "MODALITY_UNSPECIFIED")


def _partition(rng: random.Random, count: int) -> list[tuple[str, int]]:
    """Split ``count`` (>= 0) over one to four random modalities (repeats allowed)."""
    parts = rng.randint(1, 4)
    cuts = sorted(rng.randint(0, count) for _ in range(parts - 1))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, count], strict=True)]
    return [(rng.choice(_WIRE_MODALITIES), size) for size in sizes]


def _details(rng: random.Random, count: int) -> list[dict[str, Any]] | None:
    """Missing, exact, partial or exceeding details for a count, in wire form."""
    mode = rng.choice(("missing", "exact", "exact", "partial", "exceeding"))
    if mode == "missing" or count == 0 and rng.random() < 0.5:
        return None
    target = {"exact": count, "partial": rng.randint(0, count), "exceeding": count + rng.randint(1, 5000)}[mode]
    out = []
    for modality, size in _partition(rng, target):
        item: dict[str, Any] = {"modality": modality}
        if size or rng.random() < 0.5:  # proto3 JSON drops zero counts
            item["tokenCount"] = size
        out.append(item)
    return out


def _random_usage(rng: random.Random) -> tuple[dict[str, Any], dict[str, int]]:
    prompt = rng.choice((0, rng.randint(1, 50), rng.randint(1, 300000)))
    cached = rng.choice((0, rng.randint(0, prompt)))
    candidates = rng.choice((0, rng.randint(1, 8000)))
    thoughts = rng.choice((0, rng.randint(1, 30000)))
    tool_use = rng.choice((0, 0, rng.randint(1, 20000)))
    thoughts_inside = bool(thoughts) and rng.random() < 0.3
    reported_candidates = candidates + thoughts if thoughts_inside else candidates
    total = prompt + candidates + thoughts + tool_use
    wire: dict[str, Any] = {"totalTokenCount": total}
    for key, value in (("promptTokenCount", prompt), ("cachedContentTokenCount", cached),
                       ("candidatesTokenCount", reported_candidates), ("thoughtsTokenCount", thoughts),
                       ("toolUsePromptTokenCount", tool_use)):
        if value or rng.random() < 0.3:
            wire[key] = value
    for key, count in (("promptTokensDetails", prompt), ("cacheTokensDetails", cached),
                       ("candidatesTokensDetails", reported_candidates), ("toolUsePromptTokensDetails", tool_use)):
        found = _details(rng, count)
        if found is not None:
            wire[key] = found
    truth = {"prompt": prompt, "cached": cached, "candidates": candidates, "thoughts": thoughts,
             "tool_use": tool_use, "total": total}
    return wire, truth


def _check(usage: Usage | None, truth: dict[str, int], label: str) -> None:
    if truth["total"] == 0:
        assert usage is None, label
        return
    assert usage is not None, label
    assert usage.total == truth["total"], label
    assert usage.input_total + usage.cache_read_total == truth["prompt"], label
    assert usage.cache_read_total == truth["cached"], label
    assert usage.tool_use_total == truth["tool_use"], label
    assert usage.output_total == truth["candidates"], label
    assert usage.reasoning == truth["thoughts"], label
    assert usage.prompt_tokens == truth["prompt"], label
    for counts in (usage.input, usage.cache_read, usage.tool_use, usage.output):
        for modality, count in counts.items():
            assert modality in MODALITIES and isinstance(count, int) and count > 0, label
    assert sum(count for _, _, count in usage.token_classes()) == truth["total"], label


def test_disjoint_classes_always_sum_to_total_token_count() -> None:
    """3,000 generated usages (details missing/exact/partial/exceeding, cache, toolUse, thoughts inside or not),
    each read as a camelCase dict, a snake_case dict and (every fifth) an SDK object: the five classes are
    disjoint, never negative or zero-valued, and add up to totalTokenCount."""
    rng = random.Random(20261231)
    for case in range(3000):
        wire, truth = _random_usage(rng)
        label = f"case {case}: {wire}"
        usage = extract_usage(wire)
        _check(usage, truth, label)
        assert extract_usage(to_snake(wire)) == usage, label
        if case % 5 == 0:
            assert extract_usage(to_sdk(wire)) == usage, label
