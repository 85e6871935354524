"""One rank of a distributed training run, started by torchrun: `python -m training.engine.ddp_entry SPEC`.

Every rank runs the same engine (runner.run_training); rank 0 alone reports progress, saves the adapter and
writes the result. A stop request is read by rank 0 and agreed on by all ranks at the same step, so they leave
the training loop together and the cancel checkpoint is complete.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

from training.engine.ddp_files import (
    STOP,
    EventWriter,
    read_spec,
    write_pid,
    write_rank_error,
    write_result,
)
from training.engine.process import die_with_parent, rank

# A collective per step costs ~5 % on small fast steps; every 4th step keeps a cancel within a few steps.
STOP_CHECK_STEPS = 4


def agreed_stop(
    local: Callable[[], bool], is_cuda: Callable[[], bool], every: int = STOP_CHECK_STEPS
) -> Callable[[], bool]:
    """A should_stop that every rank calls once per step: rank 0's answer, shared with an all-reduce on every
    `every`-th call (the same steps on all ranks, so they still stop together)."""
    calls = [0]

    def should_stop() -> bool:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return local()
        calls[0] += 1
        if calls[0] % every:
            return False
        device = f"cuda:{torch.cuda.current_device()}" if is_cuda() else "cpu"
        flag = torch.tensor([1 if rank() == 0 and local() else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    return should_stop


def is_communication_error(exc: BaseException) -> bool:
    """A failure that only echoes another rank's death (the peer hung up mid-collective)."""
    import torch.distributed as dist

    text = str(exc).lower()
    return isinstance(exc, getattr(dist, "DistError", ())) or any(
        k in text for k in ("connection closed by peer", "connection reset", "gloo", "nccl", "broken pipe")
    )


def main(argv: list[str]) -> int:
    die_with_parent(signal.SIGKILL)  # torchrun's agent gone (killed with its horse): stop training at once
    spec_path = Path(argv[0])
    folder = spec_path.parent
    me = rank()
    write_pid(folder, me)
    from training.engine.errors import classify
    from training.engine.runner import run_training

    cfg = None
    try:
        run, report_interval = read_spec(spec_path)
        cfg = run.config
        events = EventWriter(folder) if me == 0 else None
        result = run_training(
            run,
            events.progress if events else (lambda progress: None),
            agreed_stop(lambda: (folder / STOP).exists(), _cuda),
            report_interval=report_interval,
            on_device=events.device if events else None,
        )
        if me == 0:
            write_result(folder, result)
        leave_group()
        return 0
    except BaseException as exc:
        failure = classify(
            exc, batch_size=cfg.batch_size if cfg else None, quantization=cfg.quantization if cfg else None
        )
        write_rank_error(
            folder,
            me,
            kind=failure.kind,
            reason=failure.reason,
            traceback=failure.traceback,
            comm=is_communication_error(exc),
        )
        return 1


def leave_group() -> None:
    """Wait until every rank is done (rank 0 has its result written), then tear the group down cleanly.

    A rank that simply exits while a peer still holds the group can abort in gloo's threads ("terminate called
    without an active exception", SIGABRT), and torchrun would then fail a job that had finished."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
