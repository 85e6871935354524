"""Sweep objectives evaluation provides (registered from federation's AppConfig.ready(); training never imports
this): a trial's adapter scored on an eval suite (the suite's primary metric, maximised) and its generation
latency on that suite (p50 ms, minimised; a Pareto second objective).

Both come from one eval run of the trial's adapter on the suite, queued on the inference queue the first time the
sweep asks; when that run ends, the sweep is told (eval_ended) and the trial gets its value.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from federation.evaluation.models import EvalRun, EvalSuite
from rmnconsole.core.errors import ServiceError
from training.sweeps.engine.study import Objective
from training.sweeps.measures import MeasuredObjective, Measurement, register_objective

SCORE = Objective("eval_suite", "eval_suite_score", "maximize", "eval-suite score", measured=True)
LATENCY = Objective("latency", "latency_p50_ms", "minimize", "generation latency p50 (ms)", measured=True)


def check(options: dict[str, Any]) -> dict[str, Any]:
    """{"suite": id or name[ vN] or None} → {"suite": pk, "suite_label": ...}; None = the trial's dataset suite."""
    from federation.evaluation.suites import resolve_suite

    value = options.get("suite")
    if value in (None, ""):
        return {"suite": None, "suite_label": "the dataset's suite (else its validation split)"}
    try:
        suite = resolve_suite(value)
    except ServiceError as exc:
        raise ServiceError(exc.message, field="objective_suite") from None
    if not suite.cases.exists():
        raise ServiceError(f"Suite {suite.label} has no cases to score a trial on", field="objective_suite")
    return {"suite": suite.pk, "suite_label": suite.label}


def _suite(job, options: dict[str, Any]) -> EvalSuite | None:
    from federation.evaluation.automatic import suite_for

    if options.get("suite"):
        return EvalSuite.objects.filter(pk=options["suite"]).first()
    return suite_for(job)


def measure(job, adapter, options: dict[str, Any]) -> Measurement:
    """The trial adapter's eval run on the suite: queued now if there is none; its score and latency once done."""
    from federation.evaluation.services import submit_eval

    with transaction.atomic():
        suite = _suite(job, options)
        if suite is None:
            return Measurement(error=f"no eval suite to score on ({options.get('suite_label') or 'deleted'})")
        run = EvalRun.objects.filter(adapter=adapter, suite=suite).order_by("-created_at").first()
        if run is None:
            if not options.get("may_start", True):
                return Measurement(error="the sweep ended before this trial was evaluated")
            try:
                submit_eval(adapter, suite, training_job=job)
            except ServiceError as exc:
                return Measurement(error=f"its eval run on {suite.label} was refused: {exc.message}")
            return Measurement(pending=True)
    if run.status in EvalRun.ACTIVE:
        return Measurement(pending=True)
    if run.status != EvalRun.Status.COMPLETED or run.score is None:
        return Measurement(error=f"eval run {run.pk} on {suite.label} {run.status}: {run.status_reason}")
    values = {SCORE.metric: float(run.score)}
    if run.latency_p50_ms is not None:
        values[LATENCY.metric] = float(run.latency_p50_ms)
    return Measurement(values=values)


def eval_ended(run_id: int) -> None:
    """After an eval run ended: if it measured a sweep trial, tell that sweep now (never raises)."""
    from training.sweeps.trials import trial_ended

    run = EvalRun.objects.select_related("training_job").filter(pk=run_id).first()
    if run is not None and run.training_job_id and run.training_job.sweep_id and run.is_finished:
        trial_ended(run.training_job)


def register() -> None:
    register_objective(MeasuredObjective(SCORE, check, measure), first=True)
    register_objective(MeasuredObjective(LATENCY, check, measure), first=False, second=True)
