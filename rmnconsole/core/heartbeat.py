"""A job row's heartbeat: a side thread stamps `heartbeat_at` while the task works, so a dead worker shows as silent."""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)


def worker_id() -> str:
    """ "host:pid" of this process: rmnconsole.core.reconcile.process_gone reads it back."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat_interval() -> float:
    """Four beats per stale period: one lost write never makes a live job look dead."""
    return max(0.5, min(10.0, float(settings.RMN_HEARTBEAT_STALE_SECONDS) / 4))


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
                    self.model.objects.filter(pk=self.pk, status=self.status).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # the database blinked: drop the broken connection, beat again next time
                    log.warning("heartbeat of %s %s failed once", self.model.__name__, self.pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
