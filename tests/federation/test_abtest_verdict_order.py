"""The A/B verdict names A's number first and B's second, the order of the page's columns."""

from __future__ import annotations

from federation.engine.abstats import PairedDifference, verdict


def test_verdict_reads_a_then_b():
    better_b = PairedDifference("token_f1", mean_a=0.20, mean_b=0.80, diff=0.60, ci_low=0.40, ci_high=0.75)
    text = verdict(better_b, "retailer-only", "retailer+task")
    assert text.startswith("B (retailer+task) is better")
    assert "A 0.20 vs B 0.80" in text
    assert text.index("0.20") < text.index("0.80")
    better_a = PairedDifference("token_f1", mean_a=0.90, mean_b=0.10, diff=-0.80, ci_low=-0.9, ci_high=-0.6)
    assert "A 0.90 vs B 0.10" in verdict(better_a) and verdict(better_a).startswith("A (A) is better")
