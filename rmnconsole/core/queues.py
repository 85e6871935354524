"""Queue names and the one way the services put work on them."""

from __future__ import annotations

from typing import Any

TRAINING = "training"
INFERENCE = "inference"
DEFAULT = "default"
ALL = (TRAINING, INFERENCE, DEFAULT)


def get_queue(name: str):
    import django_rq

    return django_rq.get_queue(name)


def enqueue(queue_name: str, func: str, *args: Any, job_id: str | None = None, **options: Any):
    """Enqueue a task by dotted path. Training jobs pass retry=None: a job is never run twice by RQ."""
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, **options)


def workers_listening(queue_name: str) -> int:
    """How many RQ workers take jobs from this queue (a CLI `--wait` runs the job in-process when none do)."""
    from rq import Worker

    queue = get_queue(queue_name)
    return len(Worker.all(connection=queue.connection, queue=queue))
