"""manage.py import_federation FILE: create a federation from an exported config (same checks as the page and API)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from federation.facade import import_federation
from rmnconsole.core.errors import ServiceError


class Command(BaseCommand):
    help = "Import a federation config exported from this or another console (every adapter must exist here)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--name", help="Import under another name.")
        parser.add_argument("--user", help="Username recorded as the importer.")

    def handle(self, *args, **options):
        try:
            handle = import_federation(options["file"], name=options["name"], user=options["user"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"imported federation {handle.federation.pk} {handle.federation.name}")
