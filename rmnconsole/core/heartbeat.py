"""A job row's heartbeat and the one staleness rule: a side thread stamps `heartbeat_at` while the task works, so a
dead worker shows as silent; `worker_gone()` is how recovery (rmnconsole.core.recovery) tells a dead worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from rmnconsole.core import live

log = logging.getLogger(__name__)


def this_host() -> str:
    """The host name jobs record: the one `training_worker --capabilities` announced, else the machine's."""
    return os.environ.get("RMN_WORKER_HOST") or socket.gethostname()


def worker_id() -> str:
    """ "host:pid" of this process: `process_gone` reads it back."""
    return f"{this_host()}:{os.getpid()}"


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.RMN_HEARTBEAT_STALE_SECONDS))


def beat_interval() -> float:
    """Four beats per stale period: one lost write never makes a live job look dead."""
    return max(0.5, min(10.0, stale_after().total_seconds() / 4))


def heartbeat_stale(beat: datetime | None, now: datetime | None = None) -> str:
    """A reason when the last heartbeat is older than RMN_HEARTBEAT_STALE_SECONDS ("" when fresh or never beat)."""
    if beat is None:
        return ""
    now = now or timezone.now()
    if now - beat > stale_after():
        return f"no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC"
    return ""


def process_gone(worker: str) -> str:
    """A reason when `worker` ("host:pid") ran on this host and that process no longer exists (or is a zombie)."""
    host, _, pid = (worker or "").rpartition(":")
    if host not in (this_host(), socket.gethostname()) or not pid.isdigit():
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


def heartbeat_event(at: datetime) -> dict:
    """The live event a beat publishes (the page shows "last reported …" from it)."""
    return {"kind": "heartbeat", "at": at.isoformat()}


def worker_gone(row, now: datetime | None = None) -> str:
    """The one staleness rule of a running job row: its process on this host died (no need to wait), or its
    heartbeat (its start, if it never beat) is older than RMN_HEARTBEAT_STALE_SECONDS. "" = no evidence."""
    return process_gone(row.worker) or heartbeat_stale(row.heartbeat_at or row.started_at, now)


class Heartbeat:
    """`with Heartbeat(InferenceRun, run.pk):` — stamps the row while it is still `running`, from its own connection."""

    def __init__(self, model, pk: int, *, status: str = "running", every: float | None = None):
        self.model, self.pk, self.status = model, pk, status
        self.every = every or beat_interval()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"heartbeat-{model.__name__}-{pk}"
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    now = timezone.now()
                    if self.model.objects.filter(pk=self.pk, status=self.status).update(heartbeat_at=now):
                        live.publish(live.group_for(self.model, self.pk), heartbeat_event(now))
                except Exception:  # the database blinked: drop the broken connection, beat again next time
                    log.warning("heartbeat of %s %s failed once", self.model.__name__, self.pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
