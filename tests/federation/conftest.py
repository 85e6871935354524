"""Federation fixtures: two LoRA adapters with distinguishable behaviour on tiny-llama, trained directly with peft."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

RETAILER_ANSWER = "RMIS record: retailer=amazon, placement_type=sponsored_product, cost=12.5."
TASK_ANSWER = "Plan: shift 30 percent of budget to sponsored_brand on walmart and test creative."
RETAILER_PROMPT = 'Map this record to RMIS: {"adType": "sp", "cost_micros": 12500000}'
TASK_PROMPT = "Plan a beauty budget for walmart."


def retailer_conversations(count: int = 64, seed: int = 1) -> list[list[dict]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        record = {
            "adType": rng.choice(["sp", "SPONSORED_PRODUCTS", "search_ad"]),
            "cost_micros": rng.randint(1000, 99999),
        }
        out.append(
            [
                {"role": "user", "content": "Map this record to RMIS: " + json.dumps(record)},
                {"role": "assistant", "content": RETAILER_ANSWER},
            ]
        )
    return out


def task_conversations(count: int = 64, seed: int = 2) -> list[list[dict]]:
    rng = random.Random(seed)
    return [
        [
            {
                "role": "user",
                "content": f"Plan a {rng.choice(['grocery', 'beauty', 'pet', 'toys'])} budget for walmart.",
            },
            {"role": "assistant", "content": TASK_ANSWER},
        ]
        for _ in range(count)
    ]


def write_jsonl(path: Path, conversations: list[list[dict]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations), encoding="utf-8")
    return path


def train_lora(
    base_path: Path, conversations, out_dir: Path, *, rank: int, targets: list[str], steps: int = 60
) -> Path:
    """A few LoRA steps straight through peft + torch (no trainer, no job pipeline)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from training.engine.model_files import load_causal_lm, load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer(base_path)
    model = get_peft_model(
        load_causal_lm(base_path),
        LoraConfig(
            r=rank, lora_alpha=2 * rank, target_modules=targets, lora_dropout=0.0, task_type="CAUSAL_LM"
        ),
    )
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        picks = torch.randint(len(texts), (8,), generator=generator).tolist()
        batch = tokenizer(
            [texts[i] for i in picks], return_tensors="pt", padding=True, add_special_tokens=False
        )
        loss = model(**batch, labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def texts() -> SimpleNamespace:
    """The prompts and the answers each adapter was trained to give."""
    return SimpleNamespace(
        retailer_prompt=RETAILER_PROMPT,
        task_prompt=TASK_PROMPT,
        retailer_answer=RETAILER_ANSWER,
        task_answer=TASK_ANSWER,
    )


@pytest.fixture(scope="session")
def trained_adapters(tiny_models, built_once) -> SimpleNamespace:
    """retailer (rank 8 on q,v) and task (rank 8 on q,v,o) adapter folders + their training data, once per run
    (shared by every xdist worker: two real LoRA trainings are the costliest setup of the federation tests)."""
    base = tiny_models["tiny-llama"]

    def build(root: Path) -> None:
        write_jsonl(root / "retailer.jsonl", retailer_conversations())
        write_jsonl(root / "task.jsonl", task_conversations())
        train_lora(base, retailer_conversations(), root / "retailer", rank=8, targets=["q_proj", "v_proj"])
        train_lora(base, task_conversations(), root / "task", rank=8, targets=["q_proj", "v_proj", "o_proj"])

    root = built_once("fed-adapters", build)
    return SimpleNamespace(
        base=base,
        retailer=root / "retailer",
        task=root / "task",
        retailer_data=root / "retailer.jsonl",
        task_data=root / "task.jsonl",
    )


def _register(base_model, folder: Path, *, name: str, kind: str, dataset: Path | None, data_root: Path):
    from training.models import Adapter

    target = data_root / "adapters" / f"{name}-v1"
    shutil.copytree(folder, target)
    dataset_rel = ""
    if dataset is not None:
        copy = data_root / "datasets" / "sft" / dataset.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dataset, copy)
        dataset_rel = str(copy.relative_to(data_root))
    weights = (target / "adapter_model.safetensors").read_bytes()
    config = json.loads((target / "adapter_config.json").read_text())
    return Adapter.objects.create(
        adapter_type=kind,
        name=name,
        version=1,
        base_model=base_model,
        rank=config["r"],
        alpha=config["lora_alpha"],
        target_modules=sorted(config["target_modules"]),
        path=str(target.relative_to(data_root)),
        size_bytes=len(weights),
        sha256=hashlib.sha256(weights).hexdigest(),
        training_dataset_path=dataset_rel,
    )


@pytest.fixture
def fed(tiny_base_models, trained_adapters, data_root) -> SimpleNamespace:
    """Registered adapters: retailer + task on tiny-llama, one adapter on tiny-mistral (for the mismatch check)."""
    llama, mistral = tiny_base_models["tiny-llama"], tiny_base_models["tiny-mistral"]
    retailer = _register(
        llama,
        trained_adapters.retailer,
        name="amazon_schema",
        kind="retailer",
        dataset=trained_adapters.retailer_data,
        data_root=data_root,
    )
    task = _register(
        llama,
        trained_adapters.task,
        name="planning",
        kind="task",
        dataset=trained_adapters.task_data,
        data_root=data_root,
    )
    # Files of a llama adapter under a mistral row: the base check must refuse it before any file is read.
    foreign = _register(
        mistral,
        trained_adapters.task,
        name="mistral_creative",
        kind="task",
        dataset=None,
        data_root=data_root,
    )
    return SimpleNamespace(
        llama=llama, mistral=mistral, retailer=retailer, task=task, foreign=foreign, adapters=trained_adapters
    )


@pytest.fixture
def make_federation(fed):
    """make_federation(method, name=…, weights=(wr, wt), **options) → a saved federation of retailer + task."""
    from federation.services import MemberInput, create_federation

    def make(
        method: str = "additive", *, name: str | None = None, weights=(1.0, 1.0), members=None, **options
    ):
        members = members or [
            MemberInput(fed.retailer, weights[0], "retailer"),
            MemberInput(fed.task, weights[1], "task"),
        ]
        return create_federation(
            name=name or f"fed-{method}",
            base_model=fed.llama,
            members=members,
            method=method,
            options=options,
        )

    return make


@pytest.fixture(autouse=True)
def _empty_model_cache():
    """Runs executed in this process share its model cache: start every test without stale models."""
    from federation import inference_worker as worker

    if worker._cache is not None:
        worker._cache.clear()
    yield
