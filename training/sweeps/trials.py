"""What a sweep trial's training job calls in its worker: the pruning report at each eval, and the end hook."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

PRUNER_WORDS = {
    "median": "the median pruner (worse than the median of earlier trials at this step)",
    "hyperband": "the Hyperband pruner (not among the best of its bracket at this step)",
    "threshold": "the threshold pruner",
}


def pruning_hook(job) -> Callable[[int, float], str] | None:
    """For a sweep trial with a pruner: a callable the engine's eval callback calls with (step, eval loss); it
    reports the value to the trial in Optuna's storage and answers why to stop ("" = go on). None otherwise."""
    if not job.sweep_id:
        return None
    try:
        from optuna.trial import Trial

        from training.sweeps.models import Sweep
        from training.sweeps.study import load_study

        sweep = Sweep.objects.get(pk=job.sweep_id)
        if sweep.pruner in ("", "none"):
            return None
        study = load_study(sweep)
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, job.sweep_trial)
        trial = Trial(study, trial_id)
    except Exception:  # pruning is an optimisation: a trial without it still trains and counts
        log.exception("training job %s: no pruning for this trial", job.pk)
        return None
    words = PRUNER_WORDS.get(sweep.pruner, sweep.pruner)
    threshold = sweep.pruner_threshold

    def on_eval(step: int, value: float) -> str:
        try:
            trial.report(value, step)
            if not trial.should_prune():
                return ""
        except Exception:
            log.exception("training job %s: pruning report at step %s failed", job.pk, step)
            return ""
        extra = f" above {threshold:g}" if sweep.pruner == "threshold" and threshold is not None else ""
        return f"Pruned at step {step} by {words}: eval loss {value:.4f}{extra}"

    return on_eval


def trial_ended(job, *, in_worker_parent: bool = False) -> None:
    """After a sweep trial's job ended: tell the study and ask the next trial. Never raises (the recovery
    upkeep advances every running sweep anyway, so a failure here only delays the next trial).

    In an RQ worker's parent process (its job callbacks) the work is queued for a worker instead: that process
    forks the work horses and should not do database-heavy Optuna work itself."""
    if not getattr(job, "sweep_id", None):
        return
    try:
        if in_worker_parent:
            from rmnconsole.core import queues
            from training.sweeps.models import Sweep

            queues.enqueue(Sweep.default_queue, Sweep.task_path, job.sweep_id)
            return
        from training.sweeps.services import advance_sweep

        advance_sweep(job.sweep_id)
    except Exception:
        log.exception(
            "sweep %s: advancing after job %s failed; the recovery upkeep will retry", job.sweep_id, job.pk
        )


def on_job_ended(sender, job, in_worker_parent: bool = False, **_kwargs) -> None:
    """training_job_ended's receiver (connected in training.apps): training itself never imports sweeps."""
    trial_ended(job, in_worker_parent=in_worker_parent)
