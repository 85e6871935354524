"""Through real worker processes: the inference worker's model cache, cache clearing, gate training on the queue."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from federation import runs
from federation.models import Federation, GateTraining, InferenceRun

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(run: InferenceRun, proc, timeout: float = 180) -> InferenceRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"run {run.pk} is {run.status}; worker log:\n{Path(proc.log_path).read_text()[-3000:]}")


def test_second_prompt_is_served_from_the_worker_cache(fed, make_federation, rq_worker, staff_user, texts):
    federation = make_federation("additive", combination="linear")
    worker = rq_worker.start("inference", simple=True)
    first = wait_for(runs.submit_inference(federation, texts.retailer_prompt, max_new_tokens=12), worker)
    assert first.status == "completed", first.error
    assert first.cache_hit is False and first.load_ms > 0
    assert first.generated_tokens > 0 and first.latency_ms > 0 and first.ttft_ms is not None
    assert [a["adapter"] for a in first.adapters_used] == ["amazon_schema v1", "planning v1"]

    second = wait_for(runs.submit_inference(federation, texts.task_prompt, max_new_tokens=12), worker)
    assert second.status == "completed", second.error
    assert second.cache_hit is True and second.load_ms == 0.0
    assert second.worker == first.worker, "the same long-lived process served both"

    federation.refresh_from_db()
    assert federation.fidelity["version"] == 1 and federation.fidelity["mean"] > 0.05, "linear is approximate"

    runs.request_cache_clear(staff_user)
    third = wait_for(runs.submit_inference(federation, texts.task_prompt, max_new_tokens=12), worker)
    assert third.cache_hit is False, "the clear request reached the worker process"
    assert third.response == second.response, "same seed and params, same answer after a reload"


def test_gate_trains_on_the_training_queue_then_routes(fed, make_federation, rq_worker, texts):
    federation = make_federation("gated", gate_steps=8)
    result = rq_worker.run_burst("training")
    training = GateTraining.objects.get(federation=federation)
    assert training.status == "completed", (
        training.status_reason,
        result.stdout[-2000:],
        result.stderr[-2000:],
    )
    assert training.current_step == 8 and training.progress_pct == 100.0 and training.num_examples > 0
    federation.refresh_from_db()
    assert federation.status == Federation.Status.READY
    assert federation.gate_path.endswith("gate-v1.safetensors")

    worker = rq_worker.start("inference", simple=True)
    run = wait_for(runs.submit_inference(federation, texts.task_prompt, max_new_tokens=6), worker)
    assert run.status == "completed", run.error
    shares = {a["adapter"]: a["share"] for a in run.adapters_used}
    assert set(shares) == {"amazon_schema v1", "planning v1"}
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4)
