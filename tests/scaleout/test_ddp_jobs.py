"""Multi-GPU jobs: a `num_gpus: 2` job runs as two torchrun ranks (gloo on this CPU) under a real training worker.

The worker announces 2 GPUs, so the job is routed to it; the ranks themselves train on the CPU with gloo, which
exercises the same launcher, rank-0 reporting, stop agreement and failure handling as NCCL ranks on GPUs.
"""

from __future__ import annotations

import os
import re
import signal
import sys

import pytest
import redis

from tests.conftest import REPO
from tests.reliability.training_helpers import process_is_dead, wait_for, worker_log
from tests.scaleout.conftest import submit_sft
from training.engine.ddp_files import LAUNCHER_LOG, rank_pids
from training.models import Adapter, TrainingJob, TrainingMetric
from training.routing import online_queues, training_workers
from training.runtime import DDP_FOLDER, checkpoint_dir
from training.services import cancel_training_job, resume_training_job
from training.sweeper import hard_stop

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TWO_GPU_HOST = '{"host": "ddp-host", "gpu_count": 2, "gpu_memory_gib": 24, "cuda": true}'
LONG = {
    "max_steps": 5000,
    "batch_size": 2,
    "checkpoint_steps": 5,
    "eval_steps": 5000,
    "lora_r": 4,
    "lora_alpha": 8,
    "num_gpus": 2,
}


@pytest.fixture
def ddp_worker(rq_worker, settings):
    args = [sys.executable, str(REPO / "manage.py"), "training_worker", "--name", "ddp-worker"]
    proc = rq_worker.start_command([*args, "--capabilities", TWO_GPU_HOST])
    conn = redis.Redis.from_url(settings.REDIS_URL)
    wait_for(lambda: online_queues(conn).get("training.g2.m8"), "the 2-GPU worker to come online", 120, proc)
    return proc


def _training_ranks(job: TrainingJob, proc) -> dict[int, int]:
    """Wait until both ranks run and training has taken steps; their pids (from the job log and the rank files)."""

    def stepping():
        job.refresh_from_db()
        return job.status == "running" and job.current_step >= 2 and "ranks running" in job.log

    wait_for(stepping, "both ranks training", timeout=240, proc=proc)
    pids = rank_pids(checkpoint_dir(job.pk) / DDP_FOLDER)
    logged = dict(map(int, pair) for pair in re.findall(r"rank (\d+) pid (\d+)", job.log))
    assert pids == logged and sorted(pids) == [0, 1]
    return pids


def _launcher_pid(job: TrainingJob) -> int:
    return int(re.search(r"launcher pid (\d+)", job.log).group(1))


def _final(job: TrainingJob, proc, timeout: float = 120) -> TrainingJob:
    wait_for(
        lambda: TrainingJob.objects.get(pk=job.pk).status not in ("queued", "running"),
        "the job to end",
        timeout,
        proc,
    )
    job.refresh_from_db()
    return job


def test_two_rank_job_trains_like_a_single_process_job(
    tiny_base_models, sft_dataset, fast, rq_worker, ddp_worker
):
    model = tiny_base_models["tiny-llama"]
    single = submit_sft(model, sft_dataset, {**fast, "max_steps": 6}, "single_rank")
    ddp = submit_sft(model, sft_dataset, {**fast, "max_steps": 6, "num_gpus": 2}, "two_ranks")
    assert (single.queue_name, ddp.queue_name) == ("training", "training.g2.m8")
    single, ddp = _final(single, ddp_worker, 240), _final(ddp, ddp_worker, 240)
    assert ddp.status == "completed", ddp.status_reason + ddp.log[-3000:] + worker_log(ddp_worker)
    assert single.status == "completed", single.status_reason

    # One process per GPU, rank 0 reporting: a loss point per step and the same metrics as a one-process job.
    assert ddp.device == "2 × DDP (gloo) cpu" and single.device == "cpu"
    assert "torchrun started 2 ranks" in ddp.log and "ranks running: rank 0 pid" in ddp.log
    steps = list(TrainingMetric.objects.filter(job=ddp, loss__isnull=False).values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    assert (ddp.current_step, ddp.total_steps, ddp.progress_pct) == (6, 6, 100.0)
    assert set(ddp.final_metrics) == set(single.final_metrics)
    assert ddp.final_metrics["train_loss"] > 0 and ddp.final_metrics["eval_loss"] > 0
    assert ddp.peak_memory_bytes > 50 * 1024**2

    # The adapter is registered like any other, as PEFT safetensors the base model loads.
    adapter = Adapter.objects.get(source_job=ddp)
    files = sorted(p.name for p in adapter.abs_path().iterdir())
    assert files == sorted(p.name for p in Adapter.objects.get(source_job=single).abs_path().iterdir())
    assert (adapter.rank, adapter.alpha) == (4, 8)
    from peft import PeftModel

    from training.engine.model_files import load_causal_lm

    base = load_causal_lm(model.local_path)
    PeftModel.from_pretrained(base, str(adapter.abs_path()))
    # Both ranks are gone and their shared files were cleaned up.
    launched = [int(pid) for pid in re.findall(r"pid (\d+)", ddp.log)]
    assert len(launched) == 3 and all(process_is_dead(pid) for pid in launched)
    assert not (checkpoint_dir(ddp.pk) / DDP_FOLDER).exists()


def test_cancel_stops_both_ranks_at_the_same_step_and_resume_continues(
    tiny_base_models, sft_dataset, ddp_worker
):
    # 500 steps: long enough that the cancel lands mid-run, short enough for the resumed job to finish.
    job = submit_sft(tiny_base_models["tiny-llama"], sft_dataset, {**LONG, "max_steps": 500}, "ddp_cancel")
    pids = _training_ranks(job, ddp_worker)
    cancel_training_job(job.pk)
    job = _final(job, ddp_worker)
    assert job.status == "cancelled", job.status_reason + job.log[-3000:]
    assert re.fullmatch(r"Cancelled at step \d+ of 500; resume continues from here", job.status_reason)
    assert job.last_checkpoint.endswith(f"checkpoint-{job.current_step}")  # the step the ranks agreed on
    wait_for(
        lambda: all(process_is_dead(p) for p in [*pids.values(), _launcher_pid(job)]), "ranks to exit", 30
    )

    resumed = _final(resume_training_job(job.pk), ddp_worker, 300)
    assert resumed.status == "completed", resumed.status_reason + resumed.log[-3000:]
    steps = list(
        TrainingMetric.objects.filter(job=resumed, loss__isnull=False).values_list("step", flat=True)
    )
    assert steps == list(range(1, 501))  # the carried-over curve goes on where the ranks stopped, no gap
    assert f"training steps {job.current_step}→500 (resumed from a checkpoint)" in resumed.log
    assert Adapter.objects.filter(source_job=resumed).exists()


def test_a_rank_that_dies_fails_the_job_with_its_reason(tiny_base_models, sft_dataset, ddp_worker, settings):
    job = submit_sft(tiny_base_models["tiny-llama"], sft_dataset, LONG, "ddp_rank_death")
    pids = _training_ranks(job, ddp_worker)
    # The dashboard's worker table shows who runs it and what that worker serves.
    (row,) = [
        w for w in training_workers(redis.Redis.from_url(settings.REDIS_URL)) if w["name"] == "ddp-worker"
    ]
    assert row["job_id"] == job.pk and row["serves"].startswith("up to 2 GPUs, jobs ≤ 24 GiB per GPU")
    assert row["host"] == "ddp-host"  # the announced host, as on the job
    os.kill(pids[1], signal.SIGKILL)
    job = _final(job, ddp_worker)
    assert job.status == "failed"
    assert job.status_reason.startswith("Rank 1 of 2 died: killed by SIGKILL (exit code -9)"), (
        job.status_reason
    )
    assert "the other ranks were stopped" in job.status_reason
    assert job.peak_memory_bytes is None  # the ranks never reported one; the horse's own RSS would mislead
    wait_for(
        lambda: process_is_dead(pids[0]) and process_is_dead(_launcher_pid(job)), "rank 0 to be stopped", 30
    )
    # The launcher's log is kept for the post-mortem; the job stays resumable from its last checkpoint.
    assert "ChildFailedError" in (checkpoint_dir(job.pk) / DDP_FOLDER / LAUNCHER_LOG).read_text()
    assert job.last_checkpoint and "checkpoint-" in job.last_checkpoint
    # The worker survives and takes the next job.
    assert ddp_worker.poll() is None


def test_hard_stop_of_the_work_horse_takes_every_rank_along(tiny_base_models, sft_dataset, ddp_worker):
    job = submit_sft(tiny_base_models["tiny-llama"], sft_dataset, LONG, "ddp_hard_stop")
    pids = _training_ranks(job, ddp_worker)
    assert hard_stop(job)  # RQ kills the horse's process group; the ranks live in sessions of their own
    wait_for(
        lambda: all(process_is_dead(p) for p in [*pids.values(), _launcher_pid(job)]), "every rank to die", 30
    )
    job.refresh_from_db()
    assert job.status == "cancelled"
