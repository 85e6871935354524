"""Demo silo data: each demo retailer's chat examples, written into that silo's own folder (never the console's).

Deterministic (fixed seed per retailer) so tests and the benchmark see the same rows every run. Each retailer
has its own slice of the tiny retail-media corpus plus records tagged with its own name: the silos differ.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.engine.tiny_corpus import conversations

DEMO_RETAILERS = ("retailer_alpha", "retailer_beta", "retailer_gamma")


def silo_rows(retailer: str, count: int) -> list[dict]:
    seed = sum(ord(c) for c in retailer)  # stable across processes (no hash randomisation)
    rows = []
    for i, messages in enumerate(conversations(count, seed=seed)):
        if i % 3 == 0:
            messages = [dict(m) for m in messages]
            messages[-1]["content"] = f"For {retailer}: " + messages[-1]["content"]
        rows.append({"messages": messages})
    return rows


def write_silo_dataset(folder: Path, retailer: str, count: int = 24) -> Path:
    """`folder/train.jsonl` with `count` chat rows for `retailer`; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.jsonl"
    tmp = path.with_suffix(".part")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in silo_rows(retailer, count)), encoding="utf-8")
    tmp.replace(path)
    return path
