"""Start an RQ training worker that listens on exactly the capability queues this host can serve."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from training.routing import detect_capabilities, queues_for


class Command(BaseCommand):
    help = "Detect this host's GPUs (NVML), then run `rqworker` on the training queues it can serve."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's own).")
        parser.add_argument(
            "--also", nargs="*", default=["default"], help="Other queues to serve (default: default)."
        )
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
        parser.add_argument("--print-queues", action="store_true", help="Print the queues and exit.")

    def handle(self, *args, name, also, burst, print_queues, **options):
        cap = detect_capabilities()
        queues = queues_for(cap) + [q for q in also if q]
        gpus = ", ".join(cap.gpu_names) if cap.gpu_names else (cap.no_gpu_reason or "no GPU")
        self.stdout.write(f"{cap.host}: {gpus}; bitsandbytes {'yes' if cap.bitsandbytes else 'no'}")
        self.stdout.write("serving: " + " ".join(queues))
        if print_queues:
            return
        kwargs = {"burst": burst}
        if name:
            kwargs["name"] = name
        call_command("rqworker", *queues, **kwargs)
