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
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import prepare_database  # noqa: E402

BENCH_DB = "bench_rmn_sweep"


def write_dataset(root: Path, n: int) -> str:
    rng = random.Random(0)
    codes = {
        "sp": "sponsored_product",
        "sd": "sponsored_display",
        "onsite_disp": "onsite_display",
        "instore": "in_store",
    }
    path = root / "datasets" / "bench_sweep.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for i in range(n):
            code = rng.choice(list(codes))
            cost = rng.randint(1, 900_000)
            prompt = (
                f"Map the walmart row campaign_id=C{i} adType={code} cost_micros={cost * 10_000} to RMIS."
            )
            completion = f"placement_type: {codes[code]}, campaign_id: C{i}, cost: {cost / 100:.2f}"
            handle.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
    return "datasets/bench_sweep.jsonl"


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

    root = Path(tempfile.mkdtemp(prefix="rmn-bench-sweep-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=prepare_database(
            os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres"), BENCH_DB, __file__
        ),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        RMN_DATA_ROOT=str(root),
        DJANGO_SETTINGS_MODULE="rmnconsole.settings",
    )
    env.pop("RMN_TEST_DB_NAME", None)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from rmnconsole.core.queues import TRAINING, get_queue
    from training.engine.tiny_models import build_tiny_model
    from training.model_registry import register_local_model

    call_command("migrate", verbosity=0)
    model_dir = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
    register_local_model("tiny-llama", "llama", str(model_dir), 143_000, dtype="float32", is_tiny=True)
    dataset = write_dataset(root, options.rows)
    get_queue(TRAINING).empty()
    log = open(root / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "manage.py"),
            "rqworker",
            TRAINING,
            "--worker-class",
            "training.rq_worker.TrainingWorker",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
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
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
