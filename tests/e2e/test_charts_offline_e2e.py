"""Charts offline: with the Chart.js CDN blocked the page falls back to the server's vendored copy and still draws;
with both blocked, the chart box says why instead of staying blank."""

from __future__ import annotations

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

CDN = "https://cdn.jsdelivr.net/npm/chart.js@4.6.1/dist/chart.umd.min.js"


@pytest.fixture
def finished_job(tiny_base_models):
    from training.models import TrainingJob, TrainingMetric

    job = TrainingJob.objects.create(
        adapter_type="retailer",
        adapter_name="offline_curve",
        base_model=tiny_base_models["tiny-llama"],
        training_type="sft",
        dataset_path="datasets/sft/x.jsonl",
        status="completed",
        current_step=20,
        total_steps=20,
        progress_pct=100.0,
        finished_at=timezone.now(),
    )
    TrainingMetric.objects.bulk_create(
        TrainingMetric(job=job, step=step, loss=2.0 - step * 0.05) for step in range(1, 21)
    )
    return job


@pytest.fixture
def cdn_page(logged_in_page, settings):
    # The shared fixture points CHARTJS_URL at the local copy; these tests need the CDN as the first choice.
    settings.CHARTJS_URL = CDN
    settings.CHARTJS_INTEGRITY = ""
    cdn_requests: list[str] = []
    logged_in_page.route(
        "https://cdn.jsdelivr.net/**", lambda route: (cdn_requests.append(route.request.url), route.abort())
    )
    logged_in_page.cdn_requests = cdn_requests
    return logged_in_page


def test_blocked_cdn_falls_back_to_the_local_copy(cdn_page, live_server, finished_job):
    page = cdn_page
    page.goto(f"{live_server.url}/training/jobs/{finished_job.pk}/")
    page.wait_for_function(
        "() => { const c = Chart.getChart(document.getElementById('loss-chart'));"
        " return c && c.getDatasetMeta(0).data.length > 0; }"
    )
    assert page.cdn_requests == [CDN]  # the CDN was tried first and refused
    points = page.evaluate(
        "() => Chart.getChart(document.getElementById('loss-chart')).getDatasetMeta(0).data.length"
    )
    assert points == 20
    assert page.locator(".chart-unavailable").count() == 0


def test_no_chartjs_at_all_says_why_on_the_chart(cdn_page, live_server, finished_job):
    page = cdn_page
    page.route("**/static/vendor/chartjs/**", lambda route: route.abort())
    page.goto(f"{live_server.url}/training/jobs/{finished_job.pk}/")
    note = page.locator(".chart-box .chart-unavailable")
    note.wait_for()
    assert "Chart.js could not be loaded" in note.inner_text()
    assert note.is_visible()
