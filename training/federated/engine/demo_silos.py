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


def silo_preferences(retailer: str, count: int) -> list[dict]:
    """DPO rows: the retailer's own answer is chosen, the answer of the next conversation is rejected."""
    chats = silo_rows(retailer, count + 1)
    return [
        {
            "prompt": chats[i]["messages"][-2]["content"],
            "chosen": chats[i]["messages"][-1]["content"],
            "rejected": chats[i + 1]["messages"][-1]["content"],
        }
        for i in range(count)
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path


def write_silo_dataset(folder: Path, retailer: str, count: int = 24) -> Path:
    """`folder/train.jsonl` with `count` chat rows for `retailer`; returns the file."""
    return _write(folder / "train.jsonl", silo_rows(retailer, count))


def write_silo_preferences(folder: Path, retailer: str, count: int = 12) -> Path:
    """`folder/dpo.jsonl` with `count` preference rows (a silo's `dpo-dataset-path`); returns the file."""
    return _write(folder / "dpo.jsonl", silo_preferences(retailer, count))
