"""`manage.py seed_demo`: the guide's five sample data sources and the example mappings (idempotent, fixed seed)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError


class Command(BaseCommand):
    help = "Write the demo retailer data (Alpha CSV, Beta JSONL, SKU catalog, uplift priors, performance metrics), register them and create the example mappings."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows",
            type=int,
            default=20_000,
            help="Events per retailer file (default 20000; 1000000 for benchmarks).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Rewrite the files even when they are already there."
        )

    def handle(self, *args, rows: int, force: bool, **options):
        from datasets_app.mappings.demo import seed_demo

        if not 10 <= rows <= 20_000_000:
            raise CommandError("--rows must be between 10 and 20000000")
        started = time.monotonic()
        try:
            result = seed_demo(rows=rows, force=force)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        created = ", ".join(result["mappings_created"]) or "none (already there)"
        datasets = ", ".join(result.get("datasets_created", [])) or "none (already there)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {len(result['sources'])} sources in {result['folder']} ({rows} rows each); "
                f"mappings created: {created}; training datasets created: {datasets} "
                f"[{time.monotonic() - started:.1f}s]"
            )
        )
