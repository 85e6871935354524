"""Create an API token for a user and print it once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USERNAME; the token is printed once and stored only as a hash."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by (default: cli).")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        _, raw = ApiToken.issue(user, name=name)
        self.stdout.write(raw)
        self.stderr.write(
            "Store this token now: it is shown only once. Use it as 'Authorization: Bearer <token>'."
        )
