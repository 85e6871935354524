"""Helpers for the dataset library tests: small JSONL files with known content."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    "campaign",
    "budget",
    "sponsored",
    "product",
    "brand",
    "display",
    "offsite",
    "onsite",
    "retailer",
    "audience",
    "impressions",
    "clicks",
    "conversions",
    "roas",
    "placement",
    "keyword",
    "bid",
    "creative",
    "headline",
    "grocery",
    "beauty",
    "electronics",
    "halo",
    "attribution",
    "window",
    "incremental",
    "lift",
]


def text(seed: int, n: int = 30) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(n))


def sft_rows(n: int = 30, seed: int = 0) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": text(seed + i)},
                {"role": "assistant", "content": text(seed + i + 10_000)},
            ]
        }
        for i in range(n)
    ]


def dpo_rows(n: int = 30, seed: int = 0) -> list[dict]:
    return [
        {"prompt": text(seed + i), "chosen": text(seed + i + 1), "rejected": text(seed + i + 2)}
        for i in range(n)
    ]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def poor_rows(n: int = 30) -> list[dict]:
    """A dataset far below the gate: a third of it duplicated."""
    rows = sft_rows(n)
    return rows + rows[: n // 3]
