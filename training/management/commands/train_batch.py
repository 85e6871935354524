"""manage.py train_batch FILE: queue a YAML/JSON list of training jobs (all validated first), optionally --wait."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.users import resolve_user
from training import services
from training.batch import submit_training_batch
from training.models import TrainingJob


def load_batch(path: Path) -> Any:
    """The file's YAML/JSON as data; its shape and every job are checked by the batch service."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from exc


class Command(BaseCommand):
    help = "Queue a batch of training jobs from a YAML or JSON file; every job is validated before any is queued."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--wait", action="store_true", help="Show a progress bar per job until all have ended."
        )
        parser.add_argument("--user", help="Username recorded as the jobs' creator.")
        parser.add_argument(
            "--poll", type=float, default=1.0, help="Seconds between progress checks with --wait."
        )

    def handle(self, *args, **options):
        try:
            jobs = submit_training_batch(load_batch(options["file"]), user=resolve_user(options["user"]))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        for job in jobs:
            self.stdout.write(f"queued job {job.pk} {job.adapter_name} ({job.training_type})")
        if options["wait"]:
            self._wait(jobs, options["poll"])

    def _wait(self, jobs: list[TrainingJob], poll: float) -> None:
        from tqdm import tqdm

        bars = {
            job.pk: tqdm(
                total=max(job.total_steps, 1),
                desc=f"#{job.pk} {job.adapter_name}",
                position=i,
                unit="step",
                leave=True,
            )
            for i, job in enumerate(jobs)
        }
        pending = set(bars)
        try:
            while pending:
                services.sweep_training_jobs(job_ids=list(pending))
                for job in TrainingJob.objects.filter(pk__in=pending):
                    bar = bars[job.pk]
                    if job.total_steps and bar.total != job.total_steps:
                        bar.total = job.total_steps
                    bar.n = job.current_step
                    bar.set_postfix_str(job.status, refresh=False)
                    bar.refresh()
                    if job.is_finished:
                        pending.discard(job.pk)
                if pending:
                    time.sleep(poll)
        finally:
            for bar in bars.values():
                bar.close()
        final = TrainingJob.objects.filter(pk__in=bars).order_by("pk")
        bad = [j for j in final if j.status != TrainingJob.Status.COMPLETED]
        for job in final:
            self.stdout.write(
                f"job {job.pk} {job.adapter_name}: {job.status}"
                + (f" — {job.status_reason}" if job.status_reason else "")
            )
        if bad:
            raise CommandError(f"{len(bad)} of {len(final)} jobs did not complete", returncode=1)
