"""How job recovery treats pipeline steps: a step that waits on a training or eval job has no worker of its own (the
upkeep moves it on); a step whose worker died fails, and its run with it, so that "retry" can resume there."""

from __future__ import annotations

from federation.pipelines import chain, triggers
from federation.pipelines.models import PipelineStep
from rmnconsole.core.recovery import JobKind, worker_gone


def _dead(step: PipelineStep) -> str:
    return "" if step.waiting_on else worker_gone(step)


def _fail(step: PipelineStep, reason: str) -> bool:
    return chain.fail_step(step, reason)


def job_kinds() -> list[JobKind]:
    return [
        JobKind.for_model(PipelineStep, label="pipeline step", dead=_dead, fail=_fail, upkeep=triggers.tick)
    ]
