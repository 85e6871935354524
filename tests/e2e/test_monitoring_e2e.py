"""The monitoring dashboard in real Chromium: Chart.js draws every chart from seeded data, the range picker
redraws over HTMX without a reload, and an alert banner is acknowledged in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAMPLES = 60  # one tick every 10 s over the last 10 minutes
LOSS_STEPS = 30

POINTS_JS = """() => {
  const out = {};
  for (const [id, chart] of Object.entries(window.rmnMonitoring.charts)) {
    out[id] = {labels: (chart.data.labels || []).length,
               points: chart.data.datasets.map((d, i) => chart.getDatasetMeta(i).data.length)};
  }
  return out;
}"""


def seed():
    from federation.models import Federation, InferenceRun
    from monitoring import services
    from monitoring.engine.sampler import GpuReading, HostReading, Snapshot
    from monitoring.models import Alert
    from training.models import Adapter, FoundationModel, TrainingJob, TrainingMetric

    now = timezone.now()
    for i in range(SAMPLES):
        at = now - timedelta(seconds=10 * (SAMPLES - i))
        gpus = [
            GpuReading(
                index=g,
                name="NVIDIA H100",
                utilization=30.0 + g * 20 + i % 7,
                memory_used_mb=20_000.0 + 100 * i,
                memory_total_mb=81_559.0,
                temperature_c=50.0 + g,
                power_w=200.0,
            )
            for g in range(2)
        ]
        services.record_snapshot(
            "e2e-gpu-host", Snapshot(at=at, host=HostReading(25.0, 30_000.0, 64_000.0), gpus=gpus)
        )
    services.rollup_and_prune(now=now)

    base = FoundationModel.objects.create(name="e2e-tiny", source="local", family="llama", is_available=True)
    job = TrainingJob.objects.create(
        base_model=base,
        adapter_type="task",
        adapter_name="e2e-curve",
        training_type="sft",
        status="running",
        heartbeat_at=now,
        started_at=now,
        current_step=LOSS_STEPS,
        total_steps=100,
        tokens_per_second=4321.0,
    )
    TrainingMetric.objects.bulk_create(
        [TrainingMetric(job=job, step=s + 1, loss=2.5 * 0.95**s) for s in range(LOSS_STEPS)]
    )
    Adapter.objects.create(
        adapter_type="task",
        name="e2e-adapter",
        version=1,
        base_model=base,
        rank=8,
        alpha=16,
        path="adapters/e2e",
        metrics={"eval_loss": 0.9, "token_accuracy": 0.64},
    )
    fed = Federation.objects.create(name="e2e-fed", base_model=base, method="additive")
    InferenceRun.objects.bulk_create(
        [
            InferenceRun(
                federation=fed,
                prompt="p",
                status="completed",
                latency_ms=ms,
                adapters_used=[{"adapter": "e2e-adapter v1"}],
            )
            for ms in (120.0, 180.0)
        ]
    )
    return Alert.objects.create(
        rule="memory", key="e2e-gpu-host/gpu1", severity="warning", message="e2e GPU 1 memory 93% used"
    )


def test_dashboard_draws_charts_and_updates_in_place(logged_in_page, live_server, screenshot, settings):
    from monitoring import services
    from monitoring.engine.sampler import GpuReading, HostReading, Snapshot
    from monitoring.models import Alert

    settings.RMN_SAMPLE_INTERVAL_SECONDS = 1  # cards poll every 2 s, charts every 4 s
    alert = seed()
    page = logged_in_page
    page.goto(f"{live_server.url}/monitoring/")
    page.wait_for_function(
        "() => window.rmnMonitoring && Object.keys(window.rmnMonitoring.charts).length === 9"
    )
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("Chart.version").startswith("4.")

    drawn = page.evaluate(POINTS_JS)
    gpu = drawn["chart-gpu-util"]
    assert (
        gpu["points"] == [gpu["labels"], gpu["labels"]] and gpu["labels"] >= 40
    )  # two GPUs, 15 s buckets over 10 min
    assert drawn["chart-gpu-memory"]["points"] == gpu["points"]
    assert drawn["chart-host"]["points"] == [drawn["chart-host"]["labels"]] * 2  # CPU and RAM lines
    assert drawn["chart-loss"]["points"] == [LOSS_STEPS]
    assert drawn["chart-adapter-quality"]["points"] == [1, 1]
    assert drawn["chart-adapter-latency"]["points"] == [1]
    latency = page.evaluate("window.rmnMonitoring.charts['chart-adapter-latency'].data.datasets[0].data[0]")
    assert latency == 150.0  # median of the adapter's two test runs
    assert "4,321 tok/s" in page.inner_text("[data-card=throughput]")

    # Live: a host that starts reporting shows up in the open page on the next HTMX poll, without a reload.
    page.evaluate("window.__sameDocument = true")
    late = Snapshot(
        at=timezone.now(),
        host=HostReading(10.0, 1e3, 2e3),
        gpus=[GpuReading(index=0, name="NVIDIA L4", utilization=12.0)],
    )
    services.record_snapshot("e2e-late-host", late)
    page.wait_for_function("() => window.rmnMonitoring.charts['chart-gpu-util'].data.datasets.length === 3")
    page.wait_for_function("() => document.querySelector('#mon-cards').innerText.includes('e2e-late-host')")

    # The range selector swaps the chart data over HTMX and redraws the same Chart objects: no page load.
    with page.expect_response(lambda r: "/monitoring/charts/" in r.url and "range=24h" in r.url):
        page.click("label.mon-range-option:has-text('24h')")
    page.wait_for_function("() => window.rmnMonitoring.charts['chart-gpu-util'].data.labels.length < 10")
    assert page.evaluate("window.__sameDocument") is True
    assert "range=24h" in page.url
    day = page.evaluate(POINTS_JS)["chart-gpu-util"]
    assert day["labels"] >= 1 and day["points"] == [
        day["labels"],
        day["labels"],
    ]  # 6-minute buckets of minute rows

    # The host picker narrows the series to one GPU.
    with page.expect_response(lambda r: "/monitoring/charts/" in r.url and "gpu=1" in r.url):
        page.select_option("#mon-gpu", "1")
    page.wait_for_function("() => window.rmnMonitoring.charts['chart-gpu-util'].data.datasets.length === 1")
    assert (
        page.evaluate(POINTS_JS)["chart-host"]["points"][0] >= 1
    )  # CPU/RAM stay on screen while one GPU is picked

    # Acknowledge the banner: it disappears without a reload and the alert is recorded as acknowledged.
    banner = page.locator(f"#alert-banner-{alert.pk}")
    assert "e2e GPU 1 memory 93% used" in banner.inner_text()
    screenshot(page, "monitoring-alert-banner")
    banner.locator("button").click()
    banner.wait_for(state="detached")
    assert page.evaluate("window.__sameDocument") is True
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by.username == "e2e"
    assert Alert.objects.get(pk=alert.pk).resolved_at is None
    screenshot(page, "monitoring-dashboard")
