"""Local text for the tiny models: retail-media conversations generated from templates (no downloads)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from datasets_app.mappings.rmis import PLACEMENT_TYPES

RETAILERS = ["amazon", "walmart", "target", "kroger", "instacart", "alpha", "beta", "costco"]
PLACEMENTS = PLACEMENT_TYPES  # the corpus talks about the placements the RMIS schema knows
RAW_PLACEMENTS = ["sp", "sd", "onsite_disp", "SPONSORED_PRODUCTS", "search_ad", "display"]
CATEGORIES = ["grocery", "beauty", "electronics", "pet", "home", "toys", "apparel"]
METRICS = ["impressions", "clicks", "cost", "conversions", "attributed_sales", "roas", "ctr", "cpc", "cpm"]
VERBS = ["increase", "reduce", "shift", "hold", "test", "reallocate"]
QUESTIONS = [
    "What is the {m} for {r} {p} campaigns?",
    "Plan a {c} budget for {r} across {p}.",
    "Map this {r} record to RMIS.",
    "Why did {m} drop on {r}?",
    "Write ad copy for a {c} brand on {r}.",
    "Design a test to measure {p} lift in {c}.",
]
ANSWERS = [
    "For {r}, {p} drives {m}; {v} spend by {n} percent and watch {m2}.",
    "RMIS record: placement_type={p}, retailer={r}, category={c}, {m}={n}.",
    "Recommend to {v} {p} in {c} on {r}; expected {m} change {n} percent.",
    "{r} reports {m} in micros; divide by 1000000 to get {m} in currency units.",
    "Holdout test: split {c} shoppers on {r}, expose half to {p}, compare {m}.",
    "Try: 'Fresh {c} picks on {r} - save {n} percent today.'",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        r=rng.choice(RETAILERS),
        p=rng.choice(PLACEMENTS),
        c=rng.choice(CATEGORIES),
        m=rng.choice(METRICS),
        m2=rng.choice(METRICS),
        v=rng.choice(VERBS),
        n=rng.randint(1, 99),
    )


def _raw_record(rng: random.Random) -> str:
    return json.dumps(
        {
            "adType": rng.choice(RAW_PLACEMENTS),
            "cost_micros": rng.randint(1000, 9_000_000),
            "timestamp": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T1{rng.randint(0, 9)}:00:00-05:00",
            "conv_click_7d": rng.randint(0, 40),
        }
    )


def conversations(count: int, seed: int = 7) -> Iterator[list[dict[str, str]]]:
    """Chat-formatted examples: questions and answers about retail media, plus raw → RMIS records."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 4 == 3:
            user = "Map this record to RMIS: " + _raw_record(rng)
            answer = _fill(ANSWERS[1], rng)
        else:
            user = _fill(rng.choice(QUESTIONS), rng)
            answer = _fill(rng.choice(ANSWERS), rng)
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        if i % 5 == 0:
            messages.insert(0, {"role": "system", "content": "You are a retail media analyst."})
        yield messages


def plain_text(count: int, seed: int = 11) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        yield " ".join(_fill(rng.choice(ANSWERS + QUESTIONS), rng) for _ in range(3))
