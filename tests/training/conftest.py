"""Training test helpers: small datasets in the three shapes, the tiny base models, and job waiting."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

PLACEMENTS = {
    "sp": "sponsored_product",
    "sd": "sponsored_display",
    "onsite_disp": "onsite_display",
    "instore": "in_store",
}
RETAILERS = ["amazon", "walmart", "target", "kroger"]


def _pairs(n: int, seed: int = 0):
    # Every row distinct (campaign id, spend): the datasets app's quality gate refuses duplicate-heavy data.
    rng = random.Random(seed)
    for i in range(n):
        retailer, code = rng.choice(RETAILERS), rng.choice(list(PLACEMENTS))
        wrong = rng.choice([v for v in PLACEMENTS.values() if v != PLACEMENTS[code]])
        cost = rng.randint(1, 90_000)
        prompt = f"Map the {retailer} row campaign_id=C{1000 + i} adType={code} cost_micros={cost * 10_000} to RMIS."
        yield (
            prompt,
            f"placement_type: {PLACEMENTS[code]}, campaign_id: C{1000 + i}, cost: {cost / 100:.2f}",
            wrong,
        )


def messages_rows(n: int = 40) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You harmonize retail media reports into RMIS."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a, _ in _pairs(n)
    ]


def prompt_completion_rows(n: int = 40) -> list[dict]:
    return [{"prompt": q, "completion": a} for q, a, _ in _pairs(n)]


def preference_rows(n: int = 40) -> list[dict]:
    return [{"prompt": q, "chosen": a, "rejected": f"placement_type: {w}"} for q, a, w in _pairs(n)]


@pytest.fixture
def rows():
    """Row builders: rows.messages(n), rows.prompt_completion(n), rows.preference(n)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        messages=messages_rows, prompt_completion=prompt_completion_rows, preference=preference_rows
    )


@pytest.fixture
def write_dataset(data_root):
    """write_dataset("sft/x.jsonl", rows) → "datasets/sft/x.jsonl" (relative to the data root)."""

    def write(name: str, rows: list) -> str:
        path = Path(data_root) / "datasets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return f"datasets/{name}"

    return write


@pytest.fixture
def tiny_llama(tiny_base_models):
    return tiny_base_models["tiny-llama"]


@pytest.fixture
def fast():
    """A config that trains the tiny model in seconds."""
    return {
        "max_steps": 6,
        "batch_size": 4,
        "checkpoint_steps": 3,
        "eval_steps": 3,
        "lora_r": 8,
        "lora_alpha": 16,
    }


@pytest.fixture
def wait_for():
    """wait_for(lambda: cond, what="...") polls until cond() is truthy; fails with `what` after `timeout` seconds."""
    import time

    def wait(condition, what: str = "condition", timeout: float = 180.0, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if proc is not None and proc.poll() is not None:
                pytest.fail(
                    f"worker exited ({proc.returncode}) while waiting for {what}: {Path(proc.log_path).read_text()[-3000:]}"
                )
            time.sleep(0.2)
        extra = Path(proc.log_path).read_text()[-3000:] if proc is not None else ""
        pytest.fail(f"timed out waiting for {what}\n{extra}")

    return wait


@pytest.fixture
def finished_job(tiny_llama, write_dataset, rows, user):
    """A completed job with a loss curve and a real PEFT adapter in the store (made with peft, no worker)."""
    from django.utils import timezone
    from peft import LoraConfig, get_peft_model

    from rmnconsole.core.paths import data_root
    from training.engine.export import ModelCard, prepare_adapter
    from training.engine.model_files import load_causal_lm
    from training.models import Adapter, TrainingJob, TrainingMetric

    path = write_dataset("sft/amazon.jsonl", rows.messages(10))
    job = TrainingJob.objects.create(
        adapter_type="retailer",
        adapter_name="amazon_schema_v2",
        base_model=tiny_llama,
        training_type="sft",
        dataset_path=path,
        config={"lora_r": 4, "lora_alpha": 8, "max_steps": 3},
        status="completed",
        current_step=3,
        total_steps=3,
        progress_pct=100.0,
        device="cpu",
        created_by=user,
        finished_at=timezone.now(),
        final_metrics={
            "eval_loss": 1.25,
            "train_loss": 1.5,
            "perplexity": 3.49,
            "token_accuracy": 0.5,
            "tokens_per_second": 900.0,
        },
    )
    for step, loss in ((1, 2.0), (2, 1.7), (3, 1.5)):
        TrainingMetric.objects.create(
            job=job, step=step, epoch=step / 3, loss=loss, eval_loss=1.25 if step == 3 else None
        )
    folder = data_root() / "adapters" / "amazon_schema_v2" / "v1"
    model = get_peft_model(
        load_causal_lm(tiny_llama.local_path),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    model.save_pretrained(folder)
    card = ModelCard(
        "amazon_schema_v2",
        1,
        "retailer",
        "sft",
        "tiny-llama",
        tiny_llama.source,
        path,
        "",
        job.config,
        job.final_metrics,
        "cpu",
        job.pk,
    )
    info = prepare_adapter(folder, card)
    adapter = Adapter.objects.create(
        adapter_type="retailer",
        name="amazon_schema_v2",
        version=1,
        base_model=tiny_llama,
        rank=info.rank,
        alpha=info.alpha,
        target_modules=info.target_modules,
        path="adapters/amazon_schema_v2/v1",
        size_bytes=info.size_bytes,
        sha256=info.sha256,
        metrics=job.final_metrics,
        source_job=job,
        training_dataset_path=path,
    )
    return job, adapter
