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
from rmnconsole.core.recovery import LOST, recover_all, rq_status

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
    first = now_or_on_commit(recover_all)
    assert first["inference run"] == {"requeued": 1, "failed": 0}
    job = Job.fetch(run.rq_job_id, connection=_redis())
    assert job.func_name == "federation.tasks.run_inference" and job.args == (run.pk,)
    assert job.retries_left is None, "RQ never retries a job on its own"
    assert recover_all()["inference run"] == {"requeued": 0, "failed": 0}, "already back: left alone"
    assert queues.get_queue(queues.INFERENCE).count == 1


def test_a_fresh_row_is_left_to_its_own_on_commit_enqueue(world):
    run = _runs(world)
    assert recover_all()["inference run"] == {"requeued": 0, "failed": 0}
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
    result = recover_all()
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
    recover_all()
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
    assert recover_all()["inference run"] == {"requeued": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(LOST)


def test_lost_queued_rows_come_back_oldest_first_across_kinds(world, now_or_on_commit):
    """Redis lost its data: the queue is rebuilt in the order users submitted, not newest first."""
    from federation.models import ABTest

    fed = world.federation
    base = timezone.now() - timedelta(minutes=10)
    first, third = _runs(world), _runs(world)
    test = ABTest.objects.create(name="ab", federation_a=fed, federation_b=fed, prompts=[{"prompt": "p"}])
    test.assign_rq_job_id()
    for offset, row in enumerate((first, test, third)):
        type(row).objects.filter(pk=row.pk).update(created_at=base + timedelta(seconds=offset))
    result = now_or_on_commit(recover_all)
    assert result["inference run"]["requeued"] == 2 and result["A/B test"]["requeued"] == 1
    order = [x.decode() for x in _redis().lrange("rq:queue:inference", 0, -1)]
    assert order == [first.rq_job_id, test.rq_job_id, third.rq_job_id]


def test_other_kinds_requeue_and_fail_too(world, settings, now_or_on_commit):
    """Dataset validations, A/B tests and gate trainings follow the same rules."""
    from datasets_app.models import DatasetValidation
    from federation.models import ABTest, Federation, GateTraining

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    old = timezone.now() - timedelta(minutes=5)
    dataset = world.dataset
    validation = DatasetValidation.objects.create(
        dataset=dataset, options={"base_model": "tiny-llama", "max_seq_len": 256}
    )
    validation.assign_rq_job_id()
    DatasetValidation.objects.filter(pk=validation.pk).update(created_at=old)
    fed = world.federation
    test = ABTest.objects.create(
        name="ab", federation_a=fed, federation_b=fed, prompts=[{"prompt": "p"}], status="running",
        heartbeat_at=old, worker="gpu-c:3", rq_job_id="abtest-x",
    )  # fmt: skip
    gate = GateTraining.objects.create(
        federation=fed, federation_version=fed.version, total_steps=3, learning_rate=1e-3, status="running",
        heartbeat_at=old, rq_job_id="gate-x",
    )  # fmt: skip
    result = now_or_on_commit(recover_all)
    assert result["dataset validation"]["requeued"] == 1
    # Re-enqueued under its own id: the task re-reads the options (tokenizer, max length) from the row.
    job = Job.fetch(validation.rq_job_id, connection=_redis())
    assert job.func_name == "datasets_app.library.tasks.validate_dataset_task" and job.args == (
        validation.pk,
    )
    assert job.origin == "default"
    test.refresh_from_db()
    gate.refresh_from_db()
    assert test.status == "failed" and test.error.startswith(LOST)
    assert gate.status == "failed" and gate.status_reason.startswith(LOST)
    assert Federation.objects.get(pk=fed.pk).status == "failed"


def test_recover_jobs_command_and_lock(world, settings, now_or_on_commit):
    from io import StringIO

    from django.core.management import call_command

    run = _runs(world)
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert now_or_on_commit(recover_all, lock_seconds=30) != {}
    assert recover_all(lock_seconds=30) == {}, "a second loop in the same window skips"
    _redis().delete("rmn:recovery:lock")
    out = StringIO()
    call_command("recover_jobs", "--once", stdout=out)
    assert "nothing to do" in out.getvalue(), "the first pass already put the run back"
    out = StringIO()
    call_command("reconcile_jobs", stdout=out)  # the former name: one pass
    assert "nothing to do" in out.getvalue()


def test_recover_jobs_refuses_a_bad_period():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--every must be positive"):
        call_command("recover_jobs", "--every", "0")


def test_monitor_host_no_longer_recovers_the_loop_does(world, settings):
    """Recovery is its own loop: the host monitor only samples."""
    from io import StringIO

    from django.core.management import call_command

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    old = timezone.now() - timedelta(minutes=10)
    run = _runs(world, status="running", started_at=old, heartbeat_at=old, worker="gpu-z:9")
    call_command(
        "monitor_host", "--host", "mon-a", "--once", "--interval", "0.1", "--no-alerts", stdout=StringIO()
    )
    run.refresh_from_db()
    assert run.status == "running"
    call_command("recover_jobs", "--once", stdout=StringIO())
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(LOST)


def test_a_validation_whose_worker_went_silent_fails_and_can_be_revalidated(world, settings):
    from datasets_app.models import Dataset, DatasetValidation

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    dataset = world.dataset
    Dataset.objects.filter(pk=dataset.pk).update(status="validating")
    validation = DatasetValidation.objects.create(
        dataset=dataset,
        status="running",
        rq_job_id="dataset-validation-silent",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        worker="other-host:4242",
    )
    assert recover_all()["dataset validation"]["failed"] == 1
    dataset.refresh_from_db()
    validation.refresh_from_db()
    assert validation.status == "failed" and validation.finished_at is not None
    assert dataset.status == "failed" and dataset.status_reason.startswith(LOST)
    assert "no heartbeat since" in dataset.status_reason and dataset.status_reason.endswith(
        "validate it again"
    )
    assert dataset.progress_pct == 100.0

    # A live one (fresh heartbeat) and one that never beat nor started are left alone.
    Dataset.objects.filter(pk=dataset.pk).update(status="validating")
    live = DatasetValidation.objects.create(
        dataset=dataset, status="running", heartbeat_at=timezone.now(), worker="other-host:1"
    )
    assert recover_all()["dataset validation"]["failed"] == 0
    DatasetValidation.objects.filter(pk=live.pk).update(heartbeat_at=None, started_at=None, worker="")
    assert recover_all()["dataset validation"]["failed"] == 0
    assert DatasetValidation.objects.get(pk=live.pk).status == "running"
    assert Dataset.objects.get(pk=dataset.pk).status == "validating"


def _snapshot(*rows):
    return [type(r).objects.filter(pk=r.pk).values().get() for r in rows]


def test_page_and_api_reads_never_write(world, settings, client):
    """A dead job, a stale gate and an overdue cancel stay as they are while users only look: recovery ends them."""
    from federation.models import GateTraining
    from training.models import TrainingJob

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    settings.RMN_TRAINING_CANCEL_GRACE_SECONDS = 5
    old = timezone.now() - timedelta(minutes=10)
    fields = {
        "adapter_type": "task", "adapter_name": "x", "base_model": world.base,
        "training_type": "sft", "dataset_path": "d.jsonl", "created_by": world.user,
    }  # fmt: skip
    dead = TrainingJob.objects.create(
        status="running", started_at=old, heartbeat_at=old, worker="gone:1", **fields
    )
    overdue = TrainingJob.objects.create(
        status="running", started_at=old, heartbeat_at=timezone.now(), cancel_requested=True,
        cancel_requested_at=old, rq_job_id="training-job-overdue", **fields,
    )  # fmt: skip
    fed = world.federation
    gate = GateTraining.objects.create(
        federation=fed, federation_version=fed.version, status="running", started_at=old, heartbeat_at=old
    )
    run = _runs(world, status="running", started_at=old, heartbeat_at=old, worker="gone:2")
    before = _snapshot(dead, overdue, gate, run, fed)
    client.force_login(world.user)
    for url in (
        "/training/",
        "/training/jobs/table/?tab=running",
        f"/training/jobs/{dead.pk}/",
        f"/training/jobs/{dead.pk}/progress/",
        f"/training/jobs/{overdue.pk}/progress/",
        "/api/training/jobs",
        f"/api/training/jobs/{dead.pk}",
        f"/federation/{fed.pk}/",
        f"/federation/{fed.pk}/gate/",
        f"/federation/runs/{run.pk}/",
        f"/api/inference/{run.pk}",
        f"/datasets/library/{world.dataset.pk}/status/",
    ):
        response = client.get(url)
        assert response.status_code in (200, 286, 404), (url, response.status_code)
    assert _snapshot(dead, overdue, gate, run, fed) == before
    result = recover_all()
    assert result["training job"] == {"requeued": 0, "failed": 1, "hard_stopped": 1}
    assert result["gate training"]["failed"] == 1 and result["inference run"]["failed"] == 1
