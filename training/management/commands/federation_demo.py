"""manage.py federation_demo [--silos N] [--port P] [--root DIR]: a loopback Flower SuperLink + N demo SuperNodes,
one per demo retailer (its data in its own folder outside the data root), registered as silos; runs until stopped.
`runconsole --federation-demo N` starts it next to the workers."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.loops import stop_on_signals


class Command(BaseCommand):
    help = "Run a loopback Flower SuperLink and N demo SuperNodes (TLS + node auth) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--silos", type=int, default=3)
        parser.add_argument("--port", type=int, default=None, help="SuperLink port (default: a free one).")
        parser.add_argument("--root", default=None, help="Folder for the demo (default var/federation-demo).")

    def handle(self, *args, silos: int, port: int | None, root: str | None, **options):
        from training.federated.demo import start_demo_federation

        try:
            federation = start_demo_federation(silos, Path(root) if root else None, port)
        except Exception as exc:
            raise CommandError(f"the federation demo did not start: {exc}") from None
        self.stdout.write(f"SuperLink {federation.link.address}; silos: {', '.join(federation.node_ids)}")
        with stop_on_signals() as stop:
            reported: set[str] = set()
            try:
                while not stop.is_set():
                    if not federation.superlink.alive():
                        raise CommandError("the SuperLink exited")
                    for name, proc in federation.nodes.items():
                        if not proc.alive() and name not in reported:
                            reported.add(name)  # the silo shows offline on the Silos page; say it once here
                            self.stderr.write(f"SuperNode {name} exited (log: {proc.log})")
                    time.sleep(1.0)
            finally:
                federation.stop()
