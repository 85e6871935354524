"""The federated job page in Chromium: rounds arrive while it is open (rows written the way the horse writes them
from the ServerApp's report) and the table and the per-silo loss chart follow without a reload."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_job(tiny_base_models):
    from training.federated import services
    from training.federated.models import FederatedTrainingJob, Silo

    for i, name in enumerate(("alpha", "beta")):
        Silo.objects.create(
            name=name, retailer=f"retailer_{name}", supernode_host="10.0.0.1",
            node_config={"dataset-path": "/d.jsonl"}, public_key="k", node_id=str(100 + i),
        )  # fmt: skip
    job = services.submit_federated_job(
        adapter_name="fed_page", base_model="tiny-llama", silos=["alpha", "beta"], num_rounds=2, min_silos=1,
        server_learning_rate=2.0,
    )  # fmt: skip
    FederatedTrainingJob.objects.filter(pk=job.pk).update(status="running", flower_run_id="42")
    job.refresh_from_db()
    return job


def _round(job, rnd: int, trained: dict, failed: dict, evaluated: dict) -> None:
    from training.federated.tasks import _apply

    silos = [{"silo": s, "train_loss": loss, "examples": 12} for s, loss in trained.items()]
    _apply(job, {"kind": "train", "round": rnd, "silos": silos,
                 "failed": [{"silo": s, "reason": why} for s, why in failed.items()]})  # fmt: skip
    _apply(job, {"kind": "evaluate", "round": rnd, "failed": [],
                 "silos": [{"silo": s, "eval_loss": loss, "num-examples": 4} for s, loss in evaluated.items()]})  # fmt: skip
    _apply(job, {"kind": "aggregated", "round": rnd})


def test_the_job_page_follows_rounds_live(logged_in_page, live_server, running_job, screenshot):
    page = logged_in_page
    _round(running_job, 1, {"alpha": 2.1, "beta": 2.4}, {}, {"alpha": 2.0, "beta": 2.2})
    page.goto(f"{live_server.url}/training/federated/jobs/{running_job.pk}/")
    assert "server step ×2" in page.inner_text("p.muted")
    page.wait_for_selector('#federated-rounds tr[data-round="1"][data-silo="beta"]')
    chart = "Chart.getChart(document.getElementById('silo-loss-chart'))"
    page.wait_for_function(f"() => {{ const c = {chart}; return c && c.data.datasets.length === 4; }}")

    # Round 2 arrives while the page is open: beta was killed, alpha trained; no reload.
    _round(running_job, 2, {"alpha": 1.7}, {"beta": "Node unavailable"}, {"alpha": 1.6})
    dropped = page.wait_for_selector('#federated-rounds tr[data-round="2"][data-silo="beta"]')
    assert "dropped" in dropped.inner_text() and "Node unavailable" in dropped.inner_text()
    page.wait_for_function(
        f"() => {{ const c = {chart}; return c && c.data.datasets.some(d => d.label === 'alpha · train'"
        " && d.data.length === 2); }"
    )
    assert "round 2 aggregated" in page.inner_text("#federated-progress")
    screenshot(page, "federated-job-live")
