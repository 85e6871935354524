"""`manage.py reconcile_jobs [--every S]`: re-enqueue queued jobs Redis lost, fail running jobs whose worker is gone."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from rmnconsole.core.reconcile import reconcile_all


class Command(BaseCommand):
    help = "Reconcile the job tables (the truth) with Redis: re-enqueue lost queued jobs, fail orphaned running ones."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Repeat every S seconds (0: once).")
        parser.add_argument(
            "--iterations", type=int, default=0, help="Stop after N rounds (0: until stopped)."
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=10.0,
            help="Leave queued rows younger than this many seconds alone.",
        )

    def handle(self, *args, every: float, iterations: int, grace: float, **options):
        if every < 0 or grace < 0:
            raise CommandError("--every and --grace must not be negative")
        done = 0
        while True:
            close_old_connections()
            results = reconcile_all(grace_seconds=grace)
            changed = {k: v for k, v in results.items() if any(v.values())}
            self.stdout.write(f"reconcile: {changed or 'nothing to do'}")
            done += 1
            if not every or (iterations and done >= iterations):
                return
            time.sleep(every)
