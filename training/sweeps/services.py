"""Sweep use cases — start, advance, cancel — the one place the four doors (UI, API, CLI, facade) call.

Orchestration is event-driven ask-and-tell: `advance_sweep` tells the study what ended trials scored and asks for
new trials (submitted through training's own submit service) up to the sweep's parallelism and budget. It runs
when a sweep starts, when a trial's job ends (in that worker), and in the recovery loop's upkeep; the sweep row's
lock makes concurrent calls take turns, and everything it decides from is in the database, so a restarted process
picks up where the last one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, Forbidden, NotFound, ServiceError
from rmnconsole.core.users import signed_in
from training import services as training_services
from training.models import Adapter, TrainingJob
from training.sweeps.engine.space import decode_params, parse_space
from training.sweeps.engine.study import OBJECTIVES, SECOND_OBJECTIVES, trial_values
from training.sweeps.measures import measure_trial
from training.sweeps.models import Sweep
from training.sweeps.spec import plan_sweep
from training.sweeps.study import asked, create_study, load_study

log = logging.getLogger(__name__)
RUNNING = Sweep.Status.RUNNING


def get_sweep(sweep_id: int | str) -> Sweep:
    try:
        return Sweep.objects.select_related("base_model", "best_job", "best_adapter").get(pk=int(sweep_id))
    except (Sweep.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"Sweep {sweep_id} does not exist") from None


def start_sweep(spec: dict[str, Any], user=None) -> Sweep:
    """Check the request, create the study in the console's database, and submit the first trials."""
    with (
        transaction.atomic()
    ):  # a refusal late in the checks rolls back what they registered (the dataset row)
        plan = plan_sweep(spec, user)
        sweep = Sweep.objects.create(
            name=plan.name,
            adapter_type=plan.adapter_type,
            adapter_name=plan.adapter_name,
            base_model=plan.base_model,
            training_type=plan.training_type,
            dataset_path=plan.dataset_path,
            quality_override=plan.quality_override,
            fixed_config=plan.fixed,
            search_space=plan.space.to_dict(),
            sampler=plan.sampler,
            seed=plan.seed,
            objective=plan.objective,
            direction=plan.direction,
            second_objective=plan.second_objective,
            objective_options=plan.objective_options,
            pruner=plan.pruner,
            pruner_threshold=plan.pruner_threshold,
            max_trials=plan.max_trials,
            max_parallel=plan.max_parallel,
            wall_clock_minutes=plan.wall_clock_minutes,
            keep_trial_adapters=plan.keep_trial_adapters,
            study_name=f"rmn-sweep-{uuid.uuid4().hex}",
            status=RUNNING,
            started_at=timezone.now(),
            created_by=signed_in(user),
            status_reason="; ".join(plan.notes),
        )
        # Optuna writes through its own connection: a rolled-back request leaves only an unused study behind.
        create_study(sweep)
        audit.record(
            user,
            "sweep.start",
            sweep,
            f"{sweep.name}: {sweep.max_trials} trials ({sweep.sampler}) on {sweep.base_model.name}",
            search_space=sweep.search_space,
        )
        _advance_locked(Sweep.objects.select_for_update().get(pk=sweep.pk))
    sweep.refresh_from_db()
    return sweep


def advance_sweep(sweep_id: int) -> Sweep | None:
    """Tell ended trials, ask new ones within budget, and end the sweep when nothing is left (idempotent)."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None:
            return None
        _advance_locked(sweep)
    return sweep


def _advance_locked(sweep: Sweep) -> None:
    import optuna

    try:
        study = load_study(sweep)
    except NotFound as exc:  # nothing left to tell or ask: end the sweep with the reason, cancel its trials
        if sweep.status == RUNNING:
            active = list(sweep.trials.filter(status__in=TrainingJob.ACTIVE))
            sweep.finish(Sweep.Status.FAILED, exc.message)
            for job in active:
                _cancel_trial(job)
        return
    trials = asked(study.get_trials(deepcopy=False))
    _tell_ended(sweep, study, trials)
    _record_best(sweep, study)
    if sweep.status != RUNNING:
        return
    active = sweep.trials.filter(status__in=TrainingJob.ACTIVE)
    deadline = sweep.deadline
    if deadline and timezone.now() >= deadline:
        _stop_asking(sweep, f"wall-clock limit of {sweep.wall_clock_minutes:g} min reached")
        for job in active:
            _cancel_trial(job)
    count = len(trials)
    if not sweep.stopping:
        study = load_study(sweep, trials_so_far=count)  # a sampler seeded for this ask (see load_study)
        distributions = parse_space(sweep.search_space).distributions()
        running = active.count()
        while running < sweep.max_parallel and count < sweep.max_trials:
            trial = study.ask(distributions)
            count += 1
            if _submit_trial(sweep, study, trial):
                running += 1
        if count >= sweep.max_trials:
            _stop_asking(sweep, f"all {sweep.max_trials} trials asked for")
    if sweep.stopping and not sweep.trials.filter(status__in=TrainingJob.ACTIVE).exists():
        unsettled = [
            t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING
        ]
        if not unsettled:
            _finish(sweep, study)


def _submit_trial(sweep: Sweep, study, trial) -> bool:
    """The trial's training job, through training's own submit service; a refusal fails the trial with it."""
    config = {**sweep.fixed_config, **decode_params(trial.params)}
    try:
        with transaction.atomic():
            job = training_services.submit_training_job(
                adapter_type=sweep.adapter_type,
                adapter_name=f"{sweep.adapter_name}-t{trial.number}",
                training_type=sweep.training_type,
                base_model=sweep.base_model,
                dataset_path=sweep.dataset_path,
                config=config,
                user=sweep.created_by,
                quality_override=sweep.quality_override,
            )
            TrainingJob.objects.filter(pk=job.pk).update(sweep=sweep, sweep_trial=trial.number)
    except ServiceError as exc:
        _fail_trial(study, trial._trial_id, trial.number, f"Refused at submit: {exc.message}")
        return False
    study._storage.set_trial_user_attr(trial._trial_id, "job_id", job.pk)
    return True


def _fail_trial(study, trial_id: int, number: int, reason: str) -> None:
    import optuna

    study._storage.set_trial_user_attr(trial_id, "status_reason", reason[:500])
    study.tell(number, state=optuna.trial.TrialState.FAIL)


def _tell_ended(sweep: Sweep, study, trials) -> None:
    """Every trial Optuna still holds as running whose job has ended gets its result (once: a told trial is no
    longer running); a running trial with no job at all was asked by a request that rolled back."""
    import optuna

    running = {t.number: t for t in trials if t.state == optuna.trial.TrialState.RUNNING}
    if not running:
        return
    jobs = {j.sweep_trial: j for j in sweep.trials.filter(sweep_trial__in=list(running))}
    objective = OBJECTIVES[sweep.objective]
    second = SECOND_OBJECTIVES.get(sweep.second_objective) if sweep.second_objective else None
    for number, trial in running.items():
        job = jobs.get(number)
        if job is None:
            _fail_trial(study, trial._trial_id, number, "Its training job was never created")
            continue
        if job.status not in TrainingJob.FINISHED:
            continue
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, "job_status", job.status)
        if job.status == TrainingJob.PRUNED:
            storage.set_trial_user_attr(trial._trial_id, "status_reason", job.status_reason[:500])
            study.tell(number, state=optuna.trial.TrialState.PRUNED)
        elif job.status == TrainingJob.Status.COMPLETED:
            metrics = dict(job.final_metrics or {})
            adapter = Adapter.objects.filter(source_job=job).first()
            metrics["adapter_size_bytes"] = adapter.size_bytes if adapter else None
            # An ended sweep starts no new measurement (it reads what is there).
            options = {**sweep.objective_options, "may_start": sweep.status == RUNNING}
            measured = measure_trial(job, adapter, [o for o in (objective, second) if o], options)
            if measured.error:
                _fail_trial(study, trial._trial_id, number, f"Completed, but not measured: {measured.error}")
                continue
            if measured.pending:  # e.g. its eval run is queued: told when that ends
                continue
            values = trial_values({**metrics, **measured.values}, objective, second)
            if values is None:
                _fail_trial(study, trial._trial_id, number, f"Completed without a {objective.label}")
            else:
                study.tell(number, values)
        else:
            _fail_trial(study, trial._trial_id, number, f"Job {job.status}: {job.status_reason}")


def _best_trial(sweep: Sweep, study):
    """Single objective: Optuna's best. Two objectives: the Pareto-front trial with the best first objective."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    if not sweep.second_objective:
        return study.best_trial
    front = study.best_trials
    return (min if sweep.direction == "minimize" else max)(front, key=lambda t: t.values[0])


def _record_best(sweep: Sweep, study) -> None:
    best = _best_trial(sweep, study)
    if best is None or best.number == sweep.best_trial:
        return
    job = sweep.trials.filter(sweep_trial=best.number).first()
    sweep.best_trial, sweep.best_value, sweep.best_job = best.number, best.values[0], job
    Sweep.objects.filter(pk=sweep.pk).update(best_trial=best.number, best_value=best.values[0], best_job=job)


def _stop_asking(sweep: Sweep, why: str) -> None:
    if not sweep.stopping:
        sweep.stopping = why
        Sweep.objects.filter(pk=sweep.pk).update(stopping=why)


def _cancel_trial(job: TrainingJob) -> None:
    with contextlib.suppress(Conflict, NotFound):  # ended or being cancelled already
        training_services.cancel_training_job(job.pk, None)


def _finish(sweep: Sweep, study) -> None:
    """All trials settled: register the best trial's adapter as the sweep's result, discard the rest unless kept."""
    best = _best_trial(sweep, study)
    if best is None:
        sweep.finish(Sweep.Status.FAILED, f"No trial completed ({sweep.stopping})")
        return
    job = sweep.trials.filter(sweep_trial=best.number).first()
    adapter = Adapter.objects.filter(source_job=job).first() if job else None
    discarded = 0 if sweep.keep_trial_adapters else _discard_other_adapters(sweep, adapter)
    label = OBJECTIVES[sweep.objective].label
    reason = (
        f"Best: trial {best.number} ({label} {best.values[0]:.4f})"
        + (f", adapter {adapter.label} registered" if adapter else "")
        + (f"; {discarded} other trial adapter(s) discarded" if discarded else "")
        + f" — {sweep.stopping}"
    )
    sweep.finish(
        Sweep.Status.COMPLETED,
        reason,
        best_trial=best.number,
        best_value=best.values[0],
        best_job=job,
        best_adapter=adapter,
    )


def _discard_other_adapters(sweep: Sweep, keep: Adapter | None) -> int:
    """Delete the non-best trial adapters (rows now, folders on commit); one a federation uses stays."""
    count = 0
    for adapter in Adapter.objects.filter(source_job__sweep=sweep).exclude(pk=getattr(keep, "pk", None)):
        folder = adapter.abs_path()
        try:
            with transaction.atomic():
                adapter.delete()
        except ProtectedError:
            continue
        transaction.on_commit(lambda folder=folder: shutil.rmtree(folder, ignore_errors=True))
        count += 1
    return count


def cancel_sweep(sweep_id: int | str, user=None) -> Sweep:
    """End a running sweep now (cancelled) and cancel its queued and running trials."""
    with transaction.atomic():
        sweep = (
            Sweep.objects.select_for_update().filter(pk=int(sweep_id)).first()
            if str(sweep_id).isdigit()
            else None
        )
        if sweep is None:
            raise NotFound(f"Sweep {sweep_id} does not exist")
        if user is not None and not (
            getattr(user, "is_staff", False)
            or (sweep.created_by_id and sweep.created_by_id == getattr(user, "pk", None))
        ):
            raise Forbidden("Only staff or the sweep's creator can cancel it")
        if sweep.status != RUNNING:
            raise Conflict(f"Sweep {sweep.pk} is already {sweep.status}")
        active = list(sweep.trials.filter(status__in=TrainingJob.ACTIVE))
        sweep.finish(Sweep.Status.CANCELLED, f"Cancelled with {len(active)} trial(s) still active")
        audit.record(user, "sweep.cancel", sweep, f"cancelled sweep {sweep.name}")
    for job in active:
        _cancel_trial(job)
    return sweep


def upkeep() -> dict[str, int]:
    """The recovery loop's part: advance every running sweep (trials whose worker died were ended just before by
    training's own recovery) and tell the studies of recently ended sweeps about their last trials."""
    recent = timezone.now() - timedelta(days=1)
    ids = list(Sweep.objects.filter(status=RUNNING).values_list("pk", flat=True)) + list(
        Sweep.objects.exclude(status=RUNNING)
        .filter(finished_at__gte=recent, trials__status__in=TrainingJob.FINISHED)
        .distinct()
        .values_list("pk", flat=True)
    )
    advanced = 0
    for pk in ids:
        try:
            advance_sweep(pk)
            advanced += 1
        except Exception:
            log.exception("sweep %s: advancing failed", pk)
    return {"advanced": advanced}


def sweep_summary(sweep: Sweep | int) -> dict[str, Any]:
    from training.sweeps.queries import sweep_summary as summary

    return summary(sweep if isinstance(sweep, Sweep) else get_sweep(sweep))
