"""Training's job kind for recovery (rmnconsole.core.recovery), registered by training.apps: a queued job Redis lost
goes back on its capability queue; a running job whose worker is gone ends "Worker lost" with its last checkpoint
kept; a cancel past its grace period gets its hard stop."""

from __future__ import annotations

from rmnconsole.core.recovery import JobKind
from training.models import ModelImport, TrainingJob
from training.signals import job_ended
from training.sweeper import end_lost_job, hard_stop_overdue_cancels, silent_reason
from training.sweeps.models import Sweep
from training.sweeps.services import upkeep as sweep_upkeep


def end_lost_trial(job: TrainingJob, reason: str) -> bool:
    """end_lost_job, then tell whoever listens (a sweep trial's sweep) at once (a killed work horse, a dead worker)."""
    ended = end_lost_job(job, reason)
    if ended:
        job_ended(job)
    return ended


def job_kinds() -> list[JobKind]:
    return [
        JobKind.for_model(
            TrainingJob,
            label="training job",
            fail=end_lost_trial,
            dead=silent_reason,
            upkeep=hard_stop_overdue_cancels,
        ),
        # A lost import re-runs from its source: it stages in a fresh folder and renames into place at the end.
        JobKind.for_model(ModelImport, label="base-model import"),
        # A sweep has no worker of its own (its trials do): never "lost"; its upkeep advances it.
        JobKind.for_model(Sweep, label="sweep", dead=lambda row: "", upkeep=sweep_upkeep),
    ]
