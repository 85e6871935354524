"""Federation's job rows for the reconcile step (rmnconsole.core.reconcile): inference runs, A/B tests, gate trainings."""

from __future__ import annotations

from django.utils import timezone

from federation.models import ABTest, Federation, GateTraining, InferenceRun, JobStatus
from rmnconsole.core import queues
from rmnconsole.core.reconcile import JobKind, heartbeat_stale, process_gone

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING


def _silent(row) -> str:
    """Why a running row's worker is gone: its process on this host died, or its heartbeat went stale."""
    return process_gone(getattr(row, "worker", "")) or heartbeat_stale(row.heartbeat_at or row.started_at)


def _fail_run(run: InferenceRun, reason: str) -> bool:
    return run.finish(JobStatus.FAILED, error=reason)


def _fail_abtest(test: ABTest, reason: str) -> bool:
    return test.transition((QUEUED, RUNNING), JobStatus.FAILED, finished_at=timezone.now(), error=reason)


def _fail_gate(training: GateTraining, reason: str) -> bool:
    if not training.transition(
        (QUEUED, RUNNING), JobStatus.FAILED, finished_at=timezone.now(), status_reason=reason
    ):
        return False
    Federation.objects.filter(pk=training.federation_id, version=training.federation_version).update(
        status=Federation.Status.FAILED, status_reason=f"Gate training failed: {reason}"
    )
    return True


JOB_KINDS = [
    JobKind(
        label="inference run",
        queue=queues.INFERENCE,
        queued=lambda: InferenceRun.objects.filter(status=QUEUED).exclude(rq_job_id=""),
        running=lambda: InferenceRun.objects.filter(status=RUNNING),
        requeue=lambda run: queues.enqueue(
            queues.INFERENCE, "federation.tasks.run_inference", run.pk, job_id=run.rq_job_id
        ),
        fail=_fail_run,
        dead=_silent,
    ),
    JobKind(
        label="A/B test",
        queue=queues.INFERENCE,
        queued=lambda: ABTest.objects.filter(status=QUEUED).exclude(rq_job_id=""),
        running=lambda: ABTest.objects.filter(status=RUNNING),
        requeue=lambda test: queues.enqueue(
            queues.INFERENCE, "federation.tasks.run_abtest", test.pk, job_id=test.rq_job_id
        ),
        fail=_fail_abtest,
        dead=lambda test: process_gone(test.worker) or heartbeat_stale(test.heartbeat_at),
    ),
    JobKind(
        label="gate training",
        queue=queues.TRAINING,
        queued=lambda: GateTraining.objects.filter(status=QUEUED).exclude(rq_job_id=""),
        running=lambda: GateTraining.objects.filter(status=RUNNING),
        requeue=lambda training: queues.enqueue(
            queues.TRAINING, "federation.tasks.train_gate", training.pk, job_id=training.rq_job_id
        ),
        fail=_fail_gate,
        dead=lambda training: heartbeat_stale(training.heartbeat_at or training.started_at),
    ),
]
