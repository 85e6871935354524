"""Training pages: jobs tabs, Start Training form, job detail + live partial, history, adapter registry."""

import pytest
from django.test import Client

from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def test_start_training_form_shows_the_guides_example_as_placeholders(client_logged_in, tiny_llama):
    html = client_logged_in.get("/training/new/").content.decode()
    for placeholder in (
        'placeholder="amazon_schema_v2"',
        'placeholder="0.0002"',
        'placeholder="16"',
        'placeholder="32"',
    ):
        assert placeholder in html
    assert "tiny-llama" in html
    # The guide's example path does not exist on a fresh console: it is not offered as if it did.
    assert "retailer_amazon.jsonl" not in html
    assert "Learning rate" in html and "Warmup ratio" in html and "rankate" not in html


def test_submitting_the_form_queues_a_job_and_errors_show_on_the_fields(
    tiny_llama, user, write_dataset, rows, django_capture_on_commit_callbacks
):
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    path = write_dataset("sft/retailer_amazon.jsonl", rows.messages(12))
    form = {
        "adapter_type": "retailer",
        "adapter_name": "amazon_schema_v2",
        "training_type": "sft",
        "dataset_path": path,
        "epochs": "3",
        "lora_r": "16",
        "lora_alpha": "32",
        "batch_size": "4",
        "learning_rate": "0.0002",
        "assistant_only_loss": "on",
    }
    bad = client.post("/training/new/", {**form, "dataset_path": "../outside.jsonl"})
    assert bad.status_code == 200
    errors = bad.context["form"].errors
    assert "outside" in errors["dataset_path"][0]
    assert not TrainingJob.objects.exists()
    bad_config = (
        client.post("/training/new/", {**form, "lora_r": "0", "learning_rate": "7", "dataset_path": ""})
        .context["form"]
        .errors
    )
    assert "at least 1" in bad_config["lora_r"][0] and "at most 1" in bad_config["learning_rate"][0]
    assert "Choose a dataset" in bad_config["dataset"][0]  # on the library choice, the first way offered
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/training/new/", form)
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/training/jobs/{job.pk}/"
    assert (
        job.config["lora_r"] == 16
        and job.config["assistant_only_loss"] is True
        and job.config["gradient_checkpointing"] is False
    )
    assert job.created_by == user


def test_jobs_page_tabs_and_polling_partial(client_logged_in, finished_job, tiny_llama):
    job, _ = finished_job
    queued = TrainingJob.objects.create(
        adapter_type="task",
        adapter_name="planning_v1",
        base_model=tiny_llama,
        training_type="dpo",
        dataset_path="datasets/x.jsonl",
    )
    page = client_logged_in.get("/training/?tab=queued").content.decode()
    assert "planning_v1" in page and "amazon_schema_v2" not in page and 'id="base-models"' in page
    assert 'Finished <span class="tab-count">1</span>' in page
    partial = client_logged_in.get("/training/jobs/table/?tab=queued", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and f'data-job="{queued.pk}"' in partial.content.decode()
    finished = client_logged_in.get("/training/jobs/table/?tab=finished", HTTP_HX_REQUEST="true")
    assert finished.status_code == 286  # nothing active there: htmx stops polling
    assert f'href="/training/new/?clone={job.pk}"' in finished.content.decode()


def test_job_detail_and_progress_partial(client_logged_in, finished_job, tiny_llama, settings):
    job, adapter = finished_job
    page = client_logged_in.get(f"/training/jobs/{job.pk}/").content.decode()
    assert (
        f'data-metrics-url="/api/training/jobs/{job.pk}/metrics"' in page
        and "device: <code>cpu</code>" in page
    )
    assert 'hx-trigger="every 2s"' not in page  # finished: no polling
    partial = client_logged_in.get(f"/training/jobs/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 286 and adapter.label in partial.content.decode()
    running = TrainingJob.objects.create(
        adapter_type="task",
        adapter_name="live_v1",
        base_model=tiny_llama,
        training_type="sft",
        dataset_path="datasets/x.jsonl",
        status="queued",
    )
    live_page = client_logged_in.get(f"/training/jobs/{running.pk}/").content.decode()
    # live updates (the default): the page subscribes instead of polling, and polls only while the socket is down
    assert 'data-live-topic="training.trainingjob"' in live_page and 'hx-trigger="every 2s"' not in live_page
    settings.RMN_LIVE_UPDATES = False
    assert 'hx-trigger="every 2s"' in client_logged_in.get(f"/training/jobs/{running.pk}/").content.decode()
    assert client_logged_in.get(f"/training/jobs/{running.pk}/progress/").status_code == 200
    assert client_logged_in.get("/training/jobs/999/").status_code == 404


def test_cancel_button_cancels_a_queued_job(client_logged_in, tiny_llama, user):
    job = TrainingJob.objects.create(
        adapter_type="task",
        adapter_name="planning_v1",
        base_model=tiny_llama,
        training_type="sft",
        dataset_path="datasets/x.jsonl",
        created_by=user,
        rq_job_id="training-job-x",
    )
    response = client_logged_in.post(f"/training/jobs/{job.pk}/cancel/", {"next": "/training/?tab=queued"})
    assert response.status_code == 302 and response["Location"] == "/training/?tab=queued"
    elsewhere = client_logged_in.post(f"/training/jobs/{job.pk}/cancel/", {"next": "https://evil.example/"})
    assert elsewhere["Location"] == f"/training/jobs/{job.pk}/"  # only local redirects
    job.refresh_from_db()
    assert job.status == "cancelled"
    again = client_logged_in.post(f"/training/jobs/{job.pk}/resume/", follow=True)
    assert "no checkpoint to resume from" in again.content.decode()


def test_clone_prefills_the_form(client_logged_in, finished_job):
    job, _ = finished_job
    form = client_logged_in.get(f"/training/new/?clone={job.pk}").context["form"]
    assert form.initial["adapter_name"] == "amazon_schema_v2" and form.initial["lora_r"] == 4


def test_history_sorts_and_adapters_filter_and_download(client_logged_in, finished_job, tiny_llama):
    job, adapter = finished_job
    TrainingJob.objects.create(
        adapter_type="task",
        adapter_name="worse_v1",
        base_model=tiny_llama,
        training_type="sft",
        status="failed",
        dataset_path="datasets/x.jsonl",
        final_metrics={"eval_loss": 9.0},
    )
    by_loss = client_logged_in.get("/training/history/?sort=eval_loss").content.decode()
    assert by_loss.index("amazon_schema_v2") < by_loss.index("worse_v1")
    reverse = client_logged_in.get("/training/history/?sort=-eval_loss").content.decode()
    assert reverse.index("worse_v1") < reverse.index("amazon_schema_v2")
    assert client_logged_in.get("/training/history/?sort=bogus").status_code == 200
    assert adapter.label in client_logged_in.get("/training/adapters/?adapter_type=retailer").content.decode()
    assert adapter.label not in client_logged_in.get("/training/adapters/?adapter_type=task").content.decode()
    detail = client_logged_in.get(f"/training/adapters/{adapter.pk}/").content.decode()
    assert "Trained by" in detail and f"job #{job.pk}" in detail and "# amazon_schema_v2 v1" in detail
    download = client_logged_in.get(f"/training/adapters/{adapter.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"


def test_pages_require_login(client):
    assert client.get("/training/").status_code == 302
