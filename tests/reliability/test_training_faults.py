"""Training under faults, with real worker processes and the tiny model: a SIGKILLed worker, Redis emptied while a job
waits, a full or read-only adapter store, the database dropping the worker's connections mid-training."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone

from rmnconsole.core import queues
from rmnconsole.core.recovery import LOST, recover_all
from tests.conftest import worker_env
from tests.reliability.training_helpers import process_is_dead, wait_for, worker_log, write_dataset

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUICK = {
    "max_steps": 8,
    "batch_size": 2,
    "checkpoint_steps": 4,
    "eval_steps": 1000,
    "lora_r": 4,
    "lora_alpha": 8,
}
# About 5 s of training at batch 16 on this CPU: long enough for a fault to land mid-run.
LONG = {**QUICK, "max_steps": 200, "batch_size": 16, "checkpoint_steps": 5}


def _job(pk: int):
    from training.models import TrainingJob

    return TrainingJob.objects.get(pk=pk)


def _submit(data_root, user, name: str, config: dict):
    from training import services

    return services.submit_training_job(
        adapter_type="retailer",
        adapter_name=name,
        dataset_path=write_dataset(data_root),
        config=config,
        user=user,
    )


def test_sigkill_mid_training_ends_worker_lost_and_resume_continues(
    tiny_base_models, data_root, user, rq_worker, settings, monkeypatch
):
    from training import services
    from training.models import Adapter
    from training.runtime import existing_checkpoint

    monkeypatch.setenv("RMN_HEARTBEAT_STALE_SECONDS", "6")
    settings.RMN_HEARTBEAT_STALE_SECONDS = 6
    job = _submit(data_root, user, "killed_v1", LONG)
    proc = rq_worker.start("training")

    def _checkpoint_step(j) -> int:
        checkpoint = existing_checkpoint(j)
        return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0

    running = wait_for(
        lambda: _checkpoint_step(j := _job(job.pk)) >= 10 and j, "a checkpoint at step 10 or later", proc=proc
    )
    reached = _checkpoint_step(running)
    assert running.status == "running" and running.current_step < LONG["max_steps"], "make the job longer"
    horse = int(running.worker_host.rsplit(":", 1)[1])
    # The worker first: a live worker would record its horse's death at once (killed by signal 9).
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(horse, signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    wait_for(lambda: process_is_dead(horse), "the work horse to die", timeout=30)
    assert _job(job.pk).status == "running", "nothing has noticed yet"
    # As another host sees it: the pid means nothing there, only the heartbeat's silence does.
    type(running).objects.filter(pk=job.pk).update(worker="gpu-elsewhere:4242")
    final = wait_for(
        lambda: recover_all() is not None and (j := _job(job.pk)).status != "running" and j,
        "the stale-heartbeat sweep",
        timeout=120,
    )
    assert time.monotonic() - killed < 120
    print(f"worker lost recorded {time.monotonic() - killed:.1f} s after the SIGKILL")  # shown with -s
    assert final.status == "failed", final.status_reason
    assert final.status_reason.startswith(LOST), final.status_reason
    checkpoint = existing_checkpoint(final)
    assert checkpoint is not None and final.can_resume, "the last checkpoint is kept"
    step = int(checkpoint.name.rsplit("-", 1)[1])
    assert step >= reached, "a checkpoint seen before the kill is never lost"

    resumed = services.resume_training_job(job.pk, user)
    result = rq_worker.run_burst("training")
    resumed.refresh_from_db()
    assert resumed.status == "completed", (resumed.status_reason, result.stderr[-3000:])
    assert f"training steps {step}→{LONG['max_steps']} (resumed from a checkpoint)" in resumed.log
    steps = list(resumed.metrics.exclude(loss=None).order_by("step").values_list("step", flat=True))
    assert steps and steps[-1] == LONG["max_steps"]
    assert len(steps) == len(set(steps)), "no step is trained (or drawn) twice"
    assert Adapter.objects.get(source_job=resumed).name == "killed_v1"
    assert _job(job.pk).status == "failed", "the lost job stays failed; its resume is a new job"


def test_redis_emptied_while_queued_then_runs_exactly_once(
    tiny_base_models, data_root, user, rq_worker, settings
):
    from training.models import Adapter, TrainingJob

    job = _submit(data_root, user, "flushed_v1", QUICK)
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.llen("rq:queue:training") == 1
    client.flushdb()  # Redis restarted: it keeps nothing on disk
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    args = [
        *rq_worker._args(("training",), True, False, None),
        "--worker-class",
        "rmnconsole.workers.RecoveringWorker",
    ]
    started = subprocess.run(args, env=worker_env(settings), capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    job.refresh_from_db()
    assert job.status == "completed", (job.status_reason, started.stderr[-3000:])
    assert "re-enqueued" in started.stderr

    # A duplicate queue entry (a requeue racing a late original) must not train it again.
    queues.enqueue(queues.TRAINING, "training.tasks.run_training_job", job.pk, job_id=job.rq_job_id)
    again = rq_worker.run_burst("training")
    assert again.returncode == 0, again.stderr[-2000:]
    job.refresh_from_db()
    assert job.status == "completed" and job.log.count("claimed by") == 1, job.log
    assert Adapter.objects.filter(name="flushed_v1").count() == 1


@contextlib.contextmanager
def mounted(*args: str):
    target = args[-1]
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()}): the full-disk fault needs a tmpfs mount")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", target], check=False)


def _assert_nothing_registered(data_root, name: str) -> None:
    from training.models import Adapter

    assert not Adapter.objects.exists()
    store = data_root / "adapters"
    leftovers = [p for p in store.rglob("*") if p.is_file()] if store.is_dir() else []
    assert leftovers == [], f"half-written adapter files left behind: {leftovers}"
    assert not (store / name).exists() or not any((store / name).iterdir())


def test_full_adapter_store_fails_the_job_with_that_reason(tiny_base_models, data_root, user, rq_worker):
    store = data_root / "adapters"
    store.mkdir(exist_ok=True)
    with mounted("-t", "tmpfs", "-o", "size=16k", "tmpfs", str(store)):
        (store / "filler").write_bytes(b"\0" * 12 * 1024)
        job = _submit(data_root, user, "full_v1", QUICK)
        result = rq_worker.run_burst("training")
        (store / "filler").unlink()
        job.refresh_from_db()
        assert job.status == "failed", (job.status, result.stderr[-3000:])
        assert "No space left on device" in job.status_reason, job.status_reason
        _assert_nothing_registered(data_root, "full_v1")
        assert job.can_resume, "its checkpoints (elsewhere) are kept: a resume only needs room to save"


def test_read_only_adapter_store_fails_the_job_with_that_reason(tiny_base_models, data_root, user, rq_worker):
    target = data_root / "adapters" / "readonly_v1"
    target.mkdir(parents=True)
    with mounted("--bind", "-o", "ro", str(target), str(target)):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=False)
        job = _submit(data_root, user, "readonly_v1", QUICK)
        result = rq_worker.run_burst("training")
        job.refresh_from_db()
        assert job.status == "failed", (job.status, result.stderr[-3000:])
        assert "Could not store the adapter" in job.status_reason, job.status_reason
        _assert_nothing_registered(data_root, "readonly_v1")


@pytest.mark.timeout(1200)
def test_database_drops_the_workers_connections_mid_training(tiny_base_models, data_root, user, rq_worker):
    from training.models import Adapter

    steps = 200  # about 30 s of training at batch 16 under load: the faults land in the middle of it
    config = {**LONG, "max_steps": steps, "batch_size": 16, "checkpoint_steps": 1000}
    job = _submit(data_root, user, "blip_v1", config)
    proc = rq_worker.start("training")
    wait_for(lambda: _job(job.pk).current_step >= 1, "training to start", proc=proc)
    dropped = []
    for _ in range(2):  # twice, a second apart: the worker must reconnect each time
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            dropped += [pid for pid, ok in cursor.fetchall() if ok]
        time.sleep(1.0)
    assert _job(job.pk).current_step < steps, "training ended before the fault: make it longer"
    assert dropped, "the worker held no connection to drop"
    # No time limit is part of the claim: under parallel CI load the remaining steps can take minutes.
    final = wait_for(
        lambda: (j := _job(job.pk)).status != "running" and j, "the job to end", timeout=900, proc=proc
    )
    assert final.status == "completed", (final.status_reason, worker_log(proc))
    assert final.current_step == steps and final.final_metrics.get("train_loss") is not None
    assert Adapter.objects.filter(source_job=final).count() == 1
    assert "failed once" in worker_log(proc) + final.log, "the dropped write was logged"
    late = final.metrics.filter(step__gt=steps - 40).exclude(loss=None).count()
    assert late > 0, "progress writes resumed after the connection came back"
