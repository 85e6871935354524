"""A CLI's `--wait`: run a queued row in-process when no worker takes its queue, then print its progress to the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from rmnconsole.core.jobs import JobStatus
from rmnconsole.core.queues import workers_listening


def run_here_without_workers(
    job: Any, run: Callable[[int], Any], write: Callable[[str], Any], verb: str
) -> None:
    """A job nobody would pick up runs in this process, so `--wait` on a console without workers still ends."""
    if not workers_listening(job.queue_for_job()):
        write(f"no worker listens on the {job.queue_for_job()!r} queue: {verb} in this process")
        run(job.pk)


def follow(job: Any, line: Callable[[Any], str], write: Callable[[str], Any], poll: float) -> Any:
    """Re-read `job` every `poll` seconds, writing `line(job)` whenever it changes, until the job has ended."""
    shown = None
    while True:
        job.refresh_from_db()
        text = line(job)
        if text != shown:
            write(text)
            shown = text
        if job.is_finished:
            return job
        time.sleep(poll)


def wait_for_completion(
    job: Any,
    run: Callable[[int], Any],
    line: Callable[[Any], str],
    write: Callable[[str], Any],
    *,
    verb: str,
    what: str,
    poll: float,
) -> Any:
    """`--wait` end to end: run here if no worker would, follow to the end, and turn anything but a completed job
    into the command's one-line error (`what` names the job: "import 3 failed: <reason>")."""
    run_here_without_workers(job, run, write, verb)
    job = follow(job, line, write, poll)
    if job.status != JobStatus.COMPLETED:
        raise CommandError(f"{what} {job.pk} {job.status}: {job.status_reason or 'no reason recorded'}")
    return job
