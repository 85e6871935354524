"""RQ worker classes that keep the job tables and Redis in step (see rmnconsole.core.recovery).

manage.py rqworker inference --worker-class rmnconsole.workers.RecoveringSimpleWorker
(training workers: `manage.py training_worker`, whose class mixes in the same behaviour)

- When it starts, a worker runs one recovery pass: jobs Redis lost while no worker was listening come back.
- Its registration is re-made when Redis lost it (a restarted Redis keeps nothing): RQ itself only refreshes the
  expiry of its key, so without this a live worker vanishes from the dashboard and raises a false "no worker" alert.
- A work horse that dies under it (the OOM killer's SIGKILL …) ends its job row with the signal RQ saw.
"""

from __future__ import annotations

import logging

from rq import worker_registration
from rq.worker import SimpleWorker, Worker

log = logging.getLogger(__name__)


def recover_on_start() -> None:
    from django.db import connection

    from rmnconsole.core.recovery import recover_all

    try:
        changed = {k: v for k, v in recover_all().items() if any(v.values())}
        if changed:
            log.warning("recovered the job tables at worker start: %s", changed)
    except Exception:  # a worker that cannot recover jobs can still work
        log.exception("job recovery at worker start failed")
    finally:
        connection.close()  # a forking worker must never hand its DB connection to a work horse


class RecoveringMixin:
    def work(self, *args, **kwargs):
        recover_on_start()
        return super().work(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """An idle worker beats (and re-registers if needed) at the job heartbeat's pace; RQ's own is ~7 min."""
        from rmnconsole.core.heartbeat import beat_interval

        return max(1, min(round(beat_interval()), self.worker_ttl - 15))

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline=pipeline)
        if pipeline is None:
            self.ensure_registered()

    def maintain_heartbeats(self, job, execution):
        super().maintain_heartbeats(job, execution)
        self.ensure_registered()  # a training job runs for hours: do not wait for its end

    def ensure_registered(self) -> bool:
        """Re-register when Redis no longer lists this worker; True when it did."""
        try:
            with self.connection.pipeline() as pipeline:
                pipeline.sismember(self.redis_workers_keys, self.key)
                pipeline.hexists(self.key, "birth")
                pipeline.hexists(self.key, "death")
                listed, born, dead = pipeline.execute()
            if (listed and born) or dead or self._stop_requested:
                return False
            with self.connection.pipeline() as pipeline:
                pipeline.hset(self.key, mapping=self.serialize())
                pipeline.hset(self.key, "state", str(getattr(self._state, "value", self._state) or "idle"))
                worker_registration.register(self, pipeline)
                pipeline.expire(self.key, self.worker_ttl + 60)
                pipeline.execute()
        except Exception:  # Redis is down: the next beat tries again
            log.debug("worker %s: re-registration failed", self.name, exc_info=True)
            return False
        log.warning("worker %s: Redis had lost this worker's registration; registered again", self.name)
        return True

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        from django.db import close_old_connections, connection

        from rmnconsole.core.recovery import record_killed_horse

        try:
            close_old_connections()
            record_killed_horse(job, ret_val)
        except Exception:  # recovery's staleness rule still ends the row later
            log.exception("recording the killed work horse of %s failed", job.id)
        finally:
            connection.close()  # the worker forks next: never hand an open DB connection to a work horse


class RecoveringWorker(RecoveringMixin, Worker):
    """The forking worker (default queue, and the base of the training worker)."""


class RecoveringSimpleWorker(RecoveringMixin, SimpleWorker):
    """The non-forking worker (inference: it keeps its model cache across jobs)."""


# The names the README, the units and older scripts used.
ReconcilingMixin = RecoveringMixin
ReconcilingWorker = RecoveringWorker
ReconcilingSimpleWorker = RecoveringSimpleWorker
