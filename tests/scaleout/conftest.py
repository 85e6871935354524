"""Scale-out test helpers: a small SFT dataset, a fake GPU worker in RQ's registry, an 8B-shaped base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LLAMA_8B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "torch_dtype": "bfloat16",
}


def sft_rows(n: int = 24) -> list[dict]:
    # Distinct rows: the datasets app's quality gate refuses duplicate-heavy data.
    return [
        {
            "messages": [
                {"role": "user", "content": f"Map adType=sp campaign_id=C{1000 + i} cost={i * 7} to RMIS."},
                {
                    "role": "assistant",
                    "content": f"placement_type: sponsored_product, campaign_id: C{1000 + i}",
                },
            ]
        }
        for i in range(n)
    ]


@pytest.fixture
def sft_dataset(data_root) -> str:
    path = Path(data_root) / "datasets" / "sft" / "scaleout.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in sft_rows()))
    return "datasets/sft/scaleout.jsonl"


@pytest.fixture
def fast() -> dict:
    return {
        "max_steps": 2,
        "batch_size": 2,
        "checkpoint_steps": 2,
        "eval_steps": 2,
        "lora_r": 4,
        "lora_alpha": 8,
    }


@pytest.fixture
def llama_8b(tmp_path):
    """An available 8B-shaped base model: only its config.json exists (enough for the estimate)."""
    from training.models import FoundationModel

    folder = tmp_path / "llama-8b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_8B_CONFIG))
    return FoundationModel.objects.create(
        name="meta-llama/Llama-3.1-8B-Instruct",
        source="meta-llama/Llama-3.1-8B-Instruct",
        family="llama",
        parameter_count=8_030_261_248,
        dtype="bfloat16",
        local_path=str(folder),
        is_available=True,
    )


@pytest.fixture
def fake_gpu_worker(settings):
    """announce(gpu_count, gpu_memory_gib[, bitsandbytes]): a worker registered in RQ's registry for those capability queues."""
    import redis
    from rq import Queue, Worker

    from training.routing import Capabilities, queues_for

    conn = redis.Redis.from_url(settings.REDIS_URL)
    born = []

    def announce(gpu_count: int, gpu_memory_gib: float, name: str = "fake-gpu", bitsandbytes: bool = True):
        cap = Capabilities(
            host=name,
            gpu_count=gpu_count,
            gpu_memory_gib=gpu_memory_gib,
            cuda=True,
            bitsandbytes=bitsandbytes,
        )
        worker = Worker([Queue(q, connection=conn) for q in queues_for(cap)], connection=conn, name=name)
        worker.register_birth()
        born.append(worker)
        return worker

    yield announce
    for worker in born:
        worker.register_death()


def submit_sft(model, dataset: str, config: dict, name: str, **extra):
    """A task-adapter SFT job through the real submit service (routing, estimate, enqueue)."""
    from training.services import submit_training_job

    return submit_training_job(
        adapter_type="task",
        adapter_name=name,
        training_type="sft",
        base_model=model,
        dataset_path=dataset,
        config=config,
        **extra,
    )
