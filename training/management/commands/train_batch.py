"""manage.py train_batch FILE: queue a YAML/JSON list of training jobs (all validated first), optionally --wait."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rmnconsole.core.errors import ServiceError
from training import services
from training.facade import normalize_job_spec
from training.models import TrainingJob


def load_batch(path: Path) -> list[dict]:
    """A list of jobs, or {'defaults': {...}, 'jobs': [...]} where defaults apply to every job."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from exc
    defaults: dict = {}
    if isinstance(data, dict):
        defaults = data.get("defaults") or {}
        data = data.get("jobs")
    if not isinstance(data, list) or not data:
        raise CommandError(f"{path} must hold a non-empty list of jobs (or a mapping with a 'jobs' list)")
    if not isinstance(defaults, dict):
        raise CommandError("'defaults' must be a mapping")
    jobs = []
    for spec in data:
        if not isinstance(spec, dict):
            raise CommandError(f"every job must be a mapping, got {spec!r}")
        merged = {**defaults, **spec}
        merged["config"] = {**(defaults.get("config") or {}), **(spec.get("config") or {})}
        jobs.append(merged)
    return jobs


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
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
        specs = load_batch(options["file"])
        jobs = self._submit_all(specs, user)
        for job in jobs:
            self.stdout.write(f"queued job {job.pk} {job.adapter_name} ({job.training_type})")
        if options["wait"]:
            self._wait(jobs, options["poll"])

    def _submit_all(self, specs: list[dict], user) -> list[TrainingJob]:
        jobs, errors = [], []
        with transaction.atomic():
            for number, spec in enumerate(specs, start=1):
                label = spec.get("name") or spec.get("adapter_name") or "?"
                try:
                    with transaction.atomic():
                        jobs.append(services.submit_training_job(user=user, **normalize_job_spec(spec)))
                except ServiceError as exc:
                    errors.append(f"job {number} ({label}): {exc.message}")
            if errors:
                transaction.set_rollback(True)  # nothing was queued: on_commit callbacks never run
        if errors:
            raise CommandError(
                f"{len(errors)} of {len(specs)} jobs are invalid, none queued: " + "; ".join(errors)
            )
        return jobs

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
