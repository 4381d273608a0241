"""``otel-gemini price``: one response through the same billing function the library and the agent use.

Each line shows tokens × rate = amount, the rate being the line's amount over its tokens (tier, long-context,
markup and regional factors included), so the line can be checked by hand against the pricing page; the amounts
themselves are :func:`~otel_gemini.pricing.bill.bill`'s, never recomputed here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from otel_gemini.cli._input import BadInput, day, read_json
from otel_gemini.cli.prices_view import first_priced
from otel_gemini.pricing import engine, pacific
from otel_gemini.pricing.bill import Bill, Charge, Facts, bill, billed_model
from otel_gemini.pricing.pricer import Pricer
from otel_gemini.pricing.table import PriceTable
from otel_gemini.usage import RefusedUsage, Usage, extract_usage

_MILLION = Decimal(1_000_000)
LABELS = {"input": "input", "tool_use": "tool-use input", "cache_read": "cached input", "output": "output",
          "reasoning": "thinking", "cache_write": "cache write", "cache_storage": "cache storage",
          "grounding": "grounding", "media": "media"}
"""How each cost type is named on a line ("tool_use" is an ``input`` line: tool-use tokens bill at the input rate)."""


def _usage_of(body: dict[str, Any]) -> Any:
    return body.get("usageMetadata", body.get("usage_metadata"))


def response_of(document: Any, where: str) -> tuple[dict[str, Any], str | None]:
    """The response body to bill, and a note when it was picked out of a saved stream.

    A stream saved as a JSON array of chunks: each chunk's ``usageMetadata`` is the running total so far, so the
    last chunk carrying one is the stream's bill (summing them would bill the prompt once per chunk).
    """
    if isinstance(document, dict):
        return document, None
    if not isinstance(document, list) or not all(isinstance(chunk, dict) for chunk in document):
        raise BadInput(f"otel-gemini price: {where} is neither a response body, its usageMetadata, nor a JSON array "
                       "of stream chunks")
    metered = [chunk for chunk in document if _usage_of(chunk) is not None]
    chosen = dict(metered[-1]) if metered else {}
    if "modelVersion" not in chosen:
        versions = [chunk["modelVersion"] for chunk in document if chunk.get("modelVersion")]
        if versions:
            chosen["modelVersion"] = versions[-1]
    if "candidates" not in chosen or not any("groundingMetadata" in c for c in chosen["candidates"] or ()):
        grounded = [chunk for chunk in document if any(isinstance(c, dict) and "groundingMetadata" in c
                                                       for c in chunk.get("candidates") or ())]
        if grounded:
            chosen["candidates"] = grounded[-1]["candidates"]
    note = (f"a stream of {len(document)} chunks: priced by the last chunk's usageMetadata (the stream's running "
            "total)") if metered else None
    return chosen, note


def _token_classes(usage: Usage, grounded: bool) -> list[tuple[str, str, str, int]]:
    """(cost type, modality, label, tokens) in the order engine.price_usage writes its lines."""
    classes = [("input", "input", usage.input), ("cache_read", "cache_read", usage.cache_read)]
    if not grounded:  # grounded retrieval: tool-use tokens are not billed (the grounding fee is)
        classes.append(("input", "tool_use", usage.tool_use))
    classes.append(("output", "output", usage.output))
    rows = [(cost_type, m, LABELS[name], n) for cost_type, name, counts in classes for m, n in counts.items() if n]
    if usage.reasoning:
        rows.append(("reasoning", "text", LABELS["reasoning"], usage.reasoning))
    return rows


def _amount(value: Decimal) -> str:
    return "$" + format(value.normalize(), "f")


def lines(charge: Charge, grounded: bool) -> Iterator[str]:
    """One printed line per cost line: label, tokens × rate per 1M = amount (units for fees)."""
    expected = _token_classes(charge.usage, grounded) if charge.usage is not None else []
    for line in charge.cost.lines:
        match = next((row for row in expected if row[:2] == (line.cost_type, line.modality)), None)
        name = f"{match[2] if match else LABELS.get(line.cost_type, line.cost_type)} {line.modality}"
        if match is not None:
            expected.remove(match)
            tokens = match[3]
            rate = format((line.amount / tokens * _MILLION).normalize(), "f")
            basis = " (output rate)" if line.cost_type == "reasoning" else ""
            yield f"  {name:<22}  {tokens:>11,} tok × ${rate}/1M{basis} = {_amount(line.amount)}"
        elif line.cost_type == "grounding" and charge.grounding:
            tool, unit, units = charge.grounding[0]
            yield f"  {name:<22}  {units:>11,} {unit}(s) of {tool} = {_amount(line.amount)}"
        else:
            yield f"  {name:<22}  {_amount(line.amount)}"


def _grounding(document: Any, args: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    """Search/Maps grounding of a response body (``webSearchQueries``, Maps chunks), or as the flags say."""
    candidates = document.get("candidates") if isinstance(document, dict) else None
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    metadata = first.get("groundingMetadata") or {}
    queries = len(metadata.get("webSearchQueries") or ())
    maps = any(isinstance(c, dict) and c.get("maps") for c in metadata.get("groundingChunks") or ())
    queries = args.search_queries or queries
    if not (queries or maps or args.grounded):
        return ()
    return (("google_maps" if maps and not queries else "google_search", queries or 1),)


def run(args: argparse.Namespace, table: PriceTable) -> int:
    at = day(args.at, "price")
    where = "standard input" if args.usage == "-" else args.usage
    document, note = response_of(read_json(args.usage, "price"), where)
    usage_metadata = _usage_of(document)
    if usage_metadata is None and "candidates" not in document and "modelVersion" not in document:
        usage_metadata = document  # the file is the usageMetadata itself
    try:  # data from outside: a count that cannot be a bill is refused, not priced (docs/validation.md)
        usage = extract_usage(usage_metadata, strict=True) if usage_metadata is not None else None
    except RefusedUsage as refused:
        raise BadInput(f"refused: {refused} (docs/validation.md); not priced") from None
    except (ValueError, TypeError) as problem:
        raise BadInput(f"otel-gemini price: {where}: usageMetadata refused ({problem})") from None
    served = document.get("modelVersion") if isinstance(document.get("modelVersion"), str) else None
    model = args.model or served
    if not model:
        raise BadInput(f"otel-gemini price: no model: {where} has no modelVersion; pass --model")
    if note:
        print(note)
    pricer = Pricer(table, billing_tier="free" if args.free_tier else "tier1", tuned_models=args.tuned_models or "",
                    markup=args.markup)
    _model, model_id, _tuned = billed_model(pricer, model, served)
    first = first_priced(table, model_id, args.platform) if model_id else None
    on = pacific.pacific_date(at)
    if first and date.fromisoformat(first) > on:
        raise BadInput(f"otel-gemini price: no price for {model_id} on {on} (first priced from {first})")
    tools = _grounding(document, args)
    billed: Bill = bill(pricer, Facts(
        usage, model, served, args.service_tier, tools, at, args.platform,
        args.location, http_failed=args.failed,
    ))
    print(f"model {model} -> {billed.model_id or 'unknown'}; tier {billed.service_tier}; status {billed.status}")
    if billed.status == engine.UNPRICED:
        raise BadInput(f"otel-gemini price: no price for {model} on {on}: counted as unpriced, never $0")
    if usage is None and not args.failed:
        raise BadInput(f"otel-gemini price: no usageMetadata in {where}: unmetered")
    if billed.long_context:
        print("prompt over the long-context threshold: every token class at the long-context rates")
    grounded = any(count for _tool, count in tools)
    for charge in billed.charges:
        for text in lines(charge, grounded):
            print(text)
    source = billed.source
    print(f"total {_amount(billed.total)}  (source: {table.source_url(source) if source else '-'})")
    if billed.list_price is not None:
        print(f"free tier: paid-tier price would be {_amount(billed.list_price)}")
    return 0
