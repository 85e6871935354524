"""Start an RQ training worker that listens on exactly the capability queues this host can serve."""

import json
import os

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from training.routing import Capabilities, detect_capabilities, queues_for, register_queues

CAPABILITY_FIELDS = set(Capabilities.__dataclass_fields__)


def parse_capabilities(raw: str) -> Capabilities:
    """A --capabilities JSON object over the detected host (for tests and hosts NVML cannot see)."""
    try:
        values = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"--capabilities is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise CommandError(
            '--capabilities must be a JSON object, e.g. {"gpu_count": 2, "gpu_memory_gib": 24}'
        )
    unknown = sorted(set(values) - CAPABILITY_FIELDS)
    if unknown:
        raise CommandError(
            f"--capabilities: unknown key {unknown[0]!r} (known: {', '.join(sorted(CAPABILITY_FIELDS))})"
        )
    base = Capabilities(host=values.get("host") or os.uname().nodename)
    cap = Capabilities(**{**base.as_dict(), **values})
    if not isinstance(cap.gpu_count, int) or not 0 <= cap.gpu_count <= 64:
        raise CommandError("--capabilities: gpu_count must be a whole number 0–64")
    if not isinstance(cap.gpu_memory_gib, int | float) or cap.gpu_memory_gib < 0:
        raise CommandError("--capabilities: gpu_memory_gib must be a number ≥ 0")
    if cap.gpu_count and "cuda" not in values:
        cap.cuda = True
    return cap


class Command(BaseCommand):
    help = "Detect this host's GPUs (NVML), then run `rqworker` on the training queues it can serve."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's own).")
        parser.add_argument(
            "--also", nargs="*", default=["default"], help="Other queues to serve (default: default)."
        )
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
        parser.add_argument("--print-queues", action="store_true", help="Print the queues and exit.")
        parser.add_argument(
            "--capabilities",
            default=None,
            help='Announce these capabilities instead of detecting them, e.g. \'{"gpu_count":2,"gpu_memory_gib":24,"cuda":true}\'.',
        )

    def handle(self, *args, name, also, burst, print_queues, capabilities, **options):
        cap = parse_capabilities(capabilities) if capabilities else detect_capabilities()
        queues = queues_for(cap) + [q for q in also if q]
        gpus = ", ".join(cap.gpu_names) if cap.gpu_names else (cap.no_gpu_reason or "no GPU")
        if capabilities and cap.gpu_count and not cap.gpu_names:
            gpus = f"{cap.gpu_count} GPU(s) × {cap.gpu_memory_gib} GiB (announced)"
        self.stdout.write(f"{cap.host}: {gpus}; bitsandbytes {'yes' if cap.bitsandbytes else 'no'}")
        self.stdout.write("serving: " + " ".join(queues))
        if print_queues:
            return
        # Jobs record the announced host, so two workers on one machine read as two hosts.
        os.environ["RMN_WORKER_HOST"] = cap.host
        register_queues()
        kwargs = {"burst": burst, "worker_class": "training.rq_worker.TrainingWorker"}
        if name:
            kwargs["name"] = name
        call_command("rqworker", *queues, **kwargs)
