"""Evaluation's job kind for recovery: a lost eval run simply ends failed (it wrote nothing: results land at the end)."""

from __future__ import annotations

from rmnconsole.core.recovery import JobKind


def job_kinds() -> list[JobKind]:
    from federation.evaluation.models import EvalRun

    return [JobKind.for_model(EvalRun, label="eval run")]
