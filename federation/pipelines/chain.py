"""The chain engine: start a run, run one step, move a waiting step on when its jobs end, fail or finish the run,
and start the run queued behind it. Every change is a compare-and-set, so a step can never run twice."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from federation.pipelines import steps
from federation.pipelines.models import STEP_KINDS, PipelineRun, PipelineStep
from federation.pipelines.steps import WAIT
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat

log = logging.getLogger(__name__)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    return f"{type(exc).__name__}: {str(exc)[:500]}"


def next_kind(kind: str) -> str | None:
    index = STEP_KINDS.index(kind)
    return STEP_KINDS[index + 1] if index + 1 < len(STEP_KINDS) else None


def queue_step(run: PipelineRun, kind: str) -> PipelineStep:
    """A new attempt of `kind` for the run, enqueued when the surrounding transaction commits."""
    attempt = run.steps.filter(kind=kind).count() + 1
    step = PipelineStep.objects.create(run=run, kind=kind, attempt=attempt, created_by=run.triggered_by)
    step.enqueue_on_commit()
    return step


def set_run(run: PipelineRun, from_statuses: tuple[str, ...], to_status: str, **fields) -> bool:
    """Compare-and-set on the run; the run's live watchers hear of it."""
    if to_status in PipelineRun.FINISHED or to_status == PipelineRun.Status.HELD:
        fields.setdefault("finished_at", timezone.now())
    changed = PipelineRun.objects.filter(pk=run.pk, status__in=from_statuses).update(
        status=to_status, **fields
    )
    if changed:
        run.status = to_status
        for name, value in fields.items():
            setattr(run, name, value)
        from rmnconsole.core import live

        live.publish_on_commit(live.group_for(run), {"kind": "status", "status": to_status}, flush=True)
    return bool(changed)


@transaction.atomic
def start_run(run: PipelineRun) -> bool:
    """waiting → running (only while no other run of the pipeline runs), and queue its first step."""
    if PipelineRun.objects.filter(pipeline_id=run.pipeline_id, status=PipelineRun.Status.RUNNING).exists():
        return False
    if not set_run(run, (PipelineRun.Status.WAITING,), PipelineRun.Status.RUNNING, started_at=timezone.now()):
        return False
    queue_step(run, STEP_KINDS[0])
    return True


def start_next(pipeline_id: int) -> PipelineRun | None:
    waiting = PipelineRun.objects.filter(pipeline_id=pipeline_id, status=PipelineRun.Status.WAITING).first()
    if waiting is not None and start_run(waiting):
        return waiting
    return None


def fail_step(step: PipelineStep, reason: str) -> bool:
    """The step fails with its reason and the run stops there (retry resumes from this step)."""
    with transaction.atomic():
        if not step.finish(PipelineStep.Status.FAILED, reason):
            return False
        run = step.run
        set_run(
            run,
            (PipelineRun.Status.RUNNING,),
            PipelineRun.Status.FAILED,
            status_reason=f"{step.kind}: {reason}",
        )
    transaction.on_commit(lambda: start_next(run.pipeline_id))
    return True


def complete_step(step: PipelineStep, **detail) -> bool:
    """The step ends completed; the next one is queued (the decide and deploy steps end the run themselves)."""
    with transaction.atomic():
        if not step.finish(PipelineStep.Status.COMPLETED, detail={**step.detail, **detail}, waiting_on={}):
            return False
        run = PipelineRun.objects.select_for_update().get(pk=step.run_id)
        if run.status != PipelineRun.Status.RUNNING:
            return True  # cancelled while the step ran: nothing follows
        directive, fields = steps.after_step(step, run)
        if directive == steps.NEXT:
            queue_step(run, next_kind(step.kind))
            return True
        set_run(run, (PipelineRun.Status.RUNNING,), directive, **fields)
    transaction.on_commit(lambda: start_next(run.pipeline_id))
    return True


def execute(step_id: int, worker: str) -> str:
    """The body of a step's queued job: claim, run the step's work, complete / wait / fail."""
    step = PipelineStep.objects.select_related("run__pipeline").filter(pk=step_id).first()
    if step is None:
        log.warning("pipeline step %s is gone", step_id)
        return "missing"
    if not step.claim(worker):
        return step.status
    if step.run.status != PipelineRun.Status.RUNNING:
        step.finish(PipelineStep.Status.CANCELLED, f"the run is {step.run.status}")
        return "cancelled"
    try:
        with Heartbeat(PipelineStep, step.pk):
            outcome, detail = steps.HANDLERS[step.kind](step)
    except Exception as exc:
        if not isinstance(exc, ServiceError):
            log.exception("pipeline step %s failed", step)
        fail_step(step, _error_text(exc))
        return "failed"
    if outcome == WAIT:
        PipelineStep.objects.filter(pk=step.pk).update(waiting_on=detail, heartbeat_at=timezone.now())
        step.waiting_on = detail
        return "waiting"
    complete_step(step, **detail)
    return "completed"


def advance(step: PipelineStep) -> str:
    """A waiting step whose jobs may have ended: complete or fail it (safe to call any number of times)."""
    if step.status != PipelineStep.Status.RUNNING or not step.waiting_on:
        return step.status
    try:
        outcome, detail = steps.CHECKS[step.kind](step)
    except Exception as exc:
        if not isinstance(exc, ServiceError):
            log.exception("checking pipeline step %s failed", step)
        fail_step(step, _error_text(exc))
        return "failed"
    if outcome == WAIT:
        PipelineStep.objects.filter(pk=step.pk).update(heartbeat_at=timezone.now())
        return "waiting"
    complete_step(step, **detail)
    return "completed"


def advance_waiting(**filters) -> int:
    """Every waiting step (optionally filtered): the upkeep pass and the training signal call this."""
    moved = 0
    waiting = PipelineStep.objects.filter(status=PipelineStep.Status.RUNNING, **filters).exclude(
        waiting_on={}
    )
    for step in waiting.select_related("run__pipeline"):
        moved += advance(step) != "waiting"
    return moved
