"""Benchmark: a console training job (through a warm RQ worker) vs the same run as a plain trl script.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/training_overhead.py [--repeats 5] [--steps 60] [--batch-size 8]

Same tiny model (tiny-llama), same data, same hyperparameters. (a) a plain script, run as its own Python process
each time, builds trl's SFTTrainer + peft LoraConfig by hand and calls train(); (b) submits a job with training.services.submit_training_job to a warm
`rqworker training --worker-class training.rq_worker.TrainingWorker` and waits for it. Runs are interleaved (the
order flips every repeat) because this machine's speed drifts 3× between runs. Tokens/s on both sides is
non-padding tokens / trainer train_runtime (model loading excluded on both sides). Target: console ≥ 0.97 × raw.
Also: submit-to-claim and submit-to-first-step latency of the console job (first step = current_step ≥ 1 in the DB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import scratch_console, training_run_parser, training_worker, write_rmis_sft  # noqa: E402

BENCH_DB = "bench_rmn_training"


def bench_config(steps: int, batch_size: int) -> dict:
    """The hyperparameters both sides of a training benchmark use."""
    return {
        "max_steps": steps,
        "batch_size": batch_size,
        "learning_rate": 2e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "max_seq_length": 256,
        "validation_split": 0.0,
        "checkpoint_steps": steps,
        "seed": 42,
        "logging_steps": 1,
        "batching": "padded",  # the plain script's layout: this benchmark measures the job machinery, not batching
    }


def raw_trl(model_dir: Path, data_file: Path, cfg: dict, out_dir: Path, **extra_args) -> dict:
    """The plain trl script: what an engineer would write by hand for the same run (`extra_args`: more SFTConfig)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from training.engine.chat_format import as_chat_turns

    rows = [json.loads(line) for line in data_file.read_text().splitlines() if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.chat_template and "prompt" in rows[0]:
        rows = as_chat_turns(rows)  # the same examples the console trains on (it uses the chat framing too)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, local_files_only=True, use_safetensors=True
    )
    torch.manual_seed(cfg["seed"])
    args = SFTConfig(
        output_dir=str(out_dir),
        max_steps=cfg["max_steps"],
        per_device_train_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=1,
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type="linear",
        warmup_steps=0.0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        gradient_checkpointing=False,
        max_length=cfg["max_seq_length"],
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        logging_steps=1,
        eval_strategy="no",
        save_strategy="steps",
        save_steps=cfg["checkpoint_steps"],
        save_total_limit=2,
        use_cpu=True,
        bf16=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        packing=False,
        **extra_args,
    )
    peft_config = LoraConfig(
        r=cfg["lora_r"],
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        target_modules=cfg["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.remove_callback(PrinterCallback)  # as lean as the raw side can be: no per-step dict on stdout
    cpu0 = _cpu_seconds()
    output = trainer.train()
    cpu = _cpu_seconds() - cpu0
    tokens = max(e.get("num_tokens", 0) for e in trainer.state.log_history)
    runtime = output.metrics["train_runtime"]
    return {
        "tokens_per_second": tokens / runtime,
        "num_tokens": tokens,
        "train_runtime": runtime,
        "tokens_per_cpu_second": tokens / cpu,
    }


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_trl_script(model_dir: Path, data_file: Path, cfg: dict, out_dir: Path) -> dict:
    """(a) as a plain script really runs: a fresh Python process per run, like the worker's fresh work horse."""
    spec = json.dumps(
        {"model_dir": str(model_dir), "data_file": str(data_file), "cfg": cfg, "out_dir": str(out_dir)}
    )
    done = subprocess.run(
        [sys.executable, __file__, "--raw-child", spec], capture_output=True, text=True, check=False, cwd=REPO
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RAW ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"raw trl script failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][4:])


def console_job(cfg: dict, dataset: str, n: int, base_model: str = "tiny-llama") -> dict:
    from training.models import TrainingJob
    from training.services import submit_training_job

    submitted = time.monotonic()
    job = submit_training_job(
        adapter_type="retailer",
        adapter_name=f"bench_{n}",
        base_model=base_model,
        dataset_path=dataset,
        config=cfg,
    )
    claimed = first_step = None
    while True:
        row = TrainingJob.objects.filter(pk=job.pk).values("status", "current_step").get()
        now = time.monotonic()
        if claimed is None and row["status"] != "queued":
            claimed = now - submitted
        if first_step is None and row["current_step"] >= 1:
            first_step = now - submitted
        if row["status"] in TrainingJob.FINISHED:
            break
        if claimed is None and now - submitted > 120:
            sys.exit(
                f"job {job.pk} still queued after 120 s: is the worker on the same Redis ({os.environ['REDIS_URL']})?"
            )
        # Fine polling only until the first step: afterwards it would steal CPU from the job being measured.
        time.sleep(0.02 if first_step is None else 2.0)
    job.refresh_from_db()
    if job.status != "completed":
        sys.exit(f"console job {job.pk} {job.status}: {job.status_reason}\n{job.log[-2000:]}")
    m = job.final_metrics
    return {
        "tokens_per_second": m["tokens_per_second"],
        "num_tokens": m["num_tokens"],
        "train_runtime": m["train_runtime"],
        "tokens_per_cpu_second": m["num_tokens"] / m["train_cpu_seconds"],
        "claim_s": claimed,
        "first_step_s": first_step,
    }


def main() -> None:
    parser = training_run_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--worker-class", default="training.rq_worker.TrainingWorker", help="rq.worker.Worker: no preloading"
    )
    parser.add_argument("--raw-child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--model",
        choices=("tiny", "smollm2"),
        default="tiny",
        help="tiny-llama, or SmolLM2-135M-Instruct (real)",
    )
    options = parser.parse_args()
    if options.raw_child:
        import datasets

        datasets.disable_progress_bars()
        spec = json.loads(options.raw_child)
        result = raw_trl(Path(spec["model_dir"]), Path(spec["data_file"]), spec["cfg"], Path(spec["out_dir"]))
        print("RAW " + json.dumps(result))
        return

    root, env = scratch_console("rmn-bench-training-", BENCH_DB, __file__)
    import datasets

    datasets.disable_progress_bars()
    from training.engine.tiny_models import build_tiny_model
    from training.model_registry import register_local_model

    if options.model == "smollm2":
        model_name, model_dir = (
            "SmolLM2-135M-Instruct",
            REPO / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct",
        )
        if not (model_dir / "config.json").is_file():
            sys.exit(
                "SmolLM2-135M-Instruct is not in var/cache/base-models (scripts/test.sh imports it once)"
            )
        register_local_model(model_name, "llama", str(model_dir), 134_515_008, dtype="float32")
    else:
        model_name = "tiny-llama"
        model_dir = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
        register_local_model("tiny-llama", "llama", str(model_dir), 143_000, dtype="float32", is_tiny=True)
    dataset = write_rmis_sft(root, options.rows)
    cfg = bench_config(options.steps, options.batch_size)
    with training_worker(env, root, options.worker_class):
        print(
            f"worker {options.worker_class}; {model_name}, {options.rows} rows, {options.steps} steps, batch {options.batch_size}, {options.repeats} interleaved repeats"
        )
        console_job(
            cfg, dataset, 0, model_name
        )  # warm-up: the worker's first horse and the DB are warm afterwards
        raw_trl_script(model_dir, root / dataset, cfg, root / "raw-warmup")
        pairs = []
        for r in range(options.repeats):
            runs = {}
            order = ("raw", "console") if r % 2 == 0 else ("console", "raw")
            for kind in order:
                runs[kind] = (
                    raw_trl_script(model_dir, root / dataset, cfg, root / f"raw-{r}")
                    if kind == "raw"
                    else console_job(cfg, dataset, r + 1, model_name)
                )
            ratio = runs["console"]["tokens_per_second"] / runs["raw"]["tokens_per_second"]
            cpu_ratio = runs["console"]["tokens_per_cpu_second"] / runs["raw"]["tokens_per_cpu_second"]
            pairs.append((runs, ratio, cpu_ratio))
            print(
                f"  repeat {r + 1}: raw {runs['raw']['tokens_per_second']:8.0f} tok/s ({runs['raw']['num_tokens']} tokens)  "
                f"console {runs['console']['tokens_per_second']:8.0f} tok/s ({runs['console']['num_tokens']} tokens)  "
                f"ratio {ratio:.3f} (per CPU-second {cpu_ratio:.3f})  submit→claim {runs['console']['claim_s']:.2f}s  submit→first step {runs['console']['first_step_s']:.2f}s"
            )
        raw_tps = statistics.median(p[0]["raw"]["tokens_per_second"] for p in pairs)
        con_tps = statistics.median(p[0]["console"]["tokens_per_second"] for p in pairs)
        ratio = statistics.median(p[1] for p in pairs)
        first = statistics.median(p[0]["console"]["first_step_s"] for p in pairs)
        claim = statistics.median(p[0]["console"]["claim_s"] for p in pairs)
        print(f"median tokens/s: raw trl {raw_tps:.0f}, console {con_tps:.0f}")
        print(
            f"median ratio console/raw: {ratio:.3f} (target ≥ 0.97) → {'PASS' if ratio >= 0.97 else 'FAIL'}"
        )
        print(
            f"median submit→claim {claim:.2f}s, submit→first step {first:.2f}s (warm worker, forked work horse)"
        )


if __name__ == "__main__":
    main()
