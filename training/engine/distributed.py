"""Run a job on several processes (one DDP rank per GPU) with torchrun, from the work horse.

The horse keeps its role of a single-process job: it tails rank 0's events into `report`, turns `should_stop`
into a stop file all ranks agree on, and turns however the ranks ended into one result or one readable failure.
No ORM here: the horse's JobSync does the writing, exactly as for an in-process run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from training.engine.callback import Progress
from training.engine.ddp_files import (
    LAUNCHER_LOG,
    STOP,
    EventReader,
    device_from,
    progress_from,
    rank_pids,
    read_rank_errors,
    read_result,
    write_spec,
)
from training.engine.errors import DistributedFailure
from training.engine.loading import Device
from training.engine.runner import TrainingResult, TrainingRun

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_FAILURE = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def launch_command(spec: Path, nproc: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "training.engine.ddp_launch",
        "--standalone",  # a private rendezvous on a free local port: no port to pick, none to collide
        f"--nproc-per-node={nproc}",
        "--max-restarts=0",  # a failed rank fails the job; resume from its checkpoint is the user's call
        "--monitor-interval=0.5",
        "-m",
        "training.engine.ddp_entry",
        str(spec),
    ]


def rank_env(nproc: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    # torchrun's default is 1 thread per rank; give the ranks the host's cores between them.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_distributed(
    run: TrainingRun,
    report: Callable[[Progress], None],
    should_stop: Callable[[], bool],
    *,
    nproc: int,
    folder: Path,
    report_interval: float = 1.0,
    on_device: Callable[[Device], None] | None = None,
    on_line: Callable[[str], None] = lambda line: None,
    poll_every: float = 0.25,
) -> TrainingResult:
    """Train on `nproc` ranks; returns rank 0's result, or raises DistributedFailure naming the rank at fault."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spec = write_spec(folder, run, report_interval)
    with (folder / LAUNCHER_LOG).open("ab") as launcher_log:
        proc = subprocess.Popen(
            launch_command(spec, nproc),
            cwd=PROJECT_ROOT,
            env=rank_env(nproc),
            stdin=subprocess.DEVNULL,
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: signals for the horse's group are not for it
        )
    on_line(f"torchrun started {nproc} ranks (launcher pid {proc.pid}, files in {folder})")
    reader = EventReader(folder)
    announced = stop_sent = False
    try:
        while True:
            code = proc.poll()
            _dispatch(reader.read(), report, on_device)
            if not announced and len(pids := rank_pids(folder)) == nproc:
                on_line("ranks running: " + ", ".join(f"rank {r} pid {p}" for r, p in pids.items()))
                announced = True
            if code is not None:
                break
            if not stop_sent and should_stop():
                (folder / STOP).touch()
                stop_sent = True
            time.sleep(poll_every)
    finally:
        if proc.poll() is None:  # the horse is leaving (job timeout, an error here): take every rank along
            stop_ranks(proc, folder)
    _dispatch(reader.read(), report, on_device)
    result = read_result(folder)
    if code == 0 and result is not None:
        return result
    kind, reason, detail = explain_failure(folder, code, nproc)
    raise DistributedFailure(kind, reason, detail)


def _dispatch(events: list[dict], report, on_device) -> None:
    for event in events:
        if event["type"] == "progress":
            report(progress_from(event))
        elif event["type"] == "device" and on_device:
            on_device(device_from(event))


def stop_ranks(proc: subprocess.Popen, folder: Path, grace: float = 10.0) -> None:
    """SIGTERM torchrun (it stops its ranks), then SIGKILL whatever is left: the launcher's group and each rank."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(5)
    for pid in rank_pids(folder).values():
        _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # launcher and ranks each lead their own session, so pid == pgid


def explain_failure(folder: Path, code: int | None, nproc: int) -> tuple[str, str, str]:
    """(kind, reason, detail) for the first cause: a rank's own error beats a signal death beats a peer hang-up."""
    errors = read_rank_errors(folder)
    launcher_text = _tail(folder / LAUNCHER_LOG)
    own = [e for e in errors if not e["comm"]]
    if own:
        first = own[0]
        return first["kind"], f"Rank {first['rank']} of {nproc} failed: {first['reason']}", first["traceback"]
    deaths = [(int(r), int(c)) for r, c in _FAILURE.findall(launcher_text) if int(c) < 0]
    # torchrun stops the surviving ranks with SIGTERM: a SIGTERM death is an echo unless it is the only one.
    deaths.sort(key=lambda d: d[1] == -signal.SIGTERM)
    if deaths:
        rank, exit_code = deaths[0]
        name = _signal_name(-exit_code)
        hint = (
            " (the kernel's out-of-memory killer sends SIGKILL: check the host's memory)"
            if name == "SIGKILL"
            else ""
        )
        return (
            "rank_died",
            f"Rank {rank} of {nproc} died: killed by {name} (exit code {exit_code}){hint}; the other ranks were stopped",
            launcher_text,
        )
    if errors:
        first = errors[0]
        return (
            "rank_died",
            f"Rank {first['rank']} of {nproc} lost contact with the other ranks: {first['reason']}",
            first["traceback"],
        )
    last = next((line for line in reversed(launcher_text.splitlines()) if line.strip()), "no output")
    return (
        "error",
        f"The distributed launcher (torchrun) exited with code {code}: {last.strip()[:500]}",
        launcher_text,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(path: Path, limit: int = 20_000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")
