"""Create an API token for a user and print it once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USERNAME; the token is printed once and stored only as a hash."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by (default: cli).")
        parser.add_argument(
            "--inference-only",
            action="store_true",
            help="The token calls only the OpenAI-compatible /v1 endpoint (no other API).",
        )
        parser.add_argument(
            "--deployment",
            action="append",
            default=[],
            help="With --inference-only: a deployment the token may call (repeat; none = all).",
        )
        parser.add_argument("--requests-per-minute", type=int, default=None, help="Per-token /v1 limit.")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        if options["deployment"] and not options["inference_only"]:
            raise CommandError("--deployment limits an inference token: add --inference-only")
        rpm = options["requests_per_minute"]
        if rpm is not None and rpm < 1:
            raise CommandError("--requests-per-minute must be at least 1")
        scope = {"requests_per_minute": rpm}
        if options["inference_only"]:
            scope.update(scope="inference", deployments=sorted(set(options["deployment"])))
        _, raw = ApiToken.issue(user, name=name, **scope)
        self.stdout.write(raw)
        self.stderr.write(
            "Store this token now: it is shown only once. Use it as 'Authorization: Bearer <token>'."
        )
