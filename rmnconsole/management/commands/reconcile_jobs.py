"""`manage.py reconcile_jobs`: the former name of `recover_jobs` (one pass unless --every is given)."""

from __future__ import annotations

from rmnconsole.management.commands import recover_jobs


class Command(recover_jobs.Command):
    help = "Alias of recover_jobs (one pass by default; --every S to loop)."

    def handle(self, *args, once: bool, every: float | None, **options):
        return super().handle(*args, once=once or every is None, every=every, **options)
