"""Shared by the pipeline tests: the demo Alpha mapping, a fast training preset, and an inline driver that runs a
pipeline's queued steps and the jobs they start in this process."""

from __future__ import annotations

import os
from pathlib import Path

FAST = {"max_steps": 4, "batch_size": 4, "checkpoint_steps": 4, "eval_steps": 4, "lora_r": 8, "lora_alpha": 16,
        "validation_split": 0.1}  # fmt: skip


def drop_alpha(folder: Path, name: str, *, rows: int = 300, seed: int = 11, age: float = 60.0) -> Path:
    """A Retailer Alpha export, as a retailer would drop it (its mtime `age` seconds in the past: stable)."""
    from datasets_app.mappings.demo import write_alpha_csv

    folder.mkdir(parents=True, exist_ok=True)
    path = write_alpha_csv(folder / name, rows=rows, seed=seed)
    if age:
        stamp = path.stat().st_mtime - age
        os.utime(path, (stamp, stamp))
    return path


def drive(run):
    """The run, driven in this process until it stops moving (the CLI's run-here path)."""
    from federation.pipelines.inline import run_here

    return run_here(run)
