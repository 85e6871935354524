"""A run driven in this process: its queued steps, the training and eval jobs they start, and the upkeep, until it
stops moving. For `pipeline run --wait` on a console without workers (and the tests); the same task functions the
workers call, so the rows end exactly as they would there."""

from __future__ import annotations

from collections.abc import Callable

from federation.evaluation.models import EvalRun
from federation.pipelines import triggers
from federation.pipelines.models import PipelineRun, PipelineStep
from federation.pipelines.tasks import run_step
from training.models import TrainingJob


def run_here(
    run: PipelineRun, *, rounds: int = 50, write: Callable[[str], object] | None = None
) -> PipelineRun:
    from federation.evaluation.tasks import run_eval
    from training.tasks import run_training_job

    for _ in range(rounds):
        run.refresh_from_db()
        if run.status != PipelineRun.Status.RUNNING:
            break
        for step in PipelineStep.objects.filter(run=run, status=PipelineStep.Status.QUEUED):
            if write:
                write(f"{step.kind}: running here")
            run_step(step.pk)
        for step in PipelineStep.objects.filter(run=run, status=PipelineStep.Status.RUNNING).exclude(
            waiting_on={}
        ):
            waiting = step.waiting_on
            job_id = waiting.get("training")
            if job_id and TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).exists():
                run_training_job(job_id)
            for eval_id in waiting.get("evals", []):
                if EvalRun.objects.filter(pk=eval_id, status=EvalRun.Status.QUEUED).exists():
                    run_eval(eval_id)
        triggers.tick()
    run.refresh_from_db()
    return run
