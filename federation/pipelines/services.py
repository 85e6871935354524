"""Pipeline use cases: create, trigger (one run at a time; a trigger while one runs queues the next, and a second
one while that waits joins it), retry from the failed step, cancel, approve or reject a held candidate."""

from __future__ import annotations

import contextlib
import datetime as dt

from croniter import croniter
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from datasets_app.models import SchemaMapping
from federation.evaluation.models import EvalRun, EvalSuite
from federation.evaluation.services import cancel_eval
from federation.pipelines import chain
from federation.pipelines.build import watch_folder
from federation.pipelines.models import Pipeline, PipelineRun, PipelineStep
from federation.pipelines.steps import deploy_candidate
from federation.services import check_id, check_text, require_staff
from federation.serving.models import STAGES, Deployment
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.users import signed_in
from training.models import TrainingJob
from training.services import cancel_training_job, resolve_base_model, validate_request


def _staff_if_person(user, action: str) -> None:
    if user is not None:
        require_staff(user, action)


def check_schedule(expression: str) -> str:
    expression = (expression or "").strip()
    if expression and not croniter.is_valid(expression):
        raise ServiceError(
            f"The schedule {expression!r} is not a cron expression (e.g. '0 3 * * *': every day at 03:00 UTC).",
            field="schedule",
        )
    return expression


def next_fire(expression: str, after: dt.datetime) -> dt.datetime | None:
    return croniter(expression, after).get_next(dt.datetime) if expression else None


def _lookup(model, value, what: str, field: str, **by_name):
    if isinstance(value, model):
        return value
    text = str(value or "").strip()
    if not text:
        raise ServiceError(f"Choose the {what}.", field=field)
    if text.isascii() and text.isdigit():
        query = model.objects.filter(pk=check_id(int(text), what.capitalize()))
    else:
        query = model.objects.filter(**by_name, name=text)
    found = query.order_by("-pk").first()
    if found is None:
        raise NotFound(f"Unknown {what} {text!r}.", field=field)
    return found


@transaction.atomic
def create_pipeline(
    name: str,
    user,
    *,
    suite,
    deployment,
    adapter_name: str,
    base_model=None,
    dataset_name: str = "",
    watch_path: str = "",
    mapping=None,
    examples_per_file: int = 200,
    adapter_type: str = "retailer",
    training_config: dict | None = None,
    stage: str = "production",
    margin: float = 0.0,
    on_worse: str = "hold",
    schedule: str = "",
    description: str = "",
    continue_from_production: bool = False,
) -> Pipeline:
    """Check everything up front: the suite and deployment exist, the watched folder is inside the data root, the
    schedule parses, the training settings are valid (the same checks a training job gets)."""
    require_staff(user, "create a pipeline")
    name = validate_name(name, what="The pipeline name")
    if Pipeline.objects.filter(name=name).exists():
        raise Conflict(f"A pipeline named {name} already exists.", field="name")
    suite = _lookup(EvalSuite, suite, "eval suite", "suite")
    if not suite.cases.exists():
        raise ServiceError(f"Suite {suite.label} has no cases.", field="suite")
    deployment = _lookup(Deployment, deployment, "deployment", "deployment")
    if stage not in STAGES:
        raise ServiceError(f"Unknown stage {stage!r}: use {' or '.join(STAGES)}.", field="stage")
    if on_worse not in Pipeline.OnWorse.values:
        raise ServiceError("When the candidate is not better: hold or reject.", field="on_worse")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not -1.0 <= margin <= 1.0:
        raise ServiceError("The margin is a number from -1 to 1 (primary metric units).", field="margin")
    base = resolve_base_model(base_model)
    validate_request(
        adapter_type=adapter_type, adapter_name=adapter_name, base_model=base, config=training_config or {}
    )
    schedule = check_schedule(schedule)
    pipeline = Pipeline(
        name=name,
        description=check_text(description, "description", "The description"),
        dataset_name=validate_name(
            dataset_name or f"{name}_data", field="dataset_name", what="The dataset name"
        ),
        base_model=base,
        adapter_name=adapter_name,
        adapter_type=adapter_type,
        training_config=training_config or {},
        continue_from_production=bool(continue_from_production),
        suite=suite,
        deployment=deployment,
        stage=stage,
        margin=float(margin),
        on_worse=on_worse,
        schedule=schedule,
        next_run_at=next_fire(schedule, timezone.now()),
        created_by=signed_in(user),
    )
    if watch_path:
        pipeline.source_kind = Pipeline.Source.FOLDER
        pipeline.watch_path = watch_path
        watch_folder(pipeline)  # inside the data root and there
        pipeline.mapping = _lookup(SchemaMapping, mapping, "mapping", "mapping", status="active")
        if (
            isinstance(examples_per_file, bool)
            or not isinstance(examples_per_file, int)
            or not 1 <= examples_per_file <= 100_000
        ):
            raise ServiceError(
                "Examples per file: a whole number from 1 to 100000.", field="examples_per_file"
            )
        pipeline.examples_per_file = examples_per_file
    else:
        if not dataset_name:
            raise ServiceError(
                "Give a watched folder (and a mapping) or a dataset to follow.", field="watch_path"
            )
        pipeline.source_kind = Pipeline.Source.DATASET
    pipeline.save()
    audit.record(user, "pipeline.create", pipeline, f"created pipeline {name}")
    return pipeline


def get_pipeline(value) -> Pipeline:
    return _lookup(Pipeline, value, "pipeline", "name")


def get_run(run_id: int | str) -> PipelineRun:
    try:
        return PipelineRun.objects.select_related("pipeline").get(pk=int(run_id))
    except (PipelineRun.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"Pipeline run {run_id} does not exist.") from None


def trigger_run(
    pipeline, *, trigger: str = PipelineRun.Trigger.MANUAL, user=None, source_files: list | None = None
) -> PipelineRun:
    """Start a run now, or queue it behind the running one. A trigger joins a run that has not read its data yet
    (the waiting one, or a running one whose build has not started), so two triggers at once make one run. A person
    must be staff (user None: the watcher, the schedule, the operator's CLI or facade)."""
    _staff_if_person(user, "run a pipeline")
    pipeline = get_pipeline(pipeline)
    if not pipeline.enabled:
        raise Conflict(f"Pipeline {pipeline.name} is disabled.")
    for _attempt in range(3):
        try:
            with transaction.atomic():
                Pipeline.objects.select_for_update().get(pk=pipeline.pk)  # triggers of one pipeline in turn
                waiting = pipeline.runs.filter(status=PipelineRun.Status.WAITING).first()
                if waiting is not None:
                    return _join(waiting, source_files)
                running = pipeline.runs.filter(status=PipelineRun.Status.RUNNING).first()
                if running is not None and not running.steps.exclude(kind="build", status="queued").exists():
                    return _join(
                        running, source_files
                    )  # its build has not read the data yet: it will see this
                number = (pipeline.runs.aggregate(n=Max("number"))["n"] or 0) + 1
                run = PipelineRun.objects.create(
                    pipeline=pipeline,
                    number=number,
                    trigger=trigger,
                    triggered_by=signed_in(user),
                    source_files=source_files or [],
                )
                audit.record(
                    user, "pipeline.trigger", pipeline, f"run {number} of {pipeline.name} ({trigger})"
                )
                chain.start_run(run)
                return run
        except IntegrityError:  # another process won the same number: read again
            continue
    raise Conflict("Another trigger of this pipeline happened at the same moment; try again.")


def _join(run: PipelineRun, source_files: list | None) -> PipelineRun:
    """A trigger that joins a run which has not read its data yet: the run names the new files too."""
    if source_files:
        known = {f["sha256"] for f in run.source_files}
        run.source_files = run.source_files + [f for f in source_files if f["sha256"] not in known]
        PipelineRun.objects.filter(pk=run.pk).update(source_files=run.source_files)
    return run


def _end_active_step(run: PipelineRun, user) -> None:
    for step in run.steps.filter(status__in=PipelineStep.ACTIVE):
        step.finish(PipelineStep.Status.CANCELLED, "the run was cancelled")
        waiting = step.waiting_on or {}
        if "training" in waiting:
            job = TrainingJob.objects.filter(pk=waiting["training"]).first()
            if job is not None and job.is_active:
                with contextlib.suppress(ServiceError):  # it ended meanwhile
                    cancel_training_job(job.pk, user)
        for eval_id in waiting.get("evals", []):
            eval_run = EvalRun.objects.filter(pk=eval_id, status__in=EvalRun.ACTIVE).first()
            if eval_run is not None:
                with contextlib.suppress(ServiceError):
                    cancel_eval(eval_run, user=user)


def cancel_run(run: PipelineRun, user=None) -> PipelineRun:
    """Stop a waiting, running or held run: its running step is cancelled with the job it started."""
    _staff_if_person(user, "cancel a pipeline run")
    with transaction.atomic():
        active = (PipelineRun.Status.WAITING, PipelineRun.Status.RUNNING, PipelineRun.Status.HELD)
        if not chain.set_run(
            run, active, PipelineRun.Status.CANCELLED, status_reason="Cancelled by a person."
        ):
            run.refresh_from_db()
            raise Conflict(f"Run {run.number} of {run.pipeline.name} is already {run.status}.")
        _end_active_step(run, user)
        audit.record(user, "pipeline.cancel", run.pipeline, f"cancelled run {run.number}")
    transaction.on_commit(lambda: chain.start_next(run.pipeline_id))
    return run


def retry_run(run: PipelineRun, user=None) -> PipelineRun:
    """A failed run resumes from its failed step (the steps before it keep their results)."""
    _staff_if_person(user, "retry a pipeline run")
    failed = run.steps.filter(status=PipelineStep.Status.FAILED).order_by("-id").first()
    if run.status != PipelineRun.Status.FAILED or failed is None:
        raise Conflict(f"Only a failed run can be retried; run {run.number} is {run.status}.")
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=run.pipeline_id)
        if run.pipeline.runs.filter(status=PipelineRun.Status.RUNNING).exists():
            raise Conflict(f"Another run of {run.pipeline.name} is running; retry when it ends.")
        if not chain.set_run(
            run, (PipelineRun.Status.FAILED,), PipelineRun.Status.RUNNING, status_reason="", finished_at=None
        ):
            raise Conflict(f"Run {run.number} changed meanwhile; reload.")
        chain.queue_step(run, failed.kind)
        audit.record(user, "pipeline.retry", run.pipeline, f"retried run {run.number} from {failed.kind}")
    return run


def _held(run: PipelineRun, user, verb: str) -> None:
    require_staff(user, f"{verb} a held candidate")
    if run.status != PipelineRun.Status.HELD:
        raise Conflict(f"Run {run.number} is {run.status}, not held for approval.")


def approve_run(run: PipelineRun, user) -> PipelineRun:
    """A person overrides the gate: the held candidate goes to the deployment, and the run names who decided."""
    _held(run, user, "approve")
    with transaction.atomic():
        newer = run.pipeline.runs.filter(number__gt=run.number, deployment_event__isnull=False).exists()
        if newer:
            raise Conflict(
                "A newer run of this pipeline has been deployed since: approve that one's successor."
            )
        if not chain.set_run(run, (PipelineRun.Status.HELD,), PipelineRun.Status.COMPLETED, decided_by=user,
                             decision="promote", status_reason="Approved by a person; promoted."):  # fmt: skip
            raise Conflict(f"Run {run.number} changed meanwhile; reload.")
        deploy_candidate(run, user)
        audit.record(user, "pipeline.approve", run.pipeline, f"approved run {run.number}: {run.candidate}")
    return run


def reject_run(run: PipelineRun, user) -> PipelineRun:
    _held(run, user, "reject")
    if not chain.set_run(run, (PipelineRun.Status.HELD,), PipelineRun.Status.COMPLETED, decided_by=user,
                         decision="reject", status_reason="Rejected by a person."):  # fmt: skip
        raise Conflict(f"Run {run.number} changed meanwhile; reload.")
    audit.record(user, "pipeline.reject", run.pipeline, f"rejected run {run.number}")
    return run


def set_enabled(pipeline: Pipeline, enabled: bool, user) -> Pipeline:
    """A disabled pipeline is not triggered (watch, schedule or by hand); a run already going goes on."""
    require_staff(user, "change a pipeline")
    Pipeline.objects.filter(pk=pipeline.pk).update(enabled=enabled)
    pipeline.enabled = enabled
    audit.record(user, "pipeline.enable" if enabled else "pipeline.disable", pipeline, pipeline.name)
    return pipeline


@transaction.atomic
def delete_pipeline(pipeline: Pipeline, user) -> None:
    """Only with no run going; dataset versions, adapters and deployment history stay (their lineage keeps the
    figures, no longer the link)."""
    require_staff(user, "delete a pipeline")
    Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    going = pipeline.runs.filter(status__in=(*PipelineRun.ACTIVE, PipelineRun.Status.HELD)).first()
    if going is not None:
        raise Conflict(f"Run {going.number} of {pipeline.name} is {going.status}: cancel it first.")
    audit.record(user, "pipeline.delete", pipeline, f"deleted pipeline {pipeline.name}")
    pipeline.delete()
