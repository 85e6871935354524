"""Training's part of job recovery (rmnconsole.core.recovery): a running job whose worker died ends failed with its
checkpoint kept; a cancel past its grace period gets a hard stop. Called by the recovery loop, never by a read."""

from __future__ import annotations

import logging

from django.utils import timezone

from rmnconsole.core.heartbeat import worker_gone
from rmnconsole.core.paths import relative_to_root
from rmnconsole.core.recovery import LOST
from training.models import TrainingJob
from training.runtime import cancel_grace_seconds, existing_checkpoint, training_redis

log = logging.getLogger(__name__)


def silent_reason(job: TrainingJob, now=None) -> str:
    """Why a running job's worker is certainly gone ("" when there is no such evidence): the one rule
    (rmnconsole.core.heartbeat.worker_gone), said with the host the job ran on."""
    why = worker_gone(job, now)
    if not why:
        return ""
    beat = job.heartbeat_at or job.started_at or job.created_at
    return (
        f"the worker stopped responding: {why} "
        f"(last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC on {job.worker or '?'})"
    )


def end_lost_job(job: TrainingJob, reason: str) -> bool:
    """Compare-and-set a running job whose worker is gone to failed (cancelled if a cancel was asked for),
    keeping its newest checkpoint so that "resume" continues from it."""
    checkpoint = existing_checkpoint(job)
    if checkpoint:
        reason += f"; resume continues from step {checkpoint.name.rsplit('-', 1)[-1]}"
    end_status = TrainingJob.Status.CANCELLED if job.cancel_requested else TrainingJob.Status.FAILED
    return job.transition(
        TrainingJob.Status.RUNNING,
        end_status,
        finished_at=timezone.now(),
        status_reason=reason,
        last_checkpoint=relative_to_root(checkpoint) if checkpoint else job.last_checkpoint,
        eta_seconds=None,
    )


def sweep_training_jobs(job_ids: list[int] | None = None) -> dict[str, int]:
    """End running jobs whose worker died (stale heartbeat or gone process); hard-stop cancels past their grace.

    A recovery pass for some jobs only (`train_batch --wait` watches its own); pages and the API never call it."""
    now = timezone.now()
    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
    if job_ids is not None:
        running = running.filter(pk__in=job_ids)
    counts = {"dead": 0, "hard_stopped": 0}
    for job in running:
        why = silent_reason(job, now)
        if why:
            counts["dead"] += end_lost_job(job, f"{LOST}: {why}")
        elif _cancel_overdue(job, now) and hard_stop(job):
            counts["hard_stopped"] += 1
    return counts


def hard_stop_overdue_cancels() -> dict[str, int]:
    """The periodic part (run by the recovery loop): every cancel gets its hard stop on time."""
    now = timezone.now()
    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING, cancel_requested=True)
    return {"hard_stopped": sum(hard_stop(job) for job in running if _cancel_overdue(job, now))}


def _cancel_overdue(job: TrainingJob, now) -> bool:
    return bool(
        job.cancel_requested
        and job.cancel_requested_at
        and (now - job.cancel_requested_at).total_seconds() > cancel_grace_seconds()
    )


def hard_stop(job: TrainingJob) -> bool:
    """Kill the work horse through RQ, then record the job as cancelled."""
    from rq.command import send_stop_job_command

    try:
        send_stop_job_command(training_redis(), job.rq_job_id)
    except Exception as exc:
        log.warning("hard stop of %s failed: %s", job.rq_job_id, exc)
    checkpoint = existing_checkpoint(job)
    return job.transition(
        TrainingJob.Status.RUNNING,
        TrainingJob.Status.CANCELLED,
        finished_at=timezone.now(),
        status_reason=f"Cancelled: the job did not stop within {cancel_grace_seconds():.0f}s, so its worker was stopped",
        last_checkpoint=relative_to_root(checkpoint) if checkpoint else job.last_checkpoint,
    )
