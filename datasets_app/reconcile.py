"""The dataset library's job rows for the reconcile step (rmnconsole.reconcile): background validations."""

from __future__ import annotations

from datasets_app.models import Dataset
from rmnconsole import queues
from rmnconsole.reconcile import JobKind


def _requeue(dataset: Dataset):
    # The lost queue entry held the optional tokenizer arguments; the re-run measures lengths in characters.
    return queues.enqueue(
        queues.DEFAULT,
        "datasets_app.dataset_tasks.validate_dataset_task",
        dataset.pk,
        job_id=dataset.rq_job_id,
    )


def _fail(dataset: Dataset, reason: str) -> bool:
    active = (Dataset.Status.PENDING, Dataset.Status.VALIDATING)
    return bool(
        Dataset.objects.filter(pk=dataset.pk, status__in=active).update(
            status=Dataset.Status.FAILED, status_reason=f"{reason}; validate it again", progress_pct=100.0
        )
    )


JOB_KINDS = [
    JobKind(
        label="dataset validation",
        queue=queues.DEFAULT,
        queued=lambda: Dataset.objects.filter(status=Dataset.Status.PENDING).exclude(rq_job_id=""),
        # No heartbeat: a validating row ends only when its queue entry did (failed, stopped) without a result.
        running=lambda: Dataset.objects.filter(status=Dataset.Status.VALIDATING).exclude(rq_job_id=""),
        requeue=_requeue,
        fail=_fail,
    )
]
