"""Small helpers of the training fault tests: distinct rows that pass the quality gate, waiting, process checks."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

PLACEMENTS = {"sp": "sponsored_product", "sd": "sponsored_display", "instore": "in_store"}


def prompt_completion_rows(n: int = 24, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        retailer, code, cost = (
            rng.choice(["amazon", "walmart", "target"]),
            rng.choice(list(PLACEMENTS)),
            rng.randint(1, 90_000),
        )
        rows.append({
            "prompt": f"Map the {retailer} row campaign_id=C{1000 + i} adType={code} cost_micros={cost * 10_000} to RMIS.",
            "completion": f"placement_type: {PLACEMENTS[code]}, campaign_id: C{1000 + i}, cost: {cost / 100:.2f}",
        })  # fmt: skip
    return rows


def write_dataset(data_root: Path, name: str = "faults.jsonl", n: int = 24) -> str:
    path = Path(data_root) / "datasets" / "sft" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in prompt_completion_rows(n)))
    return f"datasets/sft/{name}"


def wait_for(condition, what: str, timeout: float = 180.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"worker exited ({proc.returncode}) while waiting for {what}: {worker_log(proc)}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{worker_log(proc)}")


def worker_log(proc) -> str:
    return Path(proc.log_path).read_text()[-4000:] if proc is not None and hasattr(proc, "log_path") else ""


def process_is_dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True
