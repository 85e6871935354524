"""RQ worker classes that reconcile the job tables with Redis when they start (see rmnconsole.core.reconcile).

manage.py rqworker training default --worker-class rmnconsole.workers.ReconcilingWorker
manage.py rqworker inference --worker-class rmnconsole.workers.ReconcilingSimpleWorker
"""

from __future__ import annotations

import logging

from rq.worker import SimpleWorker, Worker

log = logging.getLogger(__name__)


def reconcile_on_start() -> None:
    from django.db import connection

    from rmnconsole.core.reconcile import reconcile_all

    try:
        changed = {k: v for k, v in reconcile_all().items() if any(v.values())}
        if changed:
            log.warning("reconciled the job tables with Redis at worker start: %s", changed)
    except Exception:  # a worker that cannot reconcile can still work
        log.exception("reconcile at worker start failed")
    finally:
        connection.close()  # a forking worker must never hand its DB connection to a work horse


class ReconcilingMixin:
    def work(self, *args, **kwargs):
        reconcile_on_start()
        return super().work(*args, **kwargs)


class ReconcilingWorker(ReconcilingMixin, Worker):
    """The forking worker (training, default queues)."""


class ReconcilingSimpleWorker(ReconcilingMixin, SimpleWorker):
    """The non-forking worker (inference: it keeps its model cache across jobs)."""
