"""What each step does. A handler returns (DONE, detail) or (WAIT, {what it waits on}); a check moves a waiting
step on once those jobs end; `after_step` says what follows a completed step (the next step, or the run's end)."""

from __future__ import annotations

from django.db import transaction

from datasets_app.library import services as library
from datasets_app.models import Dataset
from federation.evaluation.models import EvalCaseResult, EvalRun
from federation.evaluation.services import submit_eval
from federation.pipelines import build
from federation.pipelines.decide import HOLD, PROMOTE, REJECT, decide
from federation.pipelines.models import PipelineRun, PipelineStep
from federation.serving import services as serving
from rmnconsole.core.errors import ServiceError
from training.models import Adapter, TrainingJob
from training.services import submit_training_job

DONE, WAIT, NEXT = "done", "wait", "next"


def _save_run(run: PipelineRun, **fields) -> None:
    PipelineRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)


# --- build and validate ---------------------------------------------------------------------------------------
def build_step(step: PipelineStep):
    dataset, detail = build.build_version(step.run)
    _save_run(step.run, dataset=dataset)
    return DONE, detail


def _gate(dataset: Dataset):
    dataset.refresh_from_db()
    if dataset.status in (Dataset.Status.PENDING, Dataset.Status.VALIDATING):
        return WAIT, {"dataset": dataset.pk}
    library.check_quality_gate(dataset, override=False)  # ServiceError: the step fails with the gate's words
    return DONE, {"quality_score": dataset.quality_score, "band": dataset.band}


def validate_step(step: PipelineStep):
    if step.run.dataset_id is None:
        raise ServiceError("The run has no dataset version (its build step did not finish).")
    return _gate(step.run.dataset)


def validate_check(step: PipelineStep):
    return _gate(Dataset.objects.get(pk=step.waiting_on["dataset"]))


# --- train -----------------------------------------------------------------------------------------------------
def warm_start(run: PipelineRun) -> tuple[Adapter | None, str]:
    """The production adapter to continue from, or None (from scratch) and why."""
    if not run.pipeline.continue_from_production:
        return None, "from scratch"
    target = production_of(run)
    if not isinstance(target, Adapter):
        return None, "from scratch (production serves no single adapter)"
    if target.base_model_id != run.pipeline.base_model_id:
        return None, f"from scratch (production {target.label} is on another base model)"
    return target, f"continuing from {target.label}"


def train_step(step: PipelineStep):
    run, pipeline = step.run, step.run.pipeline
    init, how = warm_start(run)
    job = submit_training_job(
        adapter_type=pipeline.adapter_type,
        adapter_name=pipeline.adapter_name,
        base_model=pipeline.base_model,
        dataset=run.dataset,
        config=pipeline.training_config,
        user=run.triggered_by,
        allow_waiting=True,
        init_adapter=init,
    )
    _save_run(run, training_job=job)
    PipelineStep.objects.filter(pk=step.pk).update(detail={**step.detail, "start": how})
    return WAIT, {"training": job.pk}


def train_check(step: PipelineStep):
    job = TrainingJob.objects.get(pk=step.waiting_on["training"])
    if job.status in TrainingJob.ACTIVE:
        return WAIT, step.waiting_on
    if job.status != TrainingJob.Status.COMPLETED:
        raise ServiceError(f"Training job {job.pk} {job.status}: {job.status_reason or 'no reason given'}")
    adapter = Adapter.objects.filter(source_job=job).order_by("-version").first()
    if adapter is None:
        raise ServiceError(f"Training job {job.pk} completed without an adapter.")
    _save_run(step.run, candidate=adapter)
    return DONE, {"adapter": adapter.label, "training_job": job.pk}


# --- evaluate --------------------------------------------------------------------------------------------------
def production_of(run: PipelineRun):
    row = run.pipeline.deployment.stage(run.pipeline.stage)
    return row.target if row is not None else None


def _reusable_eval(suite, target) -> EvalRun | None:
    """Eval runs are greedy and suites immutable: a completed run of the same subject on the suite is reused."""
    subject = {"federation": target} if not isinstance(target, Adapter) else {"adapter": target}
    if "federation" in subject:
        subject["federation_version"] = target.version
    return (
        EvalRun.objects.filter(
            suite=suite, status=EvalRun.Status.COMPLETED, max_new_tokens=suite.max_new_tokens, **subject
        )
        .order_by("-finished_at")
        .first()
    )


def evaluate_step(step: PipelineStep):
    run = step.run
    suite = run.pipeline.suite
    if run.candidate_id is None:
        raise ServiceError("The run has no candidate adapter (its train step did not finish).")
    with transaction.atomic():
        candidate = submit_eval(run.candidate, suite, training_job=run.training_job, user=run.triggered_by)
        target = production_of(run)
        production = None
        if target is not None:
            production = _reusable_eval(suite, target) or submit_eval(target, suite, user=run.triggered_by)
        _save_run(
            run,
            candidate_eval=candidate,
            production_eval=production,
            production_target=serving.target_of(target).as_dict() if target is not None else {},
        )
    return WAIT, {"evals": [candidate.pk] + ([production.pk] if production else [])}


def evaluate_check(step: PipelineStep):
    runs = list(EvalRun.objects.filter(pk__in=step.waiting_on["evals"]))
    for eval_run in runs:
        if eval_run.status in (EvalRun.Status.FAILED, EvalRun.Status.CANCELLED):
            raise ServiceError(
                f"Eval run {eval_run.pk} ({eval_run.subject_label}) {eval_run.status}: {eval_run.error}"
            )
    if any(r.status != EvalRun.Status.COMPLETED for r in runs):
        return WAIT, step.waiting_on
    return DONE, {"scores": {r.subject_label: r.score for r in runs}}


# --- decide and deploy -----------------------------------------------------------------------------------------
def case_scores(eval_run: EvalRun, metric: str) -> dict[int, float]:
    return {
        r.case_id: float(r.scores.get(metric) or 0.0)
        for r in EvalCaseResult.objects.filter(run=eval_run).only("case_id", "scores")
    }


def decide_step(step: PipelineStep):
    run, pipeline = step.run, step.run.pipeline
    metric = pipeline.suite.primary_metric
    candidate = case_scores(run.candidate_eval, metric)
    production = None
    if run.production_eval_id:
        by_case = case_scores(run.production_eval, metric)
        production = [by_case.get(case, 0.0) for case in candidate]
    decision = decide(
        list(candidate.values()),
        production,
        margin=pipeline.margin,
        on_worse=pipeline.on_worse,
        metric=metric,
    )
    _save_run(run, decision=decision.action, decision_reason=decision.reason, comparison=decision.comparison)
    return DONE, {"decision": decision.action}


def deploy_candidate(run: PipelineRun, user=None):
    """Put the run's candidate on the pipeline's deployment stage; the event and the run name each other."""
    pipeline = run.pipeline
    event = serving.apply_target(pipeline.deployment, pipeline.stage, run.candidate, user, action="pipeline")
    _save_run(run, deployment_event=event)
    return event


def deploy_step(step: PipelineStep):
    event = deploy_candidate(step.run, step.run.decided_by)
    return DONE, {"deployment_event": event.pk, "now": event.current.get("label")}


HANDLERS = {
    "build": build_step,
    "validate": validate_step,
    "train": train_step,
    "evaluate": evaluate_step,
    "decide": decide_step,
    "deploy": deploy_step,
}
CHECKS = {"validate": validate_check, "train": train_check, "evaluate": evaluate_check}


def after_step(step: PipelineStep, run: PipelineRun) -> tuple[str, dict]:
    """NEXT, or the run's final status with its fields: decide may hold or reject, deploy ends the run."""
    if step.kind == "decide":
        run.refresh_from_db(fields=["decision", "decision_reason"])
        if run.decision == HOLD:
            return PipelineRun.Status.HELD, {"status_reason": run.decision_reason}
        if run.decision == REJECT:
            return PipelineRun.Status.COMPLETED, {"status_reason": f"Rejected. {run.decision_reason}"}
        assert run.decision == PROMOTE
    if step.kind == "deploy":
        return PipelineRun.Status.COMPLETED, {"status_reason": "Promoted."}
    return NEXT, {}
