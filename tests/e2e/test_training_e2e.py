"""In real Chromium: start a training job with the Start Training form and watch its loss curve grow live."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _write_dataset(root: Path) -> str:
    path = root / "datasets" / "sft" / "retailer_amazon.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = {"sp": "sponsored_product", "sd": "sponsored_display", "onsite_disp": "onsite_display"}
    lines = []
    for i in range(60):
        code = list(codes)[i % 3]
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": f"Map amazon campaign C{1000 + i} adType={code} cost_micros={i * 70_001} to RMIS.",
                        },
                        {
                            "role": "assistant",
                            "content": f"placement_type: {codes[code]}, campaign_id: C{1000 + i}",
                        },
                    ]
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return "datasets/sft/retailer_amazon.jsonl"


@pytest.mark.timeout(1200)
def test_start_training_and_watch_the_loss_curve_grow(
    logged_in_page, live_server, rq_worker, tiny_base_models, data_root, screenshot
):
    from training.models import Adapter, TrainingJob

    dataset = _write_dataset(data_root)
    worker = rq_worker.start("training")
    page = logged_in_page
    page.goto(f"{live_server.url}/training/")
    page.click("a:has-text('Start Training')")
    assert page.get_attribute("#id_adapter_name", "placeholder") == "amazon_schema_v2"
    page.fill("#id_adapter_name", "amazon_schema_v2")
    page.select_option("#id_base_model", label="tiny-llama")
    page.fill("#id_dataset_path", dataset)
    page.fill("#id_lora_r", "8")
    page.fill("#id_lora_alpha", "16")
    page.fill("#id_batch_size", "8")
    page.click("summary:has-text('Advanced hyperparameters')")
    page.fill("#id_max_steps", "300")  # long enough that the chart updates several times, even on a fast run
    page.fill("#id_eval_steps", "100")
    page.fill("#id_checkpoint_steps", "150")
    page.click("button:has-text('Start Training')")
    page.wait_for_url(f"{live_server.url}/training/jobs/*/")
    job = TrainingJob.objects.get(adapter_name="amazon_schema_v2")

    # Sample the chart while the job runs: the number of drawn points must grow, then stop at the last step.
    seen: list[int] = []
    deadline = time.monotonic() + 900  # 300 steps share 2 cores with the other test workers in CI
    while time.monotonic() < deadline:
        state = page.evaluate(
            "() => { const c = document.getElementById('loss-chart'); const chart = Chart.getChart(c);"
            " return {points: chart ? chart.getDatasetMeta(0).data.length : -1, done: c.dataset.done === 'true'}; }"
        )
        if state["points"] > 0 and (not seen or seen[-1] != state["points"]):
            seen.append(state["points"])
        if state["done"]:
            break
        if worker.poll() is not None:
            pytest.fail(f"worker died: {Path(worker.log_path).read_text()[-3000:]}")
        time.sleep(0.25)
    job.refresh_from_db()
    assert job.status == "completed", f"{job.status}: {job.status_reason}\n{job.log[-2000:]}"
    assert seen and seen[-1] == 300, seen
    assert len(seen) >= 2 and 0 < seen[0] < 300, f"the curve never grew while the page watched: {seen}"
    assert seen == sorted(seen)
    eval_points = page.evaluate(
        "() => Chart.getChart(document.getElementById('loss-chart')).getDatasetMeta(1).data.length"
    )
    assert eval_points == 3  # steps 100, 200, 300
    # The progress partial stopped polling (HTTP 286) and shows the result and the device.
    page.wait_for_selector("#job-progress .badge-completed, #job-progress [data-status=completed]")
    assert "device: cpu" in page.inner_text("#job-progress")
    adapter = Adapter.objects.get(source_job=job)
    assert page.inner_text("[data-testid=adapter-link]") == adapter.label
    page.click("summary:has-text('Logs')")
    assert "claimed by" in page.inner_text("#job-log")
    screenshot(page, "training-job-loss-curve")
