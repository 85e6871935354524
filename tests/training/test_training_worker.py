"""Real training through a real `rqworker` process, Redis and PostgreSQL: SFT (messages, prompt/completion), DPO, QLoRA."""

import json

import pytest

from training.models import Adapter, TrainingJob
from training.services import submit_training_job

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _logits(model, tokenizer, text="Map the amazon placement code sp to RMIS."):
    import torch

    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def test_four_training_types_train_register_and_load(fast, rq_worker, tiny_llama, write_dataset, rows, user):
    jobs = {
        "messages": submit_training_job(
            adapter_type="retailer",
            adapter_name="amazon_schema_v2",
            training_type="sft",
            dataset_path=write_dataset("sft/msgs.jsonl", rows.messages(40)),
            config=fast,
            user=user,
        ),
        "prompt_completion": submit_training_job(
            adapter_type="task",
            adapter_name="planning_pc",
            training_type="sft",
            dataset_path=write_dataset("sft/pc.jsonl", rows.prompt_completion(40)),
            config=fast,
            user=user,
        ),
        "dpo": submit_training_job(
            adapter_type="task",
            adapter_name="planning_dpo",
            training_type="dpo",
            dataset_path=write_dataset("dpo/pref.jsonl", rows.preference(40)),
            config={**fast, "max_steps": 4, "beta": 0.1},
            user=user,
        ),
        "qlora": submit_training_job(
            adapter_type="domain",
            adapter_name="grocery_qlora",
            training_type="qlora",
            dataset_path="datasets/sft/msgs.jsonl",
            config={**fast, "max_steps": 4},
            user=user,
        ),
    }
    result = rq_worker.run_burst("training")
    assert result.returncode == 0, result.stderr[-3000:]

    for kind, job in jobs.items():
        job.refresh_from_db()
        assert job.status == "completed", f"{kind}: {job.status_reason}\n{job.log[-3000:]}"
        assert job.device == "cpu" and job.current_step == job.total_steps == job.config["max_steps"]
        assert job.progress_pct == 100.0 and job.heartbeat_at and job.finished_at
        steps = list(job.metrics.exclude(loss=None).values_list("step", flat=True))
        assert steps == list(range(1, job.total_steps + 1)), kind
        assert job.metrics.exclude(eval_loss=None).exists(), kind
        assert job.final_metrics["eval_loss"] is not None and job.final_metrics["train_loss"] is not None
        adapter = Adapter.objects.get(source_job=job)
        assert (adapter.name, adapter.version, adapter.rank, adapter.alpha) == (job.adapter_name, 1, 8, 16)
        folder = adapter.abs_path()
        assert {p.name for p in folder.iterdir()} >= {
            "adapter_config.json",
            "adapter_model.safetensors",
            "README.md",
        }
        assert adapter.size_bytes == sum(p.stat().st_size for p in folder.iterdir())
        card = (folder / "README.md").read_text()
        assert job.dataset_path in card and "tiny-llama" in card and "eval_loss" in card
    assert jobs["messages"].final_metrics["token_accuracy"] is not None
    assert jobs["messages"].final_metrics["perplexity"] > 1
    assert jobs["dpo"].final_metrics["reward_accuracy"] is not None
    # The job log tells its story in order: claimed by this worker, on which device, where the adapter went.
    lines = [line.split("] ", 1)[1] for line in jobs["messages"].log.splitlines() if line.startswith("[")]
    saved = Adapter.objects.get(source_job=jobs["messages"])
    assert lines[0] == f"claimed by {jobs['messages'].worker_host}", lines
    assert lines.index("device: cpu") < lines.index(
        next(x for x in lines if x.startswith(f"adapter {saved.label} saved to {saved.path} ("))
    ), lines

    # The registered adapter loads with PeftModel.from_pretrained and changes the base model's output.
    from peft import PeftModel

    from training.engine.model_files import load_causal_lm, load_tokenizer

    base_path = tiny_llama.local_path
    tokenizer = load_tokenizer(base_path)
    base = load_causal_lm(base_path)
    before = _logits(base, tokenizer)
    adapter = Adapter.objects.get(source_job=jobs["messages"])
    assert json.loads((adapter.abs_path() / "adapter_config.json").read_text())["r"] == 8
    tuned = PeftModel.from_pretrained(base, str(adapter.abs_path()))
    after = _logits(tuned, tokenizer)
    assert not (before - after).abs().max().item() < 1e-6
    with tuned.disable_adapter():
        assert (_logits(tuned, tokenizer) - before).abs().max().item() < 1e-5


def test_a_second_run_with_the_same_name_gets_the_next_version(
    fast, rq_worker, tiny_llama, write_dataset, rows
):
    path = write_dataset("sft/pc.jsonl", rows.prompt_completion(12))
    config = {**fast, "max_steps": 2, "validation_split": 0}
    first = submit_training_job(
        adapter_type="retailer", adapter_name="walmart_v2", dataset_path=path, config=config
    )
    second = submit_training_job(
        adapter_type="retailer", adapter_name="walmart_v2", dataset_path=path, config=config
    )
    assert rq_worker.run_burst("training").returncode == 0
    versions = sorted(Adapter.objects.filter(name="walmart_v2").values_list("version", "source_job_id"))
    assert versions == [(1, first.pk), (2, second.pk)]
    assert TrainingJob.objects.get(pk=second.pk).final_metrics.get("eval_loss") is None
