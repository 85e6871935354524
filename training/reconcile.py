"""Training's job rows for the reconcile step (rmnconsole.core.reconcile): a queued job Redis lost goes back on its
capability queue; a running job whose worker is gone ends "Worker lost" with its last checkpoint kept; a cancel past
its grace period gets its hard stop."""

from __future__ import annotations

from rmnconsole.core import queues
from rmnconsole.core.reconcile import JobKind
from training.models import TrainingJob
from training.sweeper import end_lost_job, hard_stop_overdue_cancels, silent_reason


def _requeue(job: TrainingJob):
    from training.services import _enqueue  # the one enqueue: same queue, job id and callbacks as at submit

    return _enqueue(job)


JOB_KINDS = [
    JobKind(
        label="training job",
        queue=queues.TRAINING,
        queued=lambda: TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED).exclude(rq_job_id=""),
        running=lambda: TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING),
        requeue=_requeue,
        fail=end_lost_job,
        dead=silent_reason,
        upkeep=hard_stop_overdue_cancels,
    )
]
