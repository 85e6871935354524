"""The database is the truth about jobs: put back queued jobs that Redis lost, end running ones whose worker is gone.

Each app describes its kinds of job rows (`JOB_KINDS` in its `reconcile` module); `reconcile_all()` walks them. It runs
when a worker starts (`rmnconsole.workers`), on every `monitor_host` tick interval and from `manage.py reconcile_jobs`.
Every change is a compare-and-set on the row, and a re-enqueued job keeps its id, so running it twice is impossible:
the second claim finds the row no longer queued.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)

LOST = "Worker lost"
JOB_KIND_MODULES = ("datasets_app.library.reconcile", "federation.reconcile", "training.reconcile")
LOCK_KEY = "rmn:reconcile:lock"
# RQ states in which no worker will ever touch the job again.
ENDED = ("finished", "failed", "stopped", "canceled")


@dataclass
class JobKind:
    """How to reconcile one kind of job row (an RQ job mirrored by a database row)."""

    label: str
    queue: str
    queued: Callable[[], Iterable]  # rows waiting for a worker
    running: Callable[[], Iterable]  # rows a worker claimed
    requeue: Callable[[object], object]  # put the row's job back on its queue, under the same RQ job id
    fail: Callable[[object, str], bool]  # compare-and-set the row to failed with this reason
    dead: Callable[[object], str] = lambda row: (
        ""
    )  # why the row's worker is certainly gone ("" = no evidence)
    job_id: Callable[[object], str] = lambda row: row.rq_job_id
    created: Callable[[object], datetime] = lambda row: row.created_at
    # Periodic upkeep of the kind beyond lost jobs (e.g. hard-stop cancels past their grace): counts by name.
    upkeep: Callable[[], dict[str, int]] | None = None


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.RMN_HEARTBEAT_STALE_SECONDS))


def heartbeat_stale(beat: datetime | None, now: datetime | None = None) -> str:
    """A reason when the last heartbeat is older than RMN_HEARTBEAT_STALE_SECONDS."""
    if beat is None:
        return ""
    now = now or timezone.now()
    if now - beat > stale_after():
        return f"no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC"
    return ""


def process_gone(worker: str) -> str:
    """A reason when `worker` ("host:pid") ran on this host and that process no longer exists (or is a zombie)."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"its process {worker} is gone"
    except PermissionError:
        return ""
    try:  # a killed work horse whose parent died too can linger as a zombie until init reaps it
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
    return f"its process {worker} is gone" if state in ("Z", "X") else ""


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


def clean_abandoned(queue_names: Iterable[str]) -> None:
    """RQ's own abandoned-job handling: started jobs whose worker stopped beating fail (and fire their callbacks).

    Every queue Redis knows is included: training jobs are routed to capability queues (training.g1.m80 …)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from rmnconsole.core.queues import DEFAULT, get_queue

    connection = get_queue(DEFAULT).connection
    names = set(queue_names) | {queue.name for queue in Queue.all(connection=connection)}
    for name in sorted(names):
        StartedJobRegistry(name, connection=connection).cleanup()


def reconcile_kind(kind: JobKind, *, grace_seconds: float = 10.0) -> dict[str, int]:
    from rmnconsole.core.queues import get_queue

    connection = get_queue(kind.queue).connection
    counts = {"requeued": 0, "failed": 0}
    # A row saved a moment ago is enqueued when its transaction commits: give that a little time.
    settled = timezone.now() - timedelta(seconds=grace_seconds)
    for row in kind.queued():
        if kind.created(row) > settled:
            continue
        status = rq_status(connection, kind.job_id(row))
        if status == "missing":
            kind.requeue(row)
            counts["requeued"] += 1
            log.warning("%s %s was queued in the database but not in Redis: re-enqueued", kind.label, row.pk)
        elif status in ("failed", "stopped", "canceled"):
            reason = f"{LOST}: its queue entry ended ({status}) before a worker claimed it"
            counts["failed"] += bool(kind.fail(row, reason))
    for row in kind.running():
        status = rq_status(connection, kind.job_id(row))
        why = kind.dead(row)
        if not why and status in ENDED:
            why = f"its queue entry is {status} but the job never recorded an end"
        if why and kind.fail(row, f"{LOST}: {why}"):
            counts["failed"] += 1
            log.warning("%s %s ended as failed: %s: %s", kind.label, row.pk, LOST, why)
    if kind.upkeep:
        counts.update(kind.upkeep())
    return counts


def job_kinds() -> list[JobKind]:
    """Every app's JOB_KINDS (an app without a reconcile module has none; an error inside one is an error)."""
    kinds = []
    for module in JOB_KIND_MODULES:
        if importlib.util.find_spec(module) is not None:
            kinds += list(import_string(f"{module}.JOB_KINDS"))
    return kinds


def reconcile_all(*, grace_seconds: float = 10.0, lock_seconds: float = 0.0) -> dict[str, dict[str, int]]:
    """Reconcile every kind of job; with lock_seconds, only one process in that window does it (others skip)."""
    from rmnconsole.core.queues import ALL, get_queue

    kinds = job_kinds()
    if lock_seconds:
        connection = get_queue(ALL[0]).connection
        if not connection.set(LOCK_KEY, socket.gethostname(), nx=True, px=int(lock_seconds * 1000)):
            return {}
    clean_abandoned({k.queue for k in kinds})
    results = {}
    for kind in kinds:
        try:
            results[kind.label] = reconcile_kind(kind, grace_seconds=grace_seconds)
        except Exception:  # one kind's trouble must not stop the others
            log.exception("reconciling %s failed", kind.label)
    return results
