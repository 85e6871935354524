"""The Python door: evaluate(subject, suite) → the run's figures (run in this process unless wait=False)."""

from __future__ import annotations

from federation.evaluation import services
from federation.evaluation.models import EvalRun
from rmnconsole.core.users import resolve_user


def run_figures(run: EvalRun) -> dict:
    return {
        "run_id": run.pk,
        "status": run.status,
        "error": run.error,
        "subject": run.subject_label,
        "suite": run.suite.label,
        "score": run.score,
        "metrics": run.summary.get("metrics", {}),
        "per_field": run.summary.get("per_field", []),
        "latency_p50_ms": run.latency_p50_ms,
        "latency_p95_ms": run.latency_p95_ms,
        "tokens_per_second": run.tokens_per_second,
        "judge": run.summary.get("judge"),
    }


def evaluate(
    subject,
    suite,
    *,
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    wait: bool = True,
    user=None,
) -> dict:
    """subject: 'base:NAME', 'adapter:NAME[ vN]', 'federation:NAME' or a row; suite: id, 'name' or 'name vN'.

    wait=True evaluates in this process (the caller is its own worker); wait=False queues it for the inference worker.
    """
    run = services.submit_eval(
        subject, suite, seed=seed, batch_size=batch_size, max_new_tokens=max_new_tokens,
        user=resolve_user(user), enqueue=not wait,
    )  # fmt: skip
    if wait:
        from federation.evaluation.tasks import run_eval

        run_eval(run.pk)
        run.refresh_from_db()
    return run_figures(run)
