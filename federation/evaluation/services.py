"""Eval-run use cases: resolve a subject, submit a run (queued on the inference side), cancel it, and read the
figures back: leaderboard per suite, per-case diff of two runs, an adapter's score with its deltas."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from federation.evaluation.engine.metrics import METRICS
from federation.evaluation.models import EvalCaseResult, EvalRun, EvalSuite
from federation.evaluation.suites import resolve_suite
from federation.models import Federation
from federation.services import base_model_path, check_id, get_row, resolve_adapter, resolve_base_model
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.users import signed_in
from training.models import Adapter, FoundationModel

MAX_BATCH = 64
SUBJECT_PREFIXES = ("base", "adapter", "federation")


def resolve_subject(value) -> tuple[str, object]:
    """'base:NAME', 'adapter:NAME[ vN]', 'federation:NAME', a row, or a bare name (federation, adapter, base)."""
    if isinstance(value, FoundationModel):
        return EvalRun.Subject.BASE, value
    if isinstance(value, Adapter):
        return EvalRun.Subject.ADAPTER, value
    if isinstance(value, Federation):
        return EvalRun.Subject.FEDERATION, value
    text = str(value or "").strip()
    kind, sep, name = text.partition(":")
    if sep and kind in SUBJECT_PREFIXES:
        name = name.strip()
        if kind == "base":
            return EvalRun.Subject.BASE, resolve_base_model(int(name) if name.isdigit() else name)
        if kind == "adapter":
            return EvalRun.Subject.ADAPTER, resolve_adapter(int(name) if name.isdigit() else name)
        query = (
            Federation.objects.filter(pk=check_id(int(name), "Federation"))
            if name.isdigit()
            else Federation.objects.filter(name=name)
        )
        found = query.first()
        if found is None:
            raise NotFound(f"Unknown federation {name!r}.", field="subject")
        return EvalRun.Subject.FEDERATION, found
    if not text:
        raise ServiceError(
            "Name the subject: base:NAME, adapter:NAME[ vN] or federation:NAME.", field="subject"
        )
    federation = Federation.objects.filter(name=text).first()
    if federation is not None:
        return EvalRun.Subject.FEDERATION, federation
    try:
        return EvalRun.Subject.ADAPTER, resolve_adapter(text)
    except ServiceError:
        pass
    try:
        return EvalRun.Subject.BASE, resolve_base_model(text)
    except ServiceError:
        raise NotFound(
            f"Unknown subject {text!r}: no federation, adapter or base model has that name.", field="subject"
        ) from None


def subject_base(kind: str, subject) -> FoundationModel:
    if kind == EvalRun.Subject.BASE:
        return subject
    return subject.base_model


def check_available(kind: str, subject) -> None:
    """Refuse a subject that cannot run here: its base model's files are missing, or its federation is not ready."""
    if kind == EvalRun.Subject.FEDERATION and not subject.is_ready:
        raise Conflict(f"Federation {subject.name} is {subject.status}, not ready.", field="subject")
    base_model_path(subject_base(kind, subject))


def check_judges(suite: EvalSuite) -> None:
    for spec in suite.metrics:
        if spec["name"] != "judge":
            continue
        judge = spec.get("judge") or {}
        if judge.get("kind") == "openai":
            if not judge.get("base_url") or not judge.get("model"):
                raise ServiceError("The OpenAI-compatible judge needs base_url and model.", field="metrics")
        elif judge.get("kind") == "console":
            kind, subject = resolve_subject(judge.get("subject"))
            check_available(kind, subject)
        else:
            raise ServiceError(
                'The judge is {"kind": "openai", "base_url", "model"} or {"kind": "console", "subject"}.',
                field="metrics",
            )


@transaction.atomic
def submit_eval(
    subject,
    suite,
    *,
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    training_job=None,
    user=None,
    enqueue: bool = True,
) -> EvalRun:
    """Save an EvalRun (the suite is locked from now on) and queue it on the inference queue on commit."""
    kind, row = resolve_subject(subject)
    suite = resolve_suite(suite)
    if not suite.cases.exists():
        raise ServiceError(f"Suite {suite.label} has no cases.", field="suite")
    for spec in suite.metrics:
        if METRICS[spec["name"]].needs_reference and suite.cases.filter(reference__isnull=True).exists():
            raise ServiceError(
                f"Metric {spec['name']} needs references, and some cases have none.", field="suite"
            )
    check_available(kind, row)
    check_judges(suite)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise ServiceError("Seed must be a whole number from 0 to 2147483647.", field="seed")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ServiceError(f"Batch size must be from 1 to {MAX_BATCH}.", field="batch_size")
    max_new_tokens = suite.max_new_tokens if max_new_tokens is None else max_new_tokens
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or not 1 <= max_new_tokens <= 1024
    ):
        raise ServiceError("Max new tokens must be a whole number from 1 to 1024.", field="max_new_tokens")
    EvalSuite.objects.filter(pk=suite.pk, locked_at__isnull=True).update(locked_at=timezone.now())
    run = EvalRun.objects.create(
        suite=suite,
        subject_kind=kind,
        base_model=subject_base(kind, row),
        adapter=row if kind == EvalRun.Subject.ADAPTER else None,
        federation=row if kind == EvalRun.Subject.FEDERATION else None,
        federation_version=row.version if kind == EvalRun.Subject.FEDERATION else None,
        training_job=training_job,
        seed=seed,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress_total=suite.cases.count(),
        created_by=signed_in(user),
    )
    audit.record(user, "evaluation.run.submit", run, f"eval {run.subject_label} on {suite.label}")
    if enqueue:
        run.enqueue_on_commit()
    return run


def get_eval_run(run_id: int) -> EvalRun:
    return get_row(
        EvalRun.objects.select_related("suite", "base_model", "adapter", "federation"), run_id, "Eval run"
    )


def cancel_eval(run: EvalRun, *, user=None) -> EvalRun:
    """Queued or running → cancelled; the worker notices between batches and writes nothing."""
    if not run.finish(EvalRun.Status.CANCELLED, "cancelled by the user"):
        run.refresh_from_db()
        raise Conflict(f"Eval run {run.pk} is already {run.status}.")
    audit.record(user, "evaluation.run.cancel", run, f"cancelled eval {run.pk}")
    return run


def leaderboard(suite: EvalSuite) -> list[dict]:
    """The latest completed run of every subject on this suite, best primary score first."""
    seen, rows = set(), []
    runs = suite.runs.filter(status=EvalRun.Status.COMPLETED).select_related(
        "adapter", "federation", "base_model"
    )
    for run in runs.order_by("-finished_at"):
        key = (run.subject_kind, run.adapter_id, run.federation_id, run.federation_version, run.base_model_id)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "run": run,
                "subject": run.subject_label,
                "kind": run.subject_kind,
                "score": run.score,
                "metrics": run.summary.get("metrics", {}),
                "latency_p50_ms": run.latency_p50_ms,
                "latency_p95_ms": run.latency_p95_ms,
                "tokens_per_second": run.tokens_per_second,
            }
        )
    return sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0.0)))


def diff_runs(a: EvalRun, b: EvalRun) -> list[dict]:
    """Case by case: both outputs and the primary score of each (runs on the same suite only)."""
    if a.suite_id != b.suite_id:
        raise ServiceError("Compare two runs on the same suite.", field="b")
    primary = a.suite.primary_metric
    by_case = {r.case_id: r for r in EvalCaseResult.objects.filter(run=b)}
    rows = []
    for left in EvalCaseResult.objects.filter(run=a).select_related("case"):
        right = by_case.get(left.case_id)
        sa = left.scores.get(primary)
        sb = right.scores.get(primary) if right else None
        rows.append(
            {
                "index": left.case.index,
                "prompt": left.case.prompt,
                "reference": left.case.reference,
                "a": left.output,
                "b": right.output if right else "",
                "score_a": sa,
                "score_b": sb,
                "changed": sa != sb,
            }
        )
    return rows


def latest_score(suite_id: int, **subject) -> EvalRun | None:
    return (
        EvalRun.objects.filter(suite_id=suite_id, status=EvalRun.Status.COMPLETED, **subject)
        .order_by("-finished_at")
        .first()
    )


def adapter_figures(adapter: Adapter) -> dict | None:
    """The adapter's latest completed eval, Δ vs its base on that suite, Δ vs the previous version of the adapter."""
    run = (
        EvalRun.objects.filter(adapter=adapter, status=EvalRun.Status.COMPLETED)
        .select_related("suite")
        .order_by("-finished_at")
        .first()
    )
    if run is None:
        pending = EvalRun.objects.filter(adapter=adapter, status__in=EvalRun.ACTIVE).exists()
        return {"pending": True} if pending else None
    base = latest_score(run.suite_id, subject_kind=EvalRun.Subject.BASE, base_model_id=adapter.base_model_id)
    previous_adapter = (
        Adapter.objects.filter(name=adapter.name, version__lt=adapter.version).order_by("-version").first()
    )
    previous = latest_score(run.suite_id, adapter=previous_adapter) if previous_adapter else None

    def delta(other: EvalRun | None) -> float | None:
        return (
            run.score - other.score if other and other.score is not None and run.score is not None else None
        )

    return {
        "pending": False,
        "run_id": run.pk,
        "suite": run.suite.label,
        "suite_id": run.suite_id,
        "metric": run.suite.primary_metric,
        "score": run.score,
        "base_score": base.score if base else None,
        "delta_base": delta(base),
        "previous": previous_adapter.label if previous_adapter else None,
        "previous_score": previous.score if previous else None,
        "delta_previous": delta(previous),
        "latency_p50_ms": run.latency_p50_ms,
    }
