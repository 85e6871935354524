"""The queued-job base: a database row mirrors each RQ job, and the row is the truth about it.

Every long-running thing the console does (training, gate training, inference, A/B tests, dataset validation,
model import, eval runs …) is a concrete subclass of `QueuedJob`. The row is saved inside the request's
transaction and enqueued on commit (`enqueue_on_commit`), so a rolled-back request never leaves a phantom job;
every status change is a compare-and-set (`transition`), so two workers can never both claim or end a row.
Apps register how to recover their kinds (`rmnconsole.core.recovery`) from their `AppConfig.ready()`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
FINISHED_STATUSES = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


class QueuedJob(models.Model):
    """Abstract: status, the RQ job it mirrors, where it runs, its heartbeat and its timestamps.

    Subclasses set `task_path` (the RQ entry point, called with the row's pk), `default_queue` and
    `rq_job_prefix`; a row's own `queue_name` wins when set (training jobs are routed to capability queues).
    A row has one RQ job id for life (`<prefix>-<pk>`): a re-enqueued job keeps it, so a duplicate queue entry
    finds the row already claimed.
    """

    Status = JobStatus
    ACTIVE: ClassVar[tuple[str, ...]] = ACTIVE_STATUSES
    FINISHED: ClassVar[tuple[str, ...]] = FINISHED_STATUSES

    task_path: ClassVar[str] = ""
    default_queue: ClassVar[str] = "default"
    rq_job_prefix: ClassVar[str] = "job"

    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    status_reason = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True)
    queue_name = models.CharField(max_length=100, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process that runs it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def transition(self, from_statuses: tuple[str, ...] | str, to_status: str, **fields: Any) -> bool:
        """Compare-and-set status change: True only for the one caller whose update matched."""
        if isinstance(from_statuses, str):
            from_statuses = (from_statuses,)
        changed = (
            type(self)
            ._default_manager.filter(pk=self.pk, status__in=from_statuses)
            .update(status=to_status, **fields)
        )
        if changed:
            self.status = to_status
            for name, value in fields.items():
                setattr(self, name, value)
            self.publish_status()
        return changed == 1

    def publish_status(self) -> None:
        """Tell the row's live watchers its status changed (after commit; a final status is flushed at once, since
        a work horse exits right after writing it)."""
        from rmnconsole.core import live

        event = {"kind": "status", "status": self.status, "reason": (self.status_reason or "")[:2000]}
        live.publish_on_commit(live.group_for(self), event, flush=self.status in self.FINISHED)

    def publish_live(self, kind: str, **data: Any) -> None:
        """A kind-specific live event for this row's watchers (progress, points, log …), after commit."""
        from rmnconsole.core import live

        live.publish_on_commit(live.group_for(self), {"kind": kind, **data})

    def claim(self, worker: str, **fields: Any) -> bool:
        """queued → running for exactly one worker."""
        now = timezone.now()
        return self.transition(
            JobStatus.QUEUED, JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now, **fields
        )

    def finish(self, status: str, reason: str = "", **fields: Any) -> bool:
        """End an active row (completed / failed / cancelled) once."""
        if reason:
            fields["status_reason"] = reason
        return self.transition(self.ACTIVE, status, finished_at=timezone.now(), **fields)

    # --- enqueueing ---
    def queue_for_job(self) -> str:
        return self.queue_name or self.default_queue

    def enqueue_options(self) -> dict[str, Any]:
        """Extra RQ options (callbacks, description, timeouts); override per kind."""
        return {}

    def task_args(self) -> tuple:
        """What the task is called with: the row's pk (the task re-reads everything else from the row)."""
        return (self.pk,)

    def assign_rq_job_id(self) -> str:
        if not self.rq_job_id:
            self.rq_job_id = f"{self.rq_job_prefix}-{self.pk}"
            type(self)._default_manager.filter(pk=self.pk).update(rq_job_id=self.rq_job_id)
        return self.rq_job_id

    def enqueue(self):
        """Put the row's job on its queue under its own RQ job id (re-enqueueing keeps the id)."""
        from rmnconsole.core import queues

        if not self.task_path:
            raise NotImplementedError(f"{type(self).__name__} sets no task_path")
        return queues.enqueue(
            self.queue_for_job(),
            self.task_path,
            *self.task_args(),
            job_id=self.assign_rq_job_id(),
            **self.enqueue_options(),
        )

    def enqueue_on_commit(self) -> None:
        """The one way a service queues a row: after the surrounding transaction commits (a rollback: no job)."""
        self.assign_rq_job_id()
        transaction.on_commit(self.enqueue)
