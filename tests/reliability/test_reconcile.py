"""The reconcile step against the real Redis: lost queue entries come back, orphaned running rows end "Worker lost"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from rq.job import Job

from rmnconsole.core import queues
from rmnconsole.core.reconcile import LOST, reconcile_all, rq_status

pytestmark = pytest.mark.django_db
HERE = socket.gethostname()


@pytest.fixture
def now_or_on_commit(django_capture_on_commit_callbacks):
    """django-rq enqueues on commit inside a transaction (this test's): run those callbacks at once."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(*args, **kwargs)
        return result

    return call


def dead_pid() -> int:
    """The pid of a process that has already exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _redis():
    return queues.get_queue(queues.INFERENCE).connection


def _runs(world, **fields):
    from federation.models import InferenceRun

    run = InferenceRun.objects.create(federation=world.federation, prompt="p", **fields)
    run.rq_job_id = f"inference-{run.pk}"
    run.save(update_fields=["rq_job_id"])
    return run


def test_queued_run_missing_from_redis_is_requeued_once(world, now_or_on_commit):
    run = _runs(world, created_at=timezone.now())
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert rq_status(_redis(), run.rq_job_id) == "missing"
    first = now_or_on_commit(reconcile_all)
    assert first["inference run"] == {"requeued": 1, "failed": 0}
    job = Job.fetch(run.rq_job_id, connection=_redis())
    assert job.func_name == "federation.tasks.run_inference" and job.args == (run.pk,)
    assert job.retries_left is None, "RQ never retries a job on its own"
    assert reconcile_all()["inference run"] == {"requeued": 0, "failed": 0}, "already back: left alone"
    assert queues.get_queue(queues.INFERENCE).count == 1


def test_a_fresh_row_is_left_to_its_own_on_commit_enqueue(world):
    run = _runs(world)
    assert reconcile_all()["inference run"] == {"requeued": 0, "failed": 0}
    assert rq_status(_redis(), run.rq_job_id) == "missing"


def test_running_rows_whose_worker_is_gone_end_worker_lost(world, settings):
    from federation.models import InferenceRun

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    # The world is built lazily (a LoRA is trained for it): build it before "now", or a slow build under a
    # loaded machine (parallel workers) makes the fresh heartbeats older than the 30 s stale limit.
    assert world.federation is not None
    now = timezone.now()
    old = now - timedelta(minutes=5)
    stale = _runs(world, status="running", started_at=old, heartbeat_at=old, worker="gpu-b:41")
    alive = _runs(world, status="running", started_at=old, heartbeat_at=now, worker="gpu-b:42")
    killed = _runs(world, status="running", started_at=now, heartbeat_at=now, worker=f"{HERE}:{dead_pid()}")
    here_alive = _runs(
        world, status="running", started_at=old, heartbeat_at=now, worker=f"{HERE}:{os.getpid()}"
    )
    result = reconcile_all()
    assert result["inference run"]["failed"] == 2
    for run, expected in ((stale, "failed"), (alive, "running"), (killed, "failed"), (here_alive, "running")):
        run.refresh_from_db()
        assert run.status == expected, (run.pk, run.error)
    stale.refresh_from_db()
    killed.refresh_from_db()
    assert stale.error.startswith(LOST) and "no heartbeat since" in stale.error
    assert killed.error.startswith(LOST) and "is gone" in killed.error
    assert stale.finished_at is not None
    assert InferenceRun.objects.filter(status="running").count() == 2


def test_running_row_whose_queue_entry_failed_is_ended(world, now_or_on_commit):
    from rq.job import JobStatus

    run = _runs(
        world, status="running", started_at=timezone.now(), heartbeat_at=timezone.now(), worker="gpu-b:7"
    )
    now_or_on_commit(
        queues.enqueue, queues.INFERENCE, "federation.tasks.run_inference", run.pk, job_id=run.rq_job_id
    )
    job = Job.fetch(run.rq_job_id, connection=_redis())
    job.set_status(JobStatus.FAILED)
    reconcile_all()
    run.refresh_from_db()
    assert run.status == "failed" and "queue entry is failed" in run.error


def test_queued_row_whose_queue_entry_failed_is_failed_not_rerun(world, now_or_on_commit):
    from rq.job import JobStatus

    run = _runs(world)
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    now_or_on_commit(
        queues.enqueue, queues.INFERENCE, "federation.tasks.run_inference", run.pk, job_id=run.rq_job_id
    )
    job = Job.fetch(run.rq_job_id, connection=_redis())
    queues.get_queue(queues.INFERENCE).remove(job)
    job.set_status(JobStatus.FAILED)
    assert reconcile_all()["inference run"] == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(LOST)


def test_other_kinds_requeue_and_fail_too(world, settings, now_or_on_commit):
    """Dataset validations, A/B tests and gate trainings follow the same rules."""
    from datasets_app.models import Dataset
    from federation.models import ABTest, Federation, GateTraining

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    old = timezone.now() - timedelta(minutes=5)
    dataset = world.dataset
    Dataset.objects.filter(pk=dataset.pk).update(
        status="pending",
        rq_job_id="dataset-validate-x",
        created_at=old,
        validation_options={"base_model": "tiny-llama", "max_seq_len": 256},
    )
    fed = world.federation
    test = ABTest.objects.create(
        name="ab", federation_a=fed, federation_b=fed, prompts=[{"prompt": "p"}], status="running",
        heartbeat_at=old, worker="gpu-c:3", rq_job_id="abtest-x",
    )  # fmt: skip
    gate = GateTraining.objects.create(
        federation=fed, federation_version=fed.version, total_steps=3, learning_rate=1e-3, status="running",
        heartbeat_at=old, rq_job_id="gate-x",
    )  # fmt: skip
    result = now_or_on_commit(reconcile_all)
    assert result["dataset validation"]["requeued"] == 1
    # Re-enqueued with the options it was asked for: the re-run measures token lengths the same way.
    assert Job.fetch("dataset-validate-x", connection=_redis()).args == (dataset.pk, "tiny-llama", 256)
    test.refresh_from_db()
    gate.refresh_from_db()
    assert test.status == "failed" and test.error.startswith(LOST)
    assert gate.status == "failed" and gate.status_reason.startswith(LOST)
    assert Federation.objects.get(pk=fed.pk).status == "failed"


def test_reconcile_command_and_lock(world, settings, now_or_on_commit):
    from io import StringIO

    from django.core.management import call_command

    run = _runs(world)
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert now_or_on_commit(reconcile_all, lock_seconds=30) != {}
    assert reconcile_all(lock_seconds=30) == {}, "a second monitor in the same window skips"
    _redis().delete("rmn:reconcile:lock")
    out = StringIO()
    call_command("reconcile_jobs", stdout=out)
    assert "nothing to do" in out.getvalue(), "the first pass already put the run back"


def test_monitor_host_reconciles_on_its_clock(world, settings):
    """The periodic home of the sweep: every host monitor runs it (under a lock) every RMN_RECONCILE_SECONDS."""
    from io import StringIO

    from django.core.management import call_command

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    old = timezone.now() - timedelta(minutes=10)
    run = _runs(world, status="running", started_at=old, heartbeat_at=old, worker="gpu-z:9")
    call_command(
        "monitor_host", "--host", "mon-a", "--once", "--interval", "0.1", "--no-alerts", stdout=StringIO()
    )
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(LOST)


def test_a_validation_whose_worker_went_silent_fails_and_can_be_revalidated(world, settings):
    from datasets_app.models import Dataset

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    dataset = world.dataset
    Dataset.objects.filter(pk=dataset.pk).update(
        status="validating",
        rq_job_id="dataset-validate-silent",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        worker="other-host:4242",
    )
    assert reconcile_all()["dataset validation"]["failed"] == 1
    dataset.refresh_from_db()
    assert dataset.status == "failed" and dataset.status_reason.startswith(LOST)
    assert "no heartbeat since" in dataset.status_reason and dataset.status_reason.endswith(
        "validate it again"
    )

    # A live one (fresh heartbeat) and one from before heartbeats existed are left alone.
    Dataset.objects.filter(pk=dataset.pk).update(status="validating", heartbeat_at=timezone.now())
    assert reconcile_all()["dataset validation"]["failed"] == 0
    Dataset.objects.filter(pk=dataset.pk).update(heartbeat_at=None, worker="")
    assert reconcile_all()["dataset validation"]["failed"] == 0
    assert Dataset.objects.get(pk=dataset.pk).status == "validating"
