"""Cancel, resume, hard stop and dead workers, with real worker processes."""

import os
import signal
from pathlib import Path

import pytest

from training import services
from training.models import Adapter, TrainingJob
from training.runtime import CANCEL_KEY
from training.sweeper import hard_stop

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ENDLESS = {
    "max_steps": 100000,
    "batch_size": 2,
    "checkpoint_steps": 2,
    "eval_steps": 1000,
    "lora_r": 4,
    "lora_alpha": 8,
}


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _job(**overrides):
    return TrainingJob.objects.get(**overrides)


def test_cancel_stops_within_a_step_and_resume_continues_the_same_curve(
    fast, rq_worker, tiny_llama, write_dataset, rows, user
):
    import django_rq

    path = write_dataset("sft/pc.jsonl", rows.prompt_completion(24))
    job = services.submit_training_job(
        adapter_type="task",
        adapter_name="planning_v1",
        dataset_path=path,
        config={**fast, "max_steps": 6},
        user=user,
    )
    # The cancel key is already set when the worker picks the job up: it must stop after its first step.
    django_rq.get_connection("training").set(CANCEL_KEY.format(job.pk), "1")
    assert rq_worker.run_burst("training").returncode == 0
    job.refresh_from_db()
    assert job.status == "cancelled", job.log[-2000:]
    assert job.current_step == 1 and "cancel requested: stopping after step 1" in job.log
    assert job.last_checkpoint.endswith(f"job-{job.pk}/checkpoint-1")
    assert not Adapter.objects.exists()
    assert job.can_resume

    resumed = services.resume_training_job(job.pk, user)
    assert resumed.resumed_from == job and resumed.current_step == 1
    assert list(resumed.metrics.values_list("step", flat=True)) == [1]  # the curve so far comes along
    assert rq_worker.run_burst("training").returncode == 0
    resumed.refresh_from_db()
    assert resumed.status == "completed", resumed.log[-3000:]
    assert "training steps 1→6 (resumed from a checkpoint)" in resumed.log
    steps = list(resumed.metrics.exclude(loss=None).values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    assert Adapter.objects.get(source_job=resumed).name == "planning_v1"


def test_cancel_of_a_running_job_through_the_api(
    rq_worker, tiny_llama, write_dataset, rows, user, client, wait_for
):
    path = write_dataset("sft/msgs.jsonl", rows.messages(24))
    job = services.submit_training_job(
        adapter_type="retailer", adapter_name="target_v1", dataset_path=path, config=ENDLESS, user=user
    )
    proc = rq_worker.start("training")
    wait_for(lambda: _job(pk=job.pk).current_step >= 1, "the job to make progress", proc=proc)
    client.force_login(user)
    response = client.post(f"/api/training/jobs/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    final = wait_for(lambda: (j := _job(pk=job.pk)).status != "running" and j, "the job to stop", proc=proc)
    assert final.status == "cancelled", final.log[-2000:]
    stop_step = int(final.log.split("stopping after step ")[1].split()[0])
    assert final.current_step == stop_step < ENDLESS["max_steps"]
    assert final.last_checkpoint.endswith(f"checkpoint-{stop_step}")
    assert client.post(f"/api/training/jobs/{job.pk}/cancel").status_code == 409


def test_a_killed_worker_does_not_leave_the_job_running(rq_worker, tiny_llama, write_dataset, rows, wait_for):
    path = write_dataset("sft/pc.jsonl", rows.prompt_completion(24))
    job = services.submit_training_job(
        adapter_type="retailer", adapter_name="kroger_v1", dataset_path=path, config=ENDLESS
    )
    proc = rq_worker.start("training")
    running = wait_for(lambda: (j := _job(pk=job.pk)).current_step >= 3 and j, "a checkpoint", proc=proc)
    horse_pid = int(running.worker_host.rsplit(":", 1)[1])
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(horse_pid, signal.SIGKILL)
    proc.wait()
    wait_for(lambda: _dead(horse_pid), "the work horse to die")
    services.sweep_training_jobs()
    job.refresh_from_db()
    assert job.status == "failed" and "worker stopped responding" in job.status_reason
    assert job.last_checkpoint and job.can_resume


def test_hard_stop_kills_the_work_horse_and_records_cancelled(
    rq_worker, tiny_llama, write_dataset, rows, user, wait_for
):
    path = write_dataset("sft/pc.jsonl", rows.prompt_completion(24))
    job = services.submit_training_job(
        adapter_type="domain", adapter_name="beauty_v1", dataset_path=path, config=ENDLESS, user=user
    )
    proc = rq_worker.start("training")
    wait_for(lambda: _job(pk=job.pk).current_step >= 1, "the job to run", proc=proc)
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert hard_stop(_job(pk=job.pk))
    job.refresh_from_db()
    assert job.status == "cancelled" and "worker was stopped" in job.status_reason
    import django_rq
    from rq.registry import FailedJobRegistry

    registry = FailedJobRegistry(queue=django_rq.get_queue("training"))
    wait_for(lambda: job.rq_job_id in registry.get_job_ids(), "RQ to record the stopped job", proc=proc)
    step = _job(pk=job.pk).current_step
    assert _job(pk=job.pk).status == "cancelled" and step >= 1
