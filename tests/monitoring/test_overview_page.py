"""The overview a new user lands on: running jobs, recent adapters, federations and open alerts, each linked."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_empty_console_overview_points_to_the_first_steps(client_logged_in):
    page = client_logged_in.get("/").content.decode()
    for section in ("overview-jobs", "overview-adapters", "overview-federations", "overview-alerts"):
        assert f'id="{section}"' in page
    assert "Nothing is training" in page and "/training/new/" in page
    assert "No adapters yet" in page and "No federations yet" in page and "No open alerts" in page


def test_overview_lists_running_jobs_adapters_federations_and_open_alerts(client_logged_in):
    from federation.models import Federation
    from monitoring.models import Alert
    from training.models import Adapter, FoundationModel, TrainingJob

    base = FoundationModel.objects.create(name="tiny-ov", source="models/tiny", family="llama")
    running = TrainingJob.objects.create(
        adapter_type="retailer", adapter_name="alpha_run", base_model=base, training_type="sft", status="running",
        current_step=7, total_steps=40,
    )  # fmt: skip
    TrainingJob.objects.create(
        adapter_type="retailer",
        adapter_name="old_done",
        base_model=base,
        training_type="sft",
        status="completed",
    )
    adapter = Adapter.objects.create(
        adapter_type="retailer",
        name="alpha_demo",
        version=1,
        base_model=base,
        rank=16,
        alpha=32,
        path="adapters/a",
    )
    federation = Federation.objects.create(name="fed_ov", base_model=base, method="additive")
    Alert.objects.create(rule="memory", key="h/gpu0", message="GPU 0 memory 97%")
    Alert.objects.create(
        rule="memory", key="h/gpu1", message="GPU 1 memory fine now", resolved_at="2026-01-01T00:00Z"
    )

    page = client_logged_in.get("/").content.decode()
    jobs = page.split('id="overview-jobs"')[1].split("</section>")[0]
    assert f"/training/jobs/{running.pk}/" in jobs and "7 / 40" in jobs and "old_done" not in jobs
    assert f"/training/adapters/{adapter.pk}/" in page and "alpha_demo v1" in page
    assert f"/federation/{federation.pk}/" in page and "fed_ov" in page
    alerts = page.split('id="overview-alerts"')[1].split("</section>")[0]
    assert "GPU 0 memory 97%" in alerts and "fine now" not in alerts  # resolved alerts are not open
    summary = page.split('id="overview-summary"')[1].split("</section>")[0]
    assert summary.count('class="metric-value">1</div>') == 4, summary  # one of each


def test_failed_mapping_build_shows_the_red_banner_and_the_field_message(client_logged_in, data_root):
    from datasets_app.mappings import demo
    from datasets_app.models import Dataset, SchemaMapping

    demo.seed_demo(rows=200)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    before = Dataset.objects.count()
    response = client_logged_in.post(
        f"/datasets/mappings/{alpha.pk}/build-dataset/", {"examples": "0", "seed": "0", "kind": "sft"}
    )
    page = response.content.decode()
    assert response.status_code == 400 and "form-errors" in page and "The dataset was not built" in page
    assert "errorlist" in page.split('id="build-form"')[1]  # the message also sits on its field
    assert Dataset.objects.count() == before


def test_dataset_path_errors_name_no_server_folder(data_root, settings):
    from datasets_app.library.services import resolve_dataset_path
    from rmnconsole.core.errors import ServiceError

    for typed in ("../../etc/passwd", "/etc/hostname", "datasets/../../x.jsonl"):
        with pytest.raises(ServiceError) as refused:
            resolve_dataset_path(typed)
        message = refused.value.message
        assert "outside the data root's datasets/ folder" in message, message
        assert str(data_root) not in message and "/tmp" not in message
        assert not typed.startswith("/") or typed not in message  # a typed absolute path: its name only
