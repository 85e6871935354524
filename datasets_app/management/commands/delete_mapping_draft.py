"""manage.py delete_mapping_draft ID --user NAME: delete a schema-mapping Draft (staff only, as on every door)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from datasets_app.mappings import facade
from rmnconsole.core.errors import ServiceError


class Command(BaseCommand):
    help = "Delete a schema-mapping Draft. The acting --user must be staff."

    def add_arguments(self, parser):
        parser.add_argument("mapping_id", type=int)
        parser.add_argument("--user", help="Username of the staff member deleting the draft.")

    def handle(self, *args, **options):
        try:
            facade.delete_mapping_draft(options["mapping_id"], user=options["user"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"deleted draft mapping {options['mapping_id']}")
