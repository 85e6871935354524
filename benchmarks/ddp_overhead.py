"""Benchmark: the console's distributed engine vs a bare torchrun trl script, both as 2 DDP ranks (gloo, CPU).

    .venv/bin/python benchmarks/ddp_overhead.py [--repeats 5] [--steps 60] [--batch-size 8]

(a) `torchrun --standalone --nproc-per-node 2` runs the plain trl script of benchmarks/training_overhead.py (with
the same DDP settings: gloo, no unused-parameter search); (b) training.engine.distributed.run_distributed runs the
same job as the worker's horse does: spec file, torchrun via ddp_launch, rank 0 events tailed, and the stop flag
agreed on by an all-reduce at every step. Same tiny model, data and hyperparameters; runs interleaved (the order
flips every repeat) because this machine's speed drifts 3× between runs. Tokens/s = non-padding tokens (summed
over ranks) / train_runtime on both sides. The RQ + database side is measured by training_overhead.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import training_run_parser, write_rmis_sft  # noqa: E402
from benchmarks.training_overhead import bench_config, raw_trl  # noqa: E402
from training.engine.ddp_entry import leave_group  # noqa: E402

DDP_ARGS = {"ddp_backend": "gloo", "ddp_find_unused_parameters": False}


def raw_torchrun(spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", __file__,
         "--raw-rank", json.dumps(spec)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RAW ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"raw torchrun script failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(lines[-1][4:])


def console_engine(model_dir: Path, data_file: Path, cfg: dict, out: Path) -> dict:
    from training.engine.config import build_config
    from training.engine.distributed import run_distributed
    from training.engine.runner import TrainingRun

    run = TrainingRun(
        training_type="sft",
        model_folder=model_dir,
        dataset_file=data_file,
        output_dir=out / "checkpoints",
        adapter_staging_dir=out / "adapter",
        config=build_config("sft", {**cfg, "num_gpus": 2}),
    )
    result = run_distributed(run, lambda progress: None, lambda: False, nproc=2, folder=out / "ddp")
    m = result.final_metrics
    return {"tokens_per_second": m["tokens_per_second"], "num_tokens": m["num_tokens"]}


def main() -> None:
    parser = training_run_parser(__doc__.splitlines()[0])
    parser.add_argument("--raw-rank", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.raw_rank:
        import os

        import datasets

        datasets.disable_progress_bars()
        spec = json.loads(options.raw_rank)
        args = (Path(spec["model_dir"]), Path(spec["data_file"]), spec["cfg"], Path(spec["out_dir"]))
        result = raw_trl(*args, **DDP_ARGS)
        leave_group()  # the same clean exit as the console's ranks
        if os.environ.get("RANK") == "0":
            print("RAW " + json.dumps(result), flush=True)
        return

    import datasets

    from training.engine.tiny_models import build_tiny_model

    datasets.disable_progress_bars()
    root = Path(tempfile.mkdtemp(prefix="rmn-bench-ddp-"))
    model_dir = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
    data_file = root / write_rmis_sft(root, options.rows)
    cfg = bench_config(options.steps, options.batch_size)
    print(f"tiny-llama, 2 gloo ranks, {options.rows} rows, {options.steps} steps, batch {options.batch_size}/rank, "
          f"{options.repeats} interleaved repeats")  # fmt: skip
    ratios, raw_all, con_all = [], [], []
    for r in range(options.repeats):
        runs = {}
        for kind in ("raw", "console") if r % 2 == 0 else ("console", "raw"):
            out = root / f"{kind}-{r}"
            runs[kind] = (
                raw_torchrun(
                    {
                        "model_dir": str(model_dir),
                        "data_file": str(data_file),
                        "cfg": cfg,
                        "out_dir": str(out),
                    }
                )
                if kind == "raw"
                else console_engine(model_dir, data_file, cfg, out)
            )
        ratio = runs["console"]["tokens_per_second"] / runs["raw"]["tokens_per_second"]
        ratios.append(ratio)
        raw_all.append(runs["raw"]["tokens_per_second"])
        con_all.append(runs["console"]["tokens_per_second"])
        print(f"  repeat {r + 1}: raw {raw_all[-1]:8.0f} tok/s ({runs['raw']['num_tokens']} tokens)  "
              f"console {con_all[-1]:8.0f} tok/s ({runs['console']['num_tokens']} tokens)  ratio {ratio:.3f}")  # fmt: skip
    print(
        f"median tokens/s: raw torchrun trl {statistics.median(raw_all):.0f}, console engine {statistics.median(con_all):.0f}"
    )
    print(f"median ratio console/raw: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
