"""The demo retailer adapter on SmolLM2-135M-Instruct beats its base on the Alpha mapping's held-out suite.

Slow (a real 135M model trained with the demo preset, then two eval runs of up to 256 tokens a case on CPU): it
runs only with RMN_SLOW=1 and SmolLM2 imported into var/cache/base-models (scripts/test.sh does that once).
Everything goes through the console's own paths: seed_demo's SFT set, a training job with DEMO_ADAPTER_PRESET run
by the training task, a mapping suite of held-out records (none in the training set), and eval runs scored by
field accuracy. The figures are printed (`-s` shows them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

SMOLLM2 = Path(__file__).resolve().parents[2] / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"
HELDOUT_CASES = 12

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(5400),
    pytest.mark.skipif(os.environ.get("RMN_SLOW") != "1", reason="slow: set RMN_SLOW=1 to run it"),
    pytest.mark.skipif(
        not (SMOLLM2 / "config.json").is_file(), reason="SmolLM2 is not in var/cache/base-models"
    ),
]


@pytest.fixture
def all_cores():
    """tests/conftest.py pins torch to one thread (many test processes share the cores); this test runs alone."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


def test_demo_retailer_adapter_beats_the_base_on_heldout_mapping_records(data_root, all_cores):
    from datasets_app.mappings import demo
    from datasets_app.models import Dataset, SchemaMapping
    from federation.evaluation.facade import evaluate
    from federation.evaluation.mapping_suites import create_suite_from_mapping, training_prompts
    from training.engine.config import DEMO_ADAPTER_PRESET
    from training.model_registry import register_local_model
    from training.models import Adapter
    from training.services import submit_training_job
    from training.tasks import run_training_job

    started = time.monotonic()
    base = register_local_model("SmolLM2-135M-Instruct", "llama", str(SMOLLM2), 134_515_008, dtype="float32")
    demo.seed_demo(rows=2000)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    job = submit_training_job(
        adapter_type="retailer",
        adapter_name="alpha_demo",
        base_model=base.name,
        dataset=Dataset.objects.get(name="demo_alpha_rmis_sft"),
        config=dict(DEMO_ADAPTER_PRESET),
    )
    run_training_job(job.pk)  # this process is the training worker
    job.refresh_from_db()
    assert job.status == "completed", job.status_reason
    trained_minutes = (time.monotonic() - started) / 60
    adapter = Adapter.objects.get(source_job=job)

    suite = create_suite_from_mapping(mapping=alpha, examples=HELDOUT_CASES)
    assert not {c.prompt for c in suite.cases.all()} & training_prompts(alpha), (
        "a held-out case was trained on"
    )
    base_run = evaluate(f"base:{base.name}", suite, batch_size=6)
    adapter_run = evaluate(adapter, suite, batch_size=6)
    figures = {
        "cases": suite.cases.count(),
        "base": {k: base_run[k] for k in ("score", "metrics", "latency_p50_ms")},
        "adapter": {k: adapter_run[k] for k in ("score", "metrics", "latency_p50_ms")},
        "training_minutes": round(trained_minutes, 1),
        "total_minutes": round((time.monotonic() - started) / 60, 1),
    }
    print(f"\nSmolLM2 demo adapter vs base on {suite.label}: {figures}")
    assert base_run["status"] == adapter_run["status"] == "completed"
    assert adapter_run["score"] > base_run["score"], figures
