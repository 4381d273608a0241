"""Per-surface facts read from responses (batch results, cache storage, interactions, 429 quota bodies).

Each turns what Google returned into facts that pricing/bill.py prices; none knows OpenTelemetry.
"""
