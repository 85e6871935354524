"""Signals and hooks training offers to code that builds on it (evaluation, sweeps): training never imports them;
they connect or register from an AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

# Sent after the transaction that registered a finished job's adapter commits: kwargs job=TrainingJob, adapter=Adapter.
training_completed = Signal()

# Sent whenever a training job has ended, whatever the outcome (completed, failed, cancelled, pruned, lost):
# kwargs job=TrainingJob, in_worker_parent=bool (True in an RQ worker's parent process, which forks work horses and
# should hand heavy work to a queue). Receivers must not raise (send_robust is used); sweeps advance their study here.
training_job_ended = Signal()

# Per-job eval hooks: `factory(job)` returns None or a callable (step, eval_loss) -> reason to stop ("" = go on)
# that the engine's eval callback calls. Sweeps register their pruning report here.
EvalHook = Callable[[int, float], str]
_eval_hook_factories: list[Callable[[Any], EvalHook | None]] = []


def register_eval_hook(factory: Callable[[Any], EvalHook | None]) -> None:
    if factory not in _eval_hook_factories:
        _eval_hook_factories.append(factory)


def eval_hook(job: Any) -> EvalHook | None:
    """The first registered hook that wants this job (a job belongs to at most one sweep)."""
    for factory in _eval_hook_factories:
        hook = factory(job)
        if hook is not None:
            return hook
    return None


def job_ended(job: Any, *, in_worker_parent: bool = False) -> None:
    """Tell every receiver that `job` ended; a failing receiver is logged, never raised into training."""
    import logging

    for receiver, result in training_job_ended.send_robust(
        sender=type(job), job=job, in_worker_parent=in_worker_parent
    ):
        if isinstance(result, Exception):
            logging.getLogger(__name__).error("training_job_ended receiver %s failed: %s", receiver, result)
