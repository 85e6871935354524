"""The scale-out parts of the pages and the API: live estimate on the form, routing, waiting reason, estimate vs peak."""

import json

import pytest
import redis
from rq import Queue

from training.models import TrainingJob

pytestmark = pytest.mark.django_db

ESTIMATE = "/training/new/estimate/"


def test_form_estimate_follows_the_fields(client_logged_in, llama_8b, fake_gpu_worker):
    fake_gpu_worker(1, 24, name="gpu-24g")
    base = {"base_model": llama_8b.pk, "training_type": "sft", "num_gpus": 1}
    html = client_logged_in.get(ESTIMATE, {**base, "batch_size": 4, "max_seq_length": 1024}).content.decode()
    assert (
        "56.82 GiB" in html
        and "adapter and optimizer 0.203 GiB" in html
        and "largest GPU worker online: 1 × 24 GiB" in html
        and 'data-ok="false"' in html
    )

    small = {
        **base,
        "quantization": "4bit",
        "batch_size": 1,
        "max_seq_length": 512,
        "gradient_checkpointing": "on",
    }
    html = client_logged_in.get(ESTIMATE, small).content.decode()
    assert (
        "5.53 GiB" in html
        and "An online worker serves training.g1.m8.bnb" in html
        and 'data-ok="true"' in html
    )

    cpu = client_logged_in.get(ESTIMATE, {**small, "num_gpus": 0}).content.decode()
    assert "on CPU" in cpu and "Runs on any training worker" in cpu

    bad = client_logged_in.get(ESTIMATE, {**base, "num_gpus": 9}).content.decode()
    assert "Fix the form" in bad and "num_gpus" in bad


def test_form_and_page_refuse_then_queue_a_gpu_job_with_its_reason(
    client_logged_in, tiny_base_models, sft_dataset, fast, settings, django_capture_on_commit_callbacks
):
    form = {
        "adapter_type": "task",
        "adapter_name": "two_gpu_job",
        "training_type": "sft",
        "base_model": tiny_base_models["tiny-llama"].pk,
        "dataset_path": sft_dataset,
        **fast,
        "num_gpus": 2,
    }
    page = client_logged_in.post("/training/new/", form)
    assert page.status_code == 200 and "No online worker can run this job" in page.content.decode()
    assert not TrainingJob.objects.exists()
    assert 'hx-get="/training/new/estimate/"' in client_logged_in.get("/training/new/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        page = client_logged_in.post("/training/new/", {**form, "allow_waiting": "on"})
    job = TrainingJob.objects.get()
    assert page.status_code == 302 and job.queue_name == "training.g2.m8"
    html = client_logged_in.get(f"/training/jobs/{job.pk}/").content.decode()
    assert "waiting: no worker with 2 GPUs with ≥ 8 GiB each online" in html
    assert "training.g2.m8" in html and f"{job.memory_estimate['total']:.2f} GiB" in html
    assert "2 DDP ranks, global batch 4" in html  # batch 2 per rank × 2 ranks

    # The monitoring dashboard shows the capability queue it waits in, and the queue alert names it.
    cards = client_logged_in.get("/monitoring/cards/").content.decode()
    assert 'data-card="queue-training.g2.m8"' in cards and "training.g2.m8 queue" in cards
    from monitoring.alerts import evaluate_alerts

    opened = {(a.rule, a.key, a.severity) for a in evaluate_alerts().opened}
    assert ("queue_no_worker", "queue:training.g2.m8", "critical") in opened
    Queue(job.queue_name, connection=redis.Redis.from_url(settings.REDIS_URL)).empty()
    assert (
        'data-card="queue-training.g2.m8"' not in client_logged_in.get("/monitoring/cards/").content.decode()
    )


def test_api_routes_and_reports(client, api_headers, tiny_base_models, sft_dataset, fast, settings):
    body = {
        "adapter_type": "task",
        "adapter_name": "api_gpu",
        "base_model": "tiny-llama",
        "dataset_path": sft_dataset,
        "config": {**fast, "num_gpus": 2},
    }
    refused = client.post(
        "/api/training/jobs", json.dumps(body), content_type="application/json", **api_headers
    )
    assert refused.status_code == 400 and "largest GPU worker online: none" in refused.json()["detail"]

    made = client.post(
        "/api/training/jobs",
        json.dumps({**body, "allow_waiting": True}),
        content_type="application/json",
        **api_headers,
    )
    assert made.status_code == 201, made.content
    got = client.get(f"/api/training/jobs/{made.json()['id']}", **api_headers).json()
    assert got["queue_name"] == "training.g2.m8" and got["peak_memory_bytes"] is None
    assert got["waiting_reason"].startswith("waiting: no worker with 2 GPUs")
    assert got["memory_estimate"]["total"] > 0.75  # includes the CUDA context of a GPU job


def test_finished_job_shows_estimate_next_to_measured_peak(client_logged_in, tiny_base_models):
    job = TrainingJob.objects.create(
        adapter_type="task",
        adapter_name="done",
        base_model=tiny_base_models["tiny-llama"],
        training_type="sft",
        status="completed",
        device="cpu",
        memory_estimate={"total": 0.012, "weights": 0.001},
        peak_memory_bytes=512 * 1024**2,
    )
    html = client_logged_in.get(f"/training/jobs/{job.pk}/").content.decode()
    assert "memory estimate 0.01 GiB" in html and "measured peak 0.50 GiB" in html and "peak RSS" in html
    assert "waiting:" not in html


def test_dashboard_lists_training_workers_with_what_they_serve(client_logged_in, fake_gpu_worker):
    empty = client_logged_in.get("/monitoring/cards/").content.decode()
    assert "No training worker is online" in empty
    fake_gpu_worker(2, 24, name="gpu-b")
    fake_gpu_worker(1, 80, name="gpu-h100-no-bnb", bitsandbytes=False)
    cards = client_logged_in.get("/monitoring/cards/").content.decode()
    table = cards[cards.index('data-testid="training-workers"') :]
    assert (
        "<code>gpu-b</code>" in table
        and "up to 2 GPUs, jobs ≤ 24 GiB per GPU, 4/8-bit (bitsandbytes)" in table
    )
    assert "<code>gpu-h100-no-bnb</code>" in table and "up to 1 GPU, jobs ≤ 80 GiB per GPU</td>" in table
    assert "<td>idle</td>" in table
