"""The dataset library's job rows for the reconcile step (rmnconsole.core.reconcile): background validations."""

from __future__ import annotations

from datasets_app.library.runs import enqueue_validation_job
from datasets_app.models import Dataset
from rmnconsole.core import queues
from rmnconsole.core.reconcile import JobKind, heartbeat_stale, process_gone


def _silent(dataset: Dataset) -> str:
    """Its validating process on this host died, or its heartbeat went stale (rows from before heartbeats: never)."""
    return process_gone(dataset.worker) or heartbeat_stale(dataset.heartbeat_at)


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
        running=lambda: Dataset.objects.filter(status=Dataset.Status.VALIDATING).exclude(rq_job_id=""),
        requeue=enqueue_validation_job,  # with the row's own options (tokenizer, max length)
        fail=_fail,
        dead=_silent,
    )
]


def upkeep() -> dict[str, int]:
    """Periodic housekeeping of the library beside the job rows: files that hard-stopped uploads left behind."""
    from datasets_app.library.services import sweep_orphan_uploads

    return {"orphan_uploads_removed": len(sweep_orphan_uploads())}
