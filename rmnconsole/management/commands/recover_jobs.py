"""`manage.py recover_jobs [--once]`: the job-recovery loop (rmnconsole.core.recovery) — re-enqueue queued jobs Redis
lost (oldest first), fail running jobs whose worker is gone, hard-stop cancels past their grace."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.loops import refresh_db_connection, stop_on_signals
from rmnconsole.core.recovery import recover_all

log = logging.getLogger("rmnconsole.recover_jobs")


class Command(BaseCommand):
    help = (
        "Recover jobs every RMN_RECONCILE_SECONDS: re-enqueue queued jobs Redis lost, fail running jobs whose worker "
        "is gone, hard-stop overdue cancels. Run one per site (a lock keeps extra copies idle)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            help="Seconds between passes (default: RMN_RECONCILE_SECONDS).",
        )
        parser.add_argument(
            "--iterations", type=int, default=0, help="Stop after N passes (0: until stopped)."
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=10.0,
            help="Leave queued rows younger than this many seconds alone.",
        )

    def handle(self, *args, once: bool, every: float | None, iterations: int, grace: float, **options):
        every = float(settings.RMN_RECONCILE_SECONDS) if every is None else every
        if every <= 0 or grace < 0 or iterations < 0:
            raise CommandError("--every must be positive; --grace and --iterations must not be negative")
        limit = 1 if once else iterations
        with stop_on_signals() as stop:
            done = 0
            while not stop.is_set():
                refresh_db_connection()
                try:
                    # A lock a little shorter than the period: two loops on a site never both act in one window.
                    results = recover_all(grace_seconds=grace, lock_seconds=0 if once else every * 0.9)
                except Exception as exc:  # Redis or the database is down: try again next period
                    log.exception("job recovery failed")
                    self.stderr.write(f"recover_jobs: pass failed ({type(exc).__name__}: {exc}); retrying")
                    results = None
                if results is not None:
                    changed = {k: v for k, v in results.items() if any(v.values())}
                    self.stdout.write(f"recover_jobs: {changed or 'nothing to do'}")
                done += 1
                if limit and done >= limit:
                    return
                stop.wait(every)
