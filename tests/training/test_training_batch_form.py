"""The guide's "add multiple jobs" on the Start Training form: one job per line with the form's settings, all or none."""

import pytest
from django.test import Client

from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def test_more_jobs_lines_queue_a_batch_with_the_forms_settings_or_nothing(
    tiny_llama, user, write_dataset, rows, django_capture_on_commit_callbacks
):
    from datasets_app.library.services import register_dataset_file

    client = Client()
    client.force_login(user)
    amazon = write_dataset("amazon.jsonl", rows.prompt_completion(12))
    walmart = write_dataset("walmart.jsonl", rows.prompt_completion(12))
    library = register_dataset_file(
        write_dataset("target.jsonl", rows.prompt_completion(12)), name="target_set"
    )
    form = {
        "adapter_type": "retailer",
        "adapter_name": "amazon_v2",
        "training_type": "sft",
        "dataset_path": amazon,
        "lora_r": "8",
        "learning_rate": "0.001",
        "quality_override": "on",
    }
    page = client.get("/training/new/").content.decode()
    assert 'id="batch-jobs"' in page and "More jobs, one per line" in page

    # One bad line refuses the whole batch: the red banner, the message on the field, no job.
    bad = client.post(
        "/training/new/", {**form, "more_jobs": f"walmart_v2, {walmart}\ntarget_v2, no_such_set"}
    )
    assert bad.status_code == 200 and "form-errors" in bad.content.decode()
    assert "no dataset named 'no_such_set'" in bad.context["form"].errors["more_jobs"][0]
    invalid = client.post(
        "/training/new/", {**form, "more_jobs": f"walmart_v2, {walmart}\nBad Name!, {walmart}"}
    )
    assert "none queued" in invalid.context["form"].errors["more_jobs"][0]
    assert not TrainingJob.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/training/new/", {**form, "more_jobs": f"walmart_v2, {walmart}\n\ntarget_v2, target_set"}
        )
    assert done.status_code == 302 and done["Location"] == "/training/?tab=queued"
    jobs = {j.adapter_name: j for j in TrainingJob.objects.all()}
    assert sorted(jobs) == ["amazon_v2", "target_v2", "walmart_v2"]
    assert jobs["walmart_v2"].dataset_path == walmart and jobs["target_v2"].dataset_id == library.pk
    for job in jobs.values():  # the form's settings reach every job of the batch
        assert job.config["lora_r"] == 8 and job.config["learning_rate"] == 0.001 and job.created_by == user
