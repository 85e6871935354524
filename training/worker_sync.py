"""The work horse's one thread for I/O while a job trains: progress writes, heartbeat, cancel flags.

The training loop only drops Progress objects on a queue and reads an Event: it never waits on the database
or Redis, which is how the console keeps ≥ 0.97× the throughput of a bare trl script.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Length
from django.utils import timezone

from rmnconsole.core import live
from rmnconsole.core.heartbeat import heartbeat_event
from training.engine.callback import Progress
from training.models import TrainingJob, TrainingMetric

log = logging.getLogger(__name__)
RUNNING = TrainingJob.Status.RUNNING
_STOP = object()


def stamp(text: str) -> str:
    return f"[{timezone.now():%H:%M:%S}] {text}\n"


def _group(job_id: int) -> str:
    return live.group_for(TrainingJob, job_id)


def _log_length(job_id: int) -> int:
    """The log's length right after this transaction's append (the row stays locked by the UPDATE until commit)."""
    return TrainingJob.objects.filter(pk=job_id).values_list(Length("log"), flat=True).first() or 0


def append_log(job_id: int, *lines: str) -> None:
    if lines:
        text = "".join(stamp(x) for x in lines)
        with transaction.atomic():
            if TrainingJob.objects.filter(pk=job_id).update(log=Concat(F("log"), Value(text))):
                fragment = live.log_fragment(text, _log_length(job_id))
                live.publish_on_commit(_group(job_id), {"kind": "log", **fragment})


def progress_event(progress: Progress, fields: dict, log: dict | None) -> dict:
    """The live event of one progress write: the numbers the page's cards show, the new loss points, the new log."""
    event = {
        "kind": "progress",
        "step": progress.step,
        "total_steps": progress.total_steps,
        "epoch": fields["epoch"],
        "progress_pct": fields["progress_pct"],
        "eta_seconds": fields["eta_seconds"],
        "tokens_per_second": fields["tokens_per_second"],
        "heartbeat_at": fields["heartbeat_at"].isoformat(),
    }
    points = [
        {"step": p.step, "loss": p.loss, "eval_loss": p.eval_loss, "epoch": p.epoch} for p in progress.metrics
    ]
    if len(points) > live.MAX_POINTS:
        event["resync"] = True  # too many for one message: the page reads them from the database
    elif points:
        event["points"] = points
    if log:
        event["log"] = log
    return event


def write_progress(job_id: int, progress: Progress) -> bool:
    """One UPDATE of the job row (+ the new metric rows); False when the job is no longer running."""
    pct = round(100.0 * progress.step / progress.total_steps, 2) if progress.total_steps else 0.0
    fields = {
        "current_step": progress.step,
        "total_steps": progress.total_steps,
        "epoch": round(progress.epoch, 4),
        "progress_pct": pct,
        "eta_seconds": round(progress.eta_seconds, 1) if progress.eta_seconds is not None else None,
        "tokens_per_second": round(progress.tokens_per_second, 1) if progress.tokens_per_second else None,
        "heartbeat_at": timezone.now(),
    }
    log_text = "".join(stamp(x) for x in progress.log_lines) if progress.log_lines else ""
    if log_text:
        fields["log"] = Concat(F("log"), Value(log_text))
    with transaction.atomic():
        if not TrainingJob.objects.filter(pk=job_id, status=RUNNING).update(**fields):
            return False
        if progress.metrics:
            TrainingMetric.objects.bulk_create(
                TrainingMetric(job_id=job_id, **vars(p)) for p in progress.metrics
            )
        log = live.log_fragment(log_text, _log_length(job_id)) if log_text else None
        live.publish_on_commit(_group(job_id), progress_event(progress, fields, log))
    return True


class JobSync(threading.Thread):
    """Writes queued progress, beats the heartbeat, and watches the cancel flags (Redis key and DB column)."""

    def __init__(
        self, job_id: int, *, redis, cancel_key: str, heartbeat_every: float, poll_every: float = 1.0
    ):
        super().__init__(daemon=True, name=f"training-sync-{job_id}")
        self.job_id = job_id
        self.redis = redis
        self.cancel_key = cancel_key
        self.heartbeat_every = heartbeat_every
        self.poll_every = poll_every
        self.cancel = threading.Event()
        self.lost = threading.Event()  # the row left "running" under us (swept, hard-stopped)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    # -- called from the training thread (no I/O) -------------------------------------------------
    def report(self, progress: Progress) -> None:
        self._queue.put(progress)

    def should_stop(self) -> bool:
        return self.cancel.is_set() or self.lost.is_set()

    def finish(self, timeout: float = 60.0) -> None:
        """Write everything still queued, then end the thread."""
        self._queue.put(_STOP)
        self.join(timeout)

    # -- the thread ------------------------------------------------------------------------------
    def run(self) -> None:
        last_beat = time.monotonic()
        self._watch_redis()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.poll_every)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                try:
                    if item is not None:
                        self._write(item)
                        last_beat = time.monotonic()
                    self._watch_redis()
                    if time.monotonic() - last_beat >= self.heartbeat_every:
                        self._beat()
                        last_beat = time.monotonic()
                except Exception:  # a DB or Redis blip must not end the sync: training goes on
                    log.exception("training job %s: progress sync failed once", self.job_id)
                    connection.close()  # a dropped connection stays broken: the next write opens a new one
        finally:
            connection.close()

    def _write(self, item: Progress) -> None:
        """One progress write, retried once on a fresh connection; then dropped with a log line."""
        for attempt in (1, 2):
            try:
                if not write_progress(self.job_id, item):
                    self.lost.set()
                return
            except Exception as exc:
                connection.close()
                if attempt == 2:
                    log.warning(
                        "training job %s: progress write failed once more, step %s dropped: %s",
                        self.job_id, item.step, exc,
                    )  # fmt: skip
                    return
                log.warning(
                    "training job %s: progress write failed once (%s); retrying on a new connection",
                    self.job_id, exc,
                )  # fmt: skip

    def _watch_redis(self) -> None:
        if self.redis is None or self.cancel.is_set():
            return
        try:
            if self.redis.exists(self.cancel_key):
                self.cancel.set()
        except Exception:  # the DB column is checked with every heartbeat as well
            log.debug("cancel key of job %s not readable", self.job_id)

    def _beat(self) -> None:
        row = TrainingJob.objects.filter(pk=self.job_id).values("status", "cancel_requested").first()
        if row is None or row["status"] != RUNNING:
            self.lost.set()
            return
        now = timezone.now()
        if TrainingJob.objects.filter(pk=self.job_id, status=RUNNING).update(heartbeat_at=now):
            live.publish(_group(self.job_id), heartbeat_event(now))
        if row["cancel_requested"]:
            self.cancel.set()
