"""The run folder the ServerApp writes and the console's horse reads: events, initial and aggregated adapters.

In the demo topology (loopback) it lies under the console's data root; in production it is a folder both the
SuperLink host and the console's workers mount. It never holds silo data: only adapter tensors, counts, losses.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

EVENTS = "events.jsonl"
INITIAL = "initial"  # PEFT folder written by the console before the run: config + the starting LoRA weights
FINAL = "final.safetensors"
SILO_RECORDS = "silo-adapters"  # test/audit mode: each silo's returned tensors per round


class ReportWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def event(self, kind: str, **payload: Any) -> None:
        line = json.dumps({"kind": kind, "at": time.time(), **payload}, default=str)
        # One write() of one line with O_APPEND: a reader never sees a torn line.
        fd = os.open(self.folder / EVENTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class ReportReader:
    """Reads new events since the last call (the horse polls it while the run goes on)."""

    def __init__(self, folder: Path):
        self.path = folder / EVENTS
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return [json.loads(line) for line in data[: end + 1].splitlines() if line.strip()]
