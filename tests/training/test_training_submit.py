"""Submitting jobs: every bad input is refused with a clear message; good ones are queued on commit."""

import pytest

from rmnconsole.core.errors import Conflict, ServiceError
from training import services
from training.models import FoundationModel, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(write_dataset, rows):
    return write_dataset("sft/retailer_amazon.jsonl", rows.messages(10))


def _submit(**overrides):
    fields = {
        "adapter_type": "retailer",
        "adapter_name": "amazon_schema_v2",
        "dataset_path": "datasets/sft/retailer_amazon.jsonl",
    }
    return services.submit_training_job(**{**fields, **overrides})


def test_a_valid_job_is_saved_and_enqueued_on_commit(
    tiny_llama, dataset, user, django_capture_on_commit_callbacks
):
    from rmnconsole.core.queues import TRAINING, get_queue

    with django_capture_on_commit_callbacks(execute=True):
        job = _submit(
            user=user, config={"lora_r": 16, "lora_alpha": 32, "batch_size": 4, "learning_rate": 0.0002}
        )
        assert get_queue(TRAINING).count == 0  # nothing in Redis before the commit
    job.refresh_from_db()
    assert job.status == "queued" and job.base_model == tiny_llama and job.created_by == user
    assert job.config["lora_r"] == 16 and job.config["epochs"] == 3 and job.config["validation_split"] == 0.1
    assert len(job.dataset_sha256) == 64 and job.dataset_path == dataset
    assert get_queue(TRAINING).job_ids == [f"training-job-{job.pk}"] == [job.rq_job_id]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"dataset_path": "../../etc/passwd"}, "dataset_path", "outside"),
        ({"dataset_path": "/etc/hostname"}, "dataset_path", "outside"),
        ({"dataset_path": "datasets/missing.jsonl"}, "dataset_path", "does not exist"),
        ({"dataset_path": None}, "dataset_path", "Choose a dataset"),
        ({"adapter_name": "amazon schema!"}, "adapter_name", "slug"),
        ({"adapter_type": "brand"}, "adapter_type", "retailer, task, domain"),
        ({"training_type": "ppo"}, "training_type", "sft, dpo, qlora"),
        ({"base_model": "gpt-9"}, "base_model", "Unknown base model"),
        ({"config": {"lora_r": 0}}, "lora_r", "at least 1"),
        ({"config": {"batch_sise": 4}}, "batch_sise", "did you mean 'batch_size'"),
        ({"training_type": "dpo"}, "dataset_path", "messages does not fit DPO"),
    ],
)
def test_bad_requests_are_refused_with_the_field(tiny_llama, dataset, overrides, field, words):
    with pytest.raises(ServiceError) as info:
        _submit(**overrides)
    assert info.value.field == field and words in info.value.message
    assert not TrainingJob.objects.exists()


def test_an_unavailable_base_model_is_refused(tiny_llama, dataset):
    FoundationModel.objects.create(
        name="meta-llama/Llama-3.1-8B-Instruct",
        family="llama",
        source="meta-llama/Llama-3.1-8B-Instruct",
        availability_note="not in the cache",
    )
    with pytest.raises(ServiceError, match="not available on this host: not in the cache"):
        _submit(base_model="meta-llama/Llama-3.1-8B-Instruct")


def test_cancelling_a_queued_job_removes_it_from_the_queue(
    tiny_llama, dataset, user, django_capture_on_commit_callbacks
):
    from rmnconsole.core.queues import TRAINING, get_queue

    with django_capture_on_commit_callbacks(execute=True):
        job = _submit(user=user)
    assert get_queue(TRAINING).count == 1
    services.cancel_training_job(job.pk, user)
    job.refresh_from_db()
    assert (
        job.status == "cancelled" and job.finished_at and job.status_reason == "Cancelled before it started"
    )
    assert get_queue(TRAINING).count == 0
    with pytest.raises(Conflict, match="already cancelled"):
        services.cancel_training_job(job.pk, user)
    with pytest.raises(Conflict, match="no checkpoint"):
        services.resume_training_job(job.pk, user)


def test_only_staff_or_the_creator_may_cancel(tiny_llama, dataset, user, django_user_model):
    from rmnconsole.core.errors import Forbidden

    job = _submit(user=user)
    outsider = django_user_model.objects.create_user("outsider", password="x-pass-12345")
    with pytest.raises(Forbidden):
        services.cancel_training_job(job.pk, outsider)
    assert TrainingJob.objects.get(pk=job.pk).status == "queued"


def test_the_guides_python_snippet_works(tiny_llama, write_dataset, rows, django_capture_on_commit_callbacks):
    from training.facade import get_job_status, normalize_job_spec, submit_training_job

    write_dataset("amazon_v3.jsonl", rows.prompt_completion(8))
    with django_capture_on_commit_callbacks(execute=True):
        job_id = submit_training_job(
            adapter_type="retailer",
            adapter_name="amazon_v3",
            dataset_path="datasets/amazon_v3.jsonl",
            config={"lora_r": 16, "lora_alpha": 32, "batch_size": 4, "learning_rate": 0.0002},
        )
    assert isinstance(job_id, int) and get_job_status(job_id) == "queued"
    assert normalize_job_spec({"name": "walmart_v2", "dataset": "datasets/walmart.jsonl", "epochs": 1}) == {
        "adapter_type": "retailer",
        "adapter_name": "walmart_v2",
        "dataset_path": "datasets/walmart.jsonl",
        "config": {"epochs": 1},
    }


def test_sweep_fails_running_jobs_with_a_stale_heartbeat(tiny_llama, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.RMN_HEARTBEAT_STALE_SECONDS = 30
    old = timezone.now() - timedelta(seconds=120)
    fields = {
        "adapter_type": "task",
        "adapter_name": "x",
        "base_model": tiny_llama,
        "training_type": "sft",
        "dataset_path": "d.jsonl",
    }
    stale = TrainingJob.objects.create(
        status="running", heartbeat_at=old, worker_host="gpu-host-7:4242", **fields
    )
    fresh = TrainingJob.objects.create(
        status="running", heartbeat_at=timezone.now(), worker_host="gpu-host-7:4243", **fields
    )
    assert services.sweep_training_jobs() == {"dead": 1, "hard_stopped": 0}
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (
        stale.status == "failed"
        and "stopped responding" in stale.status_reason
        and "gpu-host-7:4242" in stale.status_reason
    )
    assert fresh.status == "running"
    assert services.get_job_status(stale.pk) == "failed"


def test_sweep_hard_stops_a_cancel_past_its_grace_period(tiny_llama, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.RMN_TRAINING_CANCEL_GRACE_SECONDS = 5
    now = timezone.now()
    fields = {
        "adapter_type": "task",
        "adapter_name": "x",
        "base_model": tiny_llama,
        "training_type": "sft",
        "dataset_path": "d.jsonl",
    }
    overdue = TrainingJob.objects.create(
        status="running",
        heartbeat_at=now,
        cancel_requested=True,
        cancel_requested_at=now - timedelta(seconds=30),
        rq_job_id="training-job-gone",
        **fields,
    )
    patient = TrainingJob.objects.create(
        status="running", heartbeat_at=now, cancel_requested=True, cancel_requested_at=now, **fields
    )
    assert services.sweep_training_jobs() == {"dead": 0, "hard_stopped": 1}
    overdue.refresh_from_db()
    patient.refresh_from_db()
    assert overdue.status == "cancelled" and "did not stop within 5s" in overdue.status_reason
    assert patient.status == "running"

    # No page or API read sweeps: the recovery loop (recover_jobs, every RMN_RECONCILE_SECONDS) does it.
    from rmnconsole.core.recovery import recover_all

    unwatched = TrainingJob.objects.create(
        status="running",
        heartbeat_at=now,
        cancel_requested=True,
        cancel_requested_at=now - timedelta(seconds=30),
        rq_job_id="training-job-unwatched",
        **fields,
    )
    assert recover_all()["training job"]["hard_stopped"] == 1
    unwatched.refresh_from_db()
    assert unwatched.status == "cancelled" and TrainingJob.objects.get(pk=patient.pk).status == "running"
