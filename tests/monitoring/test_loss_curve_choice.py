"""The monitoring loss-curve panel shows the runs that matter (a long completed run beats four failed one-step jobs)
and the user can choose the jobs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from monitoring.queries import loss_curves

pytestmark = pytest.mark.django_db


def _job(base, name, status, steps):
    from training.models import TrainingJob, TrainingMetric

    job = TrainingJob.objects.create(
        adapter_type="retailer", adapter_name=name, base_model=base, training_type="sft",
        dataset_path="datasets/sft/x.jsonl", status=status, current_step=steps, total_steps=steps,
        started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    TrainingMetric.objects.bulk_create(
        TrainingMetric(job=job, step=s, loss=1.0 / s) for s in range(1, steps + 1)
    )
    return job


def test_the_long_completed_run_is_shown_before_recent_failures(tiny_base_models):
    base = tiny_base_models["tiny-llama"]
    long_run = _job(base, "real_run", "completed", 600)
    failures = [_job(base, f"fail{i}", "failed", 1) for i in range(5)]
    shown = [c["job_id"] for c in loss_curves()]
    assert shown[0] == long_run.pk
    assert not set(shown) & {f.pk for f in failures}


def test_the_user_chooses_the_jobs(tiny_base_models, client_logged_in):
    base = tiny_base_models["tiny-llama"]
    a, b = _job(base, "a", "completed", 10), _job(base, "b", "failed", 1)
    assert {c["job_id"] for c in loss_curves(job_ids=[b.pk])} == {b.pk}
    response = client_logged_in.get("/monitoring/charts/", {"loss_jobs": f"{b.pk}, x"})
    assert response.status_code == 200 and f'"job_id": {b.pk}' in response.content.decode()
    assert f'"job_id": {a.pk}' not in response.content.decode()
