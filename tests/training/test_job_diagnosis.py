"""A failed job's page leads with a one-line diagnosis (the exception line, no server paths) above the traceback."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.templatetags.job_tags import diagnosis, has_details

TRACEBACK = """Traceback (most recent call last):
  File "/srv/rmn/.venv/lib/python3.11/site-packages/peft/tuners/tuners_utils.py", line 512, in inject_adapter
    raise ValueError(msg)
ValueError: Target modules {'qq_proj'} not found in the base model. Please check the target modules and try again.
"""


def test_diagnosis_is_the_exception_line():
    assert diagnosis(TRACEBACK) == (
        "ValueError: Target modules {'qq_proj'} not found in the base model. "
        "Please check the target modules and try again."
    )
    assert has_details(TRACEBACK)


def test_diagnosis_drops_server_paths_and_keeps_short_reasons():
    assert (
        diagnosis("Dataset file /var/lib/rmn/data/datasets/sft/a.jsonl is gone")
        == "Dataset file a.jsonl is gone"
    )
    assert diagnosis("worker lost (stale heartbeat)") == "worker lost (stale heartbeat)"
    assert not has_details("worker lost (stale heartbeat)")
    assert diagnosis("") == "" and diagnosis(None) == ""
    assert len(diagnosis("x" * 1000)) == 300


@pytest.mark.django_db
def test_failed_job_page_shows_the_diagnosis_first(client_logged_in, tiny_base_models):
    from training.models import TrainingJob

    job = TrainingJob.objects.create(
        adapter_type="retailer",
        adapter_name="broken",
        base_model=tiny_base_models["tiny-llama"],
        training_type="sft",
        dataset_path="datasets/sft/x.jsonl",
        status="failed",
        status_reason=TRACEBACK,
    )
    html = client_logged_in.get(reverse("training:job_detail", args=[job.pk])).content.decode()
    banner = html.index('class="banner banner-error"')
    assert html.index("ValueError: Target modules", banner) < html.index("Full error", banner)
    assert "/srv/rmn" not in html[banner : html.index("Full error", banner)]
