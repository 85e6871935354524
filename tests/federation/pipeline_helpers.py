"""Shared by the pipeline tests: the demo Alpha mapping, a fast training preset, and an inline driver that runs a
pipeline's queued steps and the jobs they start in this process (the same task functions the workers call)."""

from __future__ import annotations

import os
from pathlib import Path

FAST = {"max_steps": 4, "batch_size": 4, "checkpoint_steps": 4, "eval_steps": 4, "lora_r": 8, "lora_alpha": 16,
        "validation_split": 0.1}  # fmt: skip


def drop_alpha(folder: Path, name: str, *, rows: int = 300, seed: int = 11, age: float = 60.0) -> Path:
    """A Retailer Alpha export, as a retailer would drop it (its mtime `age` seconds in the past: stable)."""
    from datasets_app.mappings.demo import write_alpha_csv

    folder.mkdir(parents=True, exist_ok=True)
    path = write_alpha_csv(folder / name, rows=rows, seed=seed)
    if age:
        stamp = path.stat().st_mtime - age
        os.utime(path, (stamp, stamp))
    return path


def drive(run, *, rounds: int = 30):
    """Run the run's queued steps, the training and eval jobs they start, and the upkeep, until it stops moving."""
    from federation.evaluation.models import EvalRun
    from federation.evaluation.tasks import run_eval
    from federation.pipelines import triggers
    from federation.pipelines.models import PipelineStep
    from federation.pipelines.tasks import run_step
    from training.models import TrainingJob
    from training.tasks import run_training_job

    for _ in range(rounds):
        run.refresh_from_db()
        if run.status != "running":
            return run
        for step in PipelineStep.objects.filter(run=run, status="queued"):
            run_step(step.pk)
        for step in PipelineStep.objects.filter(run=run, status="running").exclude(waiting_on={}):
            waiting = step.waiting_on
            if "training" in waiting and TrainingJob.objects.filter(pk=waiting["training"], status="queued").exists():
                run_training_job(waiting["training"])
            for eval_id in waiting.get("evals", []):
                if EvalRun.objects.filter(pk=eval_id, status="queued").exists():
                    run_eval(eval_id)
        triggers.tick()
    run.refresh_from_db()
    return run
