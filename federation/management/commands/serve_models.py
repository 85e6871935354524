"""Run the serving loop: answer /v1 requests for every deployment, batching concurrent ones per target."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Serve deployments to the OpenAI-compatible /v1 endpoint: pop up to --max-batch waiting requests of one "
        "target within --wait-ms, run them in one generate call, reply. Run one per GPU (runconsole starts one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-batch", type=int, default=None, help="Most requests in one generate call.")
        parser.add_argument("--wait-ms", type=float, default=None, help="How long to gather a batch.")
        parser.add_argument("--no-batching", action="store_true", help="One request per generate call.")
        parser.add_argument("--name", default=None, help="Worker name (shown as alive while it runs).")
        parser.add_argument(
            "--max-batches", type=int, default=None, help="Stop after this many batches (benchmarks)."
        )

    def handle(self, *args, **options):
        from federation.serving.worker import ServingLoop

        max_batch = options["max_batch"] or int(settings.RMN_SERVING_MAX_BATCH)
        wait_ms = (
            options["wait_ms"]
            if options["wait_ms"] is not None
            else float(settings.RMN_SERVING_BATCH_WAIT_MS)
        )
        if max_batch < 1 or wait_ms < 0:
            raise CommandError("--max-batch must be at least 1 and --wait-ms at least 0")
        loop = ServingLoop(
            max_batch=max_batch, wait_ms=wait_ms, batching=not options["no_batching"], name=options["name"]
        )
        self.stderr.write(f"serving as {loop.name}: batches of up to {max_batch} within {wait_ms:g} ms")
        loop.run(max_batches=options["max_batches"])
