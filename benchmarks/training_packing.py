"""Benchmark: padding-free SFT batches (the console's default where correct) vs trl's plain padded batches.

    .venv/bin/python benchmarks/training_packing.py --data FILE.jsonl [--model DIR] [--steps 12] [--repeats 2]

Same model (SmolLM2-135M-Instruct by default), same mapping data (a prompt/completion JSONL such as the demo
Alpha/Beta SFT sets that `manage.py seed_demo` builds, or `benchmarks/smollm2_demo.py` leaves in its data root),
same hyperparameters and seed, through the console's training engine; the only difference is `batching`:
"padding_free" (examples concatenated, kept apart by position ids, checked on the model) vs "padded" (trl's
default: each batch padded to its longest example). Runs are interleaved (the order flips every repeat) because this
machine's speed drifts 3×. Reported: useful (non-padding) tokens per second of train_runtime, median ratio, and each
run's final eval loss on the same held-out split (must agree within noise: the same examples, the same order).
Target: ≥ 1.3×. The gain is the padding a batch would carry, so it depends on how much example lengths vary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def run(model: Path, data: Path, root: Path, batching: str, steps: int, batch_size: int) -> dict:
    from training.engine.config import build_config
    from training.engine.runner import TrainingRun, run_training

    config = {
        "max_steps": steps,
        "batch_size": batch_size,
        "learning_rate": 1e-3,
        "lr_scheduler": "cosine",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "target_modules": ["all-linear"],
        "max_seq_length": 512,
        "validation_split": 0.1,
        "eval_steps": steps,
        "checkpoint_steps": steps,
        "logging_steps": 1,
        "seed": 42,
        "batching": batching,
    }
    out = Path(tempfile.mkdtemp(dir=root))
    result = run_training(
        TrainingRun(
            training_type="sft",
            model_folder=model,
            dataset_file=data,
            output_dir=out / "checkpoints",
            adapter_staging_dir=out / "adapter",
            config=build_config("sft", config),
        ),
        lambda progress: None,
        report_interval=5.0,
    )
    m = result.final_metrics
    return {
        "batching": m.get("batching"),
        "tokens_per_second": m["num_tokens"] / m["train_runtime"],
        "num_tokens": m["num_tokens"],
        "train_runtime": m["train_runtime"],
        "eval_loss": m.get("eval_loss"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a prompt/completion JSONL (mapping data)")
    parser.add_argument(
        "--model", type=Path, default=REPO / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"
    )
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    if not (options.model / "config.json").is_file():
        sys.exit(
            f"no model at {options.model.name} (scripts/test.sh imports SmolLM2 into var/cache/base-models)"
        )
    import datasets

    datasets.disable_progress_bars()
    root = Path(tempfile.mkdtemp(prefix="rmn-bench-packing-"))
    print(
        f"{options.model.name}, {options.data.name}, {options.steps} steps × batch {options.batch_size}, "
        f"{options.repeats} interleaved repeats",
        flush=True,
    )
    pairs = []
    for repeat in range(options.repeats):
        order = ("padded", "padding_free") if repeat % 2 == 0 else ("padding_free", "padded")
        runs = {}
        for batching in order:
            runs[batching] = run(
                options.model, options.data, root, batching, options.steps, options.batch_size
            )
            print(f"  repeat {repeat + 1} {batching}: {json.dumps(runs[batching])}", flush=True)
        assert runs["padding_free"]["batching"] == "padding_free", "padding-free was not used on this model"
        pairs.append(runs)
    ratio = statistics.median(
        p["padding_free"]["tokens_per_second"] / p["padded"]["tokens_per_second"] for p in pairs
    )
    losses = {k: [p[k]["eval_loss"] for p in pairs] for k in ("padded", "padding_free")}
    print(
        f"median useful tokens/s ratio padding-free / padded: {ratio:.3f} (target ≥ 1.3) → {'PASS' if ratio >= 1.3 else 'FAIL'}"
    )
    print(f"final eval loss: padded {losses['padded']}, padding-free {losses['padding_free']}")
    print("RESULT " + json.dumps({"ratio": ratio, "eval_loss": losses, "runs": pairs}))


if __name__ == "__main__":
    main()
