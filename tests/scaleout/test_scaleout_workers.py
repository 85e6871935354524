"""Two real worker processes announcing different capabilities act as two hosts: jobs land where they can run."""

import subprocess
import sys

import pytest
import redis

from tests.conftest import REPO, worker_env
from tests.scaleout.conftest import submit_sft
from training.models import TrainingJob
from training.scaleout import job_waiting_reason

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GPU_HOST = '{"host": "gpu-host", "gpu_count": 2, "gpu_memory_gib": 24, "cuda": true}'
CPU_HOST = '{"host": "cpu-host", "gpu_count": 0}'


def _burst(settings, capabilities: str, name: str) -> subprocess.CompletedProcess:
    args = [sys.executable, str(REPO / "manage.py"), "training_worker", "--burst", "--name", name]
    result = subprocess.run(
        [*args, "--capabilities", capabilities],
        env=worker_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_jobs_land_on_the_worker_that_can_run_them(settings, tiny_base_models, sft_dataset, fast):
    model = tiny_base_models["tiny-llama"]
    cpu_job = submit_sft(model, sft_dataset, fast, "cpu_first")
    gpu_job = submit_sft(model, sft_dataset, {**fast, "num_gpus": 2}, "two_gpus", allow_waiting=True)
    nobody = submit_sft(model, sft_dataset, {**fast, "num_gpus": 4}, "four_gpus", allow_waiting=True)
    assert (gpu_job.queue_name, nobody.queue_name) == ("training.g2.m8", "training.g4.m8")

    # The CPU host serves only `training`: it takes the CPU job and leaves both GPU jobs queued.
    out = _burst(settings, CPU_HOST, "cpu-worker").stdout
    assert "serving: training default" in out
    for job in (cpu_job, gpu_job, nobody):
        job.refresh_from_db()
    assert cpu_job.status == "completed", cpu_job.status_reason + cpu_job.log[-2000:]
    assert cpu_job.worker_host.startswith("cpu-host:")
    # The measured peak (the horse's peak RSS on CPU) is stored next to the estimate.
    assert cpu_job.peak_memory_bytes > 50 * 1024**2 and cpu_job.memory_estimate["total"] > 0
    assert gpu_job.status == nobody.status == "queued"

    # A second CPU job may land on the GPU host, which also serves `training`; it takes its GPU job too.
    anywhere = submit_sft(model, sft_dataset, fast, "cpu_second")
    _burst(settings, GPU_HOST, "gpu-worker")
    for job in (gpu_job, anywhere, nobody):
        job.refresh_from_db()
    assert gpu_job.status == "completed", gpu_job.status_reason + gpu_job.log[-2000:]
    assert gpu_job.worker_host.startswith("gpu-host:") and "claimed by gpu-host:" in gpu_job.log
    assert anywhere.status == "completed" and anywhere.worker_host.startswith("gpu-host:")

    # Nobody offers 4 GPUs: the job waits and says why.
    assert nobody.status == "queued"
    conn = redis.Redis.from_url(settings.REDIS_URL)
    assert job_waiting_reason(nobody, conn) == "waiting: no worker with 4 GPUs with ≥ 8 GiB each online"
    assert TrainingJob.objects.get(pk=nobody.pk).status == "queued"
