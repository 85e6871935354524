"""Federation's job kinds for recovery (rmnconsole.core.recovery), registered by federation.apps: inference runs and
A/B tests follow the default rule; a lost gate training also marks its federation version failed."""

from __future__ import annotations

from federation.models import Federation, GateTraining, InferenceRun, JobStatus
from rmnconsole.core.recovery import JobKind


def fail_gate(training: GateTraining, reason: str) -> bool:
    if not training.finish(JobStatus.FAILED, reason):
        return False
    Federation.objects.filter(pk=training.federation_id, version=training.federation_version).update(
        status=Federation.Status.FAILED, status_reason=f"Gate training failed: {reason}"
    )
    return True


def job_kinds() -> list[JobKind]:
    from federation.models import ABTest

    return [
        JobKind.for_model(InferenceRun, label="inference run"),
        JobKind.for_model(ABTest, label="A/B test"),
        JobKind.for_model(GateTraining, label="gate training", fail=fail_gate),
    ]
