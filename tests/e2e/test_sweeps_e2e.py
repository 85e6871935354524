"""The sweep page in Chromium: its charts (history, importance, parallel coordinates) draw every settled trial."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def settled_sweep(tiny_base_models, data_root):
    """A 3-trial sweep whose trial jobs ended with known eval losses (rows written the way a worker ends them)."""
    from tests.training.conftest import messages_rows
    from training.models import TrainingJob
    from training.sweeps import services

    path = data_root / "datasets" / "sweep.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in messages_rows(30)))
    sweep = services.start_sweep(
        {
            "adapter_type": "task",
            "adapter_name": "charted",
            "base_model": "tiny-llama",
            "dataset_path": "datasets/sweep.jsonl",
            "fixed": {"max_steps": 4, "eval_steps": 2},
            "search_space": {
                "learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-2},
                "lora_r": {"type": "choice", "choices": [4, 8, 16]},
            },
            "sampler": "random",
            "seed": 1,
            "max_trials": 3,
            "max_parallel": 3,
        }
    )
    for job, loss in zip(
        TrainingJob.objects.filter(sweep=sweep).order_by("sweep_trial"), (1.9, 1.4, 1.6), strict=True
    ):
        TrainingJob.objects.filter(pk=job.pk).update(
            status="completed", final_metrics={"eval_loss": loss}, finished_at=timezone.now()
        )
    services.advance_sweep(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == "completed" and sweep.best_trial == 1
    return sweep


def test_the_sweep_page_draws_history_importance_and_parallel_coordinates(
    logged_in_page, live_server, settled_sweep
):
    page = logged_in_page
    page.goto(f"{live_server.url}/training/sweeps/{settled_sweep.pk}/")
    page.wait_for_function(
        "() => { const c = Chart.getChart(document.getElementById('sweep-history'));"
        " return c && c.getDatasetMeta(0).data.length === 3; }"
    )
    drawn = page.evaluate(
        """() => ({
            history: Chart.getChart(document.getElementById('sweep-history')).getDatasetMeta(0).data.length,
            best: Chart.getChart(document.getElementById('sweep-history')).data.datasets[1].data.map(p => p.y),
            importance: Chart.getChart(document.getElementById('sweep-importance')).data.labels.slice().sort(),
            lines: Chart.getChart(document.getElementById('sweep-parallel')).data.datasets.length,
        })"""
    )
    assert drawn == {
        "history": 3,
        "best": [1.9, 1.4, 1.4],
        "importance": ["learning_rate", "lora_r"],
        "lines": 3,
    }
    assert page.locator("#sweep-trials tbody tr").count() == 3
    assert "Best: trial 1" in page.locator(".sweep-progress .banner").inner_text()
