"""manage.py pipeline run NAME [--wait] | list | check: trigger a pipeline run (with --wait, follow its steps to the
end; run in this process when no worker listens), list pipelines, or run the periodic check (watch + schedule) once.
An error is one line and a non-zero exit."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from federation.pipelines import services, triggers
from federation.pipelines.models import Pipeline, PipelineRun
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.follow import follow
from rmnconsole.core.queues import workers_listening


class _Followed:
    """A run as `follow` reads a job: a held run has ended too (a person decides next)."""

    def __init__(self, run: PipelineRun):
        self.run = run

    def refresh_from_db(self) -> None:
        self.run.refresh_from_db()

    @property
    def is_finished(self) -> bool:
        return self.run.status not in PipelineRun.ACTIVE


def line(followed: _Followed) -> str:
    run = followed.run
    chain = " → ".join(f"{s.kind} {s.status}" for s in run.steps_in_order)
    return f"  run {run.number} {run.status}: {chain or 'queued'}"


class Command(BaseCommand):
    help = "Run a continuous-training pipeline (run NAME [--wait]), list pipelines, or check watches and schedules."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        run = sub.add_parser("run", help="Trigger a run of the pipeline NAME.")
        run.add_argument("name")
        run.add_argument("--wait", action="store_true", help="Follow the run until it ends or is held.")
        run.add_argument("--poll", type=float, default=2.0, help="Seconds between checks.")
        sub.add_parser("list", help="Every pipeline with its last run.")
        sub.add_parser(
            "check", help="One pass of the periodic check: new data, due schedules, waiting steps."
        )

    def handle(self, *args, verb: str, **options):
        try:
            getattr(self, f"_{verb}")(**options)
        except ServiceError as exc:
            raise CommandError(exc.message) from None

    def _run(self, *, name: str, wait: bool, poll: float, **_):
        run = services.trigger_run(name, trigger=PipelineRun.Trigger.CLI)
        self.stdout.write(f"pipeline {run.pipeline.name}: run {run.number} {run.status}")
        if not wait:
            return
        if run.status == PipelineRun.Status.RUNNING and not workers_listening("default"):
            from federation.pipelines.inline import run_here

            self.stdout.write(
                "no worker listens on the 'default' queue: running the pipeline in this process"
            )
            run_here(run, write=self.stdout.write)
        followed = follow(_Followed(run), line, self.stdout.write, poll)
        run = followed.run
        if run.status == PipelineRun.Status.FAILED:
            raise CommandError(f"run {run.number} failed: {run.status_reason}")
        if run.status == PipelineRun.Status.CANCELLED:
            raise CommandError(f"run {run.number} was cancelled")
        verdict = run.decision_reason or run.status_reason
        self.stdout.write(
            self.style.SUCCESS(f"run {run.number} {run.get_status_display().lower()}: {verdict}")
        )

    def _list(self, **_):
        for pipeline in Pipeline.objects.order_by("name"):
            last = pipeline.last_run
            state = f"run {last.number} {last.status} {last.decision}".rstrip() if last else "never run"
            self.stdout.write(f"{pipeline.name}\t{pipeline.source_kind}\t{state}")

    def _check(self, **_):
        self.stdout.write(f"pipeline check: {triggers.tick()}")
