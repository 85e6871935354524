"""Job recovery: the database is the truth about jobs; put back queued jobs Redis lost, end running ones whose
worker is gone, and run each kind's upkeep (e.g. hard-stop cancels past their grace).

Apps register their kinds of job rows from their `AppConfig.ready()` (`register(JobKind.for_model(Model))`): the
core knows no app. `recover_all()` walks them; `manage.py recover_jobs` runs it in a loop (runconsole and the
production units start it), and a worker runs one pass when it starts (`rmnconsole.workers`). Every change is a
compare-and-set on the row and a re-enqueued job keeps its id, so running a job twice is impossible: the second
claim finds the row no longer queued. Page and API reads never call any of this.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from rmnconsole.core.heartbeat import heartbeat_stale, process_gone, worker_gone
from rmnconsole.core.jobs import JobStatus, QueuedJob

__all__ = [
    "LOST",
    "JobKind",
    "heartbeat_stale",
    "job_kinds",
    "process_gone",
    "recover_all",
    "register",
    "rq_status",
    "worker_gone",
]

log = logging.getLogger(__name__)

LOST = "Worker lost"
LOCK_KEY = "rmn:recovery:lock"
# RQ states in which no worker will ever touch the job again.
ENDED = ("finished", "failed", "stopped", "canceled")


def fail_row(row: QueuedJob, reason: str) -> bool:
    """The default end of a lost row: failed with its reason, once (compare-and-set)."""
    return row.finish(JobStatus.FAILED, reason)


def requeue_row(row: QueuedJob):
    return row.enqueue()


@dataclass
class JobKind:
    """How to recover one kind of job row (a `QueuedJob` subclass): build it with `JobKind.for_model`."""

    model: type[QueuedJob]
    label: str
    fail: Callable[[QueuedJob, str], bool] = fail_row  # compare-and-set the row to failed with this reason
    dead: Callable[[QueuedJob], str] = (
        worker_gone  # why the row's worker is certainly gone ("" = no evidence)
    )
    requeue: Callable[[QueuedJob], object] = requeue_row  # back on its queue, under the same RQ job id
    # Periodic upkeep of the kind beyond lost jobs (e.g. hard-stop cancels past their grace): counts by name.
    upkeep: Callable[[], dict[str, int]] | None = None

    @classmethod
    def for_model(
        cls,
        model: type[QueuedJob],
        *,
        label: str | None = None,
        fail: Callable[[QueuedJob, str], bool] | None = None,
        dead: Callable[[QueuedJob], str] | None = None,
        requeue: Callable[[QueuedJob], object] | None = None,
        upkeep: Callable[[], dict[str, int]] | None = None,
    ) -> JobKind:
        """The default kind: lost queued rows re-enqueued, running rows failed when `worker_gone` says so."""
        return cls(
            model=model,
            label=label or str(model._meta.verbose_name),
            fail=fail or fail_row,
            dead=dead or worker_gone,
            requeue=requeue or requeue_row,
            upkeep=upkeep,
        )

    @property
    def task_path(self) -> str:
        return self.model.task_path

    def queued(self) -> Iterable[QueuedJob]:
        return self.model._default_manager.filter(status=JobStatus.QUEUED).exclude(rq_job_id="")

    def running(self) -> Iterable[QueuedJob]:
        return self.model._default_manager.filter(status=JobStatus.RUNNING)

    def row_for(self, rq_job) -> QueuedJob | None:
        """The row an RQ job of this kind runs (its first argument is the row's pk), or None."""
        try:
            pk = int(rq_job.args[0])
        except (IndexError, TypeError, ValueError):
            return None
        return self.model._default_manager.filter(pk=pk).first()


_KINDS: dict[str, JobKind] = {}


def register(*kinds: JobKind) -> None:
    """Called from an app's `AppConfig.ready()`; registering a label twice replaces it (ready() may rerun)."""
    for kind in kinds:
        _KINDS[kind.label] = kind


def job_kinds() -> list[JobKind]:
    return list(_KINDS.values())


def kind_for_task(func_name: str) -> JobKind | None:
    return next((k for k in _KINDS.values() if k.task_path == func_name), None)


def rq_status(connection, job_id: str) -> str:
    """The RQ job's status value, or "missing" when Redis does not know it (never enqueued, or Redis lost it)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not job_id:
        return "missing"
    try:
        status = Job.fetch(job_id, connection=connection).get_status(refresh=False)
    except NoSuchJobError:
        return "missing"
    return getattr(status, "value", str(status or "missing"))


def clean_abandoned(connection) -> None:
    """RQ's own abandoned-job handling: started jobs whose worker stopped beating fail (and fire their callbacks).

    Every queue Redis knows is included: training jobs are routed to capability queues (training.g1.m80 …)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    for queue in sorted(Queue.all(connection=connection), key=lambda q: q.name):
        StartedJobRegistry(queue.name, connection=connection).cleanup()


def _connection():
    from rmnconsole.core.queues import DEFAULT, get_queue

    return get_queue(DEFAULT).connection


def recover_queued(
    kinds: list[JobKind], connection, results: dict[str, dict[str, int]], settled: datetime
) -> None:
    """Re-enqueue lost queued rows of every kind in their original order (oldest first, across kinds), so a
    Redis that lost its data gives back the same first-come, first-served queue."""
    lost: list[tuple[datetime, int, JobKind, QueuedJob]] = []
    for kind in kinds:
        try:
            # A row saved a moment ago is enqueued when its transaction commits: give that a little time.
            for row in kind.queued().filter(created_at__lte=settled).order_by("created_at", "pk"):
                status = rq_status(connection, row.rq_job_id)
                if status == "missing":
                    lost.append((row.created_at, row.pk, kind, row))
                elif status in ("failed", "stopped", "canceled"):
                    reason = f"{LOST}: its queue entry ended ({status}) before a worker claimed it"
                    results[kind.label]["failed"] += bool(kind.fail(row, reason))
        except Exception:  # one kind's trouble must not stop the others
            log.exception("recovering queued %s rows failed", kind.label)
    for _created, _pk, kind, row in sorted(lost, key=lambda item: (item[0], item[1])):
        try:
            kind.requeue(row)
        except Exception:
            log.exception("re-enqueueing %s %s failed", kind.label, row.pk)
            continue
        results[kind.label]["requeued"] += 1
        log.warning("%s %s was queued in the database but not in Redis: re-enqueued", kind.label, row.pk)


def recover_running(kind: JobKind, connection, counts: dict[str, int]) -> None:
    for row in kind.running():
        why = kind.dead(row)
        if not why:
            status = rq_status(connection, row.rq_job_id) if row.rq_job_id else ""
            if status in ENDED:
                why = f"its queue entry is {status} but the job never recorded an end"
        if why and kind.fail(row, f"{LOST}: {why}"):
            counts["failed"] += 1
            log.warning("%s %s ended as failed: %s: %s", kind.label, row.pk, LOST, why)


def recover_all(*, grace_seconds: float = 10.0, lock_seconds: float = 0.0) -> dict[str, dict[str, int]]:
    """One recovery pass over every registered kind; with lock_seconds, only one process in that window does it
    (the others get {})."""
    kinds = job_kinds()
    connection = _connection()
    if lock_seconds and not connection.set(
        LOCK_KEY, socket.gethostname(), nx=True, px=int(lock_seconds * 1000)
    ):
        return {}
    clean_abandoned(connection)
    results = {kind.label: {"requeued": 0, "failed": 0} for kind in kinds}
    recover_queued(kinds, connection, results, timezone.now() - timedelta(seconds=grace_seconds))
    for kind in kinds:
        try:
            recover_running(kind, connection, results[kind.label])
            if kind.upkeep:
                results[kind.label].update(kind.upkeep())
        except Exception:  # one kind's trouble must not stop the others
            log.exception("recovering %s failed", kind.label)
    return results


def record_killed_horse(rq_job, ret_val: int | None) -> bool:
    """RQ saw a job's work horse die (e.g. SIGKILL by the OOM killer): end its row with what RQ knew."""
    import os
    import signal

    kind = kind_for_task(getattr(rq_job, "func_name", ""))
    row = kind.row_for(rq_job) if kind else None
    if row is None or row.status != JobStatus.RUNNING:
        return False
    if ret_val and os.WIFSIGNALED(ret_val):
        number = os.WTERMSIG(ret_val)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        why = f"its work horse was killed by signal {number} ({name})"
    else:
        code = os.WEXITSTATUS(ret_val) if ret_val else ret_val
        why = f"its work horse exited unexpectedly (exit status {code})"
    return bool(kind.fail(row, f"{LOST}: {why}"))
