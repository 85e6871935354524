"""An RQ worker for the training queue that imports the ML stack once, before it forks work horses.

    manage.py rqworker training --worker-class training.rq_worker.TrainingWorker

Each job still runs in its own forked work horse (GPU memory is freed when it exits), but the horse inherits
torch / transformers / peft / trl already imported, so a job starts training seconds sooner. Importing torch
does not initialise CUDA, so forking stays safe.
"""

from __future__ import annotations

import gc
import logging
import os
import time

from rq.worker import Worker

from rmnconsole.workers import RecoveringMixin

log = logging.getLogger(__name__)


def preload_training_stack() -> float:
    started = time.perf_counter()
    import datasets  # noqa: F401
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    import training.tasks  # noqa: F401

    return time.perf_counter() - started


class TrainingWorker(RecoveringMixin, Worker):
    """Preloads the ML stack; recovers jobs when it starts and keeps itself registered (rmnconsole.workers)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The host `training_worker --capabilities` announced (jobs record it too): the dashboard shows the same name.
        self.hostname = os.environ.get("RMN_WORKER_HOST") or self.hostname
        seconds = preload_training_stack()
        # Park everything imported so far outside the garbage collector: the forked horses then neither
        # re-scan these objects nor copy their pages on write when a collection touches them.
        gc.freeze()
        log.info("training stack imported in %.1fs; work horses start warm", seconds)
