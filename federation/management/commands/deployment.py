"""Manage deployments from the shell: list, create/set a stage, promote, roll back, canary, delete."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Deployments (the `model` names of /v1): `deployment list`, `deployment set NAME --stage S "
        "(--federation F | --adapter A)`, `deployment promote NAME`, `deployment rollback NAME`, "
        "`deployment canary NAME --percent P (--federation F | --adapter A)`, `deployment delete NAME`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action", choices=["list", "set", "promote", "rollback", "canary", "export", "delete"]
        )
        parser.add_argument("name", nargs="?")
        parser.add_argument("--stage", default=None, help="production (default) or staging.")
        parser.add_argument("--federation", default=None, help="Federation id or name.")
        parser.add_argument("--adapter", default=None, help="Adapter id, name or 'name vN'.")
        parser.add_argument("--percent", type=int, default=None, help="canary: share of requests (0 = off).")
        parser.add_argument(
            "--format", default="peft", choices=["peft", "gguf", "merged"], help="export format."
        )
        parser.add_argument("--user", default=None, help="Staff username recorded in the audit log.")

    def handle(self, *args, action: str, name: str | None, **options):
        from federation.serving import services

        if action == "list":
            self.stdout.write(json.dumps(services.deployment_rows(), indent=2))
            return
        if not name:
            raise CommandError(f"`deployment {action}` needs a deployment NAME")
        user = self._user(options["user"])
        target = {"federation": options["federation"], "adapter": options["adapter"]}
        try:
            if action == "set":
                stage = options["stage"] or "production"
                if not services.Deployment.objects.filter(name=name).exists():
                    services.create_deployment(name, user, stage=stage, **target)
                else:
                    services.set_target(name, stage, user, **target)
            elif action == "promote":
                services.promote(name, user, source=options["stage"] or "staging")
            elif action == "rollback":
                services.rollback(name, user, stage=options["stage"] or "production")
            elif action == "canary":
                if options["percent"] is None:
                    raise CommandError("canary needs --percent")
                services.set_canary(
                    name, options["stage"] or "production", user, percent=options["percent"], **target
                )
            elif action == "export":
                from federation.serving.exports import export_deployment

                archive = export_deployment(
                    name, options["format"], user, stage=options["stage"] or "production"
                )
                self.stdout.write(str(archive))
                return
            elif action == "delete":
                services.delete_deployment(name, user)
                self.stdout.write(f"deleted {name}")
                return
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            json.dumps(next(r for r in services.deployment_rows() if r["name"] == name), indent=2)
        )

    def _user(self, username: str | None):
        users = get_user_model().objects.filter(is_staff=True, is_active=True)
        user = users.filter(username=username).first() if username else users.order_by("pk").first()
        if user is None:
            raise CommandError(f"no active staff user {username!r}" if username else "no staff user exists")
        return user
