"""The files a distributed run shares between the work horse and its ranks (one folder per run, on this host).

The horse writes `spec.json` and, to cancel, `stop`; rank 0 appends events (device, progress) to
`events.jsonl` and writes `result.json`; every rank writes `rank-N.pid` when it starts and `error-rank-N.json`
when it fails. Plain files keep the ranks free of Django, Redis and the database.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from training.engine.callback import MetricPoint, Progress
from training.engine.config import build_config
from training.engine.loading import Device
from training.engine.runner import TrainingResult, TrainingRun

SPEC = "spec.json"
EVENTS = "events.jsonl"
RESULT = "result.json"
STOP = "stop"
LAUNCHER_LOG = "launcher.log"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


# --- the spec: a TrainingRun as plain data --------------------------------------------------------------
def write_spec(folder: Path, run: TrainingRun, report_interval: float) -> Path:
    data = {
        "training_type": run.training_type,
        "model_folder": str(run.model_folder),
        "dataset_file": str(run.dataset_file),
        "output_dir": str(run.output_dir),
        "adapter_staging_dir": str(run.adapter_staging_dir),
        "config": run.config.to_dict(),
        "resume_from_checkpoint": str(run.resume_from_checkpoint) if run.resume_from_checkpoint else None,
        "report_interval": report_interval,
    }
    path = folder / SPEC
    write_json_atomic(path, data)
    return path


def read_spec(path: Path) -> tuple[TrainingRun, float]:
    data = json.loads(path.read_text())
    run = TrainingRun(
        training_type=data["training_type"],
        model_folder=Path(data["model_folder"]),
        dataset_file=Path(data["dataset_file"]),
        output_dir=Path(data["output_dir"]),
        adapter_staging_dir=Path(data["adapter_staging_dir"]),
        config=build_config(data["training_type"], data["config"]),
        resume_from_checkpoint=Path(data["resume_from_checkpoint"])
        if data["resume_from_checkpoint"]
        else None,
    )
    return run, float(data["report_interval"])


# --- events from rank 0 ------------------------------------------------------------------------------------
class EventWriter:
    """Rank 0's side: one JSON line per event, flushed at once (the horse tails the file)."""

    def __init__(self, folder: Path):
        self._file = (folder / EVENTS).open("a", encoding="utf-8")

    def _put(self, kind: str, payload: dict) -> None:
        self._file.write(json.dumps({"type": kind, **payload}) + "\n")
        self._file.flush()

    def progress(self, progress: Progress) -> None:
        self._put("progress", dataclasses.asdict(progress))

    def device(self, device: Device) -> None:
        self._put("device", dataclasses.asdict(device))


class EventReader:
    """The horse's side: returns the complete lines appended since the last call."""

    def __init__(self, folder: Path):
        self._path = folder / EVENTS
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict]:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


def progress_from(event: dict) -> Progress:
    fields = {k: v for k, v in event.items() if k != "type"}
    fields["metrics"] = [MetricPoint(**m) for m in fields.get("metrics", [])]
    return Progress(**fields)


def device_from(event: dict) -> Device:
    return Device(**{k: v for k, v in event.items() if k != "type"})


# --- the result and the failures ---------------------------------------------------------------------------
def write_result(folder: Path, result: TrainingResult) -> None:
    data = dataclasses.asdict(result)
    data["last_checkpoint"] = str(result.last_checkpoint) if result.last_checkpoint else None
    write_json_atomic(folder / RESULT, data)


def read_result(folder: Path) -> TrainingResult | None:
    try:
        data = json.loads((folder / RESULT).read_text())
    except FileNotFoundError:
        return None
    data["last_checkpoint"] = Path(data["last_checkpoint"]) if data["last_checkpoint"] else None
    return TrainingResult(**data)


def write_rank_error(folder: Path, rank: int, *, kind: str, reason: str, traceback: str, comm: bool) -> None:
    write_json_atomic(
        folder / f"error-rank-{rank}.json",
        {
            "rank": rank,
            "time": time.time(),
            "kind": kind,
            "reason": reason,
            "traceback": traceback,
            "comm": comm,
        },
    )


def read_rank_errors(folder: Path) -> list[dict]:
    """Every rank's recorded failure, earliest first."""
    errors = []
    for path in folder.glob("error-rank-*.json"):
        try:
            errors.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(errors, key=lambda e: e["time"])


def write_pid(folder: Path, rank: int) -> None:
    write_json_atomic(folder / f"rank-{rank}.pid", os.getpid())


def rank_pids(folder: Path) -> dict[int, int]:
    pids = {}
    for path in folder.glob("rank-*.pid"):
        try:
            pids[int(path.stem.removeprefix("rank-"))] = int(path.read_text())
        except (OSError, ValueError):
            continue
    return dict(sorted(pids.items()))
