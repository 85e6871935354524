"""Benchmark: the same TPE sweep with and without pruning (same seed, same space, same data).

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/sweep_pruning.py [--trials 12] [--steps 60] [--repeats 1] [--pruner median]

Both sweeps run through the real console path: training.sweeps.services.start_sweep, trials as training jobs on one
warm `rqworker training --worker-class training.rq_worker.TrainingWorker` (one trial at a time, so the wall time is
the sum of the trials), each trial's end telling the study and asking the next. Wall time is sweep start → sweep
end. With several repeats the order flips every repeat (this machine's speed drifts 3×) and the medians are
compared. Target: pruned wall time ≤ 0.6 × unpruned, best eval loss within noise of the unpruned sweep's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import scratch_console, training_worker, write_rmis_sft  # noqa: E402

BENCH_DB = "bench_rmn_sweep"


def sweep_spec(dataset: str, options, pruned: bool, tag: str) -> dict:
    return {
        "name": f"bench {tag}",
        "adapter_type": "task",
        "adapter_name": f"bench_{tag}",
        "base_model": "tiny-llama",
        "dataset_path": dataset,
        "quality_override": True,
        "fixed": {
            "max_steps": options.steps,
            "eval_steps": max(1, options.steps // 6),
            "checkpoint_steps": options.steps,
            "batch_size": 8,
            "max_seq_length": 256,
            "validation_split": 0.1,
            "logging_steps": 5,
        },
        "search_space": {
            "learning_rate": {"type": "log_float", "low": 1e-5, "high": 5e-2},
            "lora_r": {"type": "choice", "choices": [4, 8, 16]},
            "lora_alpha": {"type": "choice", "choices": [8, 16, 32]},
        },
        "sampler": "tpe",
        "seed": options.seed,
        "pruner": options.pruner if pruned else "none",
        "max_trials": options.trials,
        "max_parallel": 1,
    }


def run_sweep(spec: dict) -> dict:
    from training.sweeps import services
    from training.sweeps.models import Sweep

    started = time.perf_counter()
    sweep = services.start_sweep(spec)
    while True:
        time.sleep(0.5)
        sweep = Sweep.objects.get(pk=sweep.pk)
        if sweep.status != Sweep.Status.RUNNING:
            break
    wall = time.perf_counter() - started
    statuses = list(sweep.trials.values_list("status", flat=True))
    return {
        "wall_s": wall,
        "status": sweep.status,
        "best": sweep.best_value,
        "pruned": statuses.count("pruned"),
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruner", default="median", choices=["median", "hyperband"])
    options = parser.parse_args()

    root, env = scratch_console("rmn-bench-sweep-", BENCH_DB, __file__)
    from training.engine.tiny_models import build_tiny_model
    from training.model_registry import register_local_model

    model_dir = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
    register_local_model("tiny-llama", "llama", str(model_dir), 143_000, dtype="float32", is_tiny=True)
    dataset = write_rmis_sft(root, options.rows, "bench_sweep.jsonl")
    with training_worker(env, root):
        print(
            f"tiny-llama, {options.rows} rows, {options.trials} TPE trials (seed {options.seed}) of {options.steps} steps, "
            f"eval every {max(1, options.steps // 6)} steps, one warm worker, {options.repeats} interleaved repeat(s); "
            f"pruner {options.pruner} vs none"
        )
        pairs = []
        for r in range(options.repeats):
            runs = {}
            order = ("none", "pruned") if r % 2 == 0 else ("pruned", "none")
            for kind in order:
                runs[kind] = run_sweep(sweep_spec(dataset, options, kind == "pruned", f"{kind}_{r}"))
                print(
                    f"  repeat {r + 1} {kind:>6}: {runs[kind]['wall_s']:7.1f}s  best eval loss {runs[kind]['best']}  "
                    f"completed {runs[kind]['completed']} pruned {runs[kind]['pruned']} failed {runs[kind]['failed']} "
                    f"({runs[kind]['status']})"
                )
            pairs.append(runs)
        ratio = statistics.median(p["pruned"]["wall_s"] / p["none"]["wall_s"] for p in pairs)
        best_none = statistics.median(p["none"]["best"] for p in pairs)
        best_pruned = statistics.median(p["pruned"]["best"] for p in pairs)
        print(
            f"median wall-time ratio pruned/unpruned: {ratio:.3f} (target ≤ 0.6) → {'PASS' if ratio <= 0.6 else 'FAIL'}"
        )
        print(
            f"median best eval loss: unpruned {best_none:.4f}, pruned {best_pruned:.4f} "
            f"(difference {best_pruned - best_none:+.4f})"
        )


if __name__ == "__main__":
    main()
