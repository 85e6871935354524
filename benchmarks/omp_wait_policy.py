"""Benchmark: a tiny model's LoRA training steps while a second torch process works, OpenMP busy-waiting vs sleeping.

    .venv/bin/python benchmarks/omp_wait_policy.py [--steps 30] [--repeats 3]

Why it matters: the console runs several torch processes on one host (training, inference and serving workers;
the test suite runs many more). `rmnconsole/__init__.py` sets OMP_WAIT_POLICY=PASSIVE for every console process.
Each repeat trains the tiny Llama (var/cache/tiny-models, `manage.py build_tiny_models`) for --steps steps at batch
16 in a fresh process, once with ACTIVE and once with PASSIVE (order flipped every repeat), while a competing process
multiplies matrices with the same policy; the medians of the train_runtime are compared. Prints
`passive/active = R` (R < 1: sleeping threads are faster under contention).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TRAIN = r"""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.reliability.training_helpers import prompt_completion_rows
from training.engine.config import TrainingConfig
from training.engine.runner import TrainingRun, run_training
d = Path(tempfile.mkdtemp())
(d / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in prompt_completion_rows(24)))
cfg = TrainingConfig(max_steps=int(sys.argv[2]), batch_size=16, checkpoint_steps=10_000, eval_steps=10_000,
                     validation_split=0.0, lora_r=4, lora_alpha=8)
model = Path(sys.argv[1]) / "var/cache/tiny-models/tiny-llama"
result = run_training(TrainingRun("sft", model, d / "x.jsonl", d / "out", d / "stage", cfg), lambda p: None)
print(json.dumps({"runtime": result.final_metrics["train_runtime"]}))
"""

COMPETE = "import torch\na = torch.randn(1024, 512)\nwhile True:\n    a @ a.T\n"


def one(policy: str, steps: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    with tempfile.TemporaryDirectory():
        rival = subprocess.Popen([sys.executable, "-c", COMPETE], env=env)
        try:
            out = subprocess.run(
                [sys.executable, "-c", TRAIN, str(REPO), str(steps)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            ).stdout
        finally:
            rival.kill()
            rival.wait()
    return json.loads(out.strip().splitlines()[-1])["runtime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"ACTIVE": [], "PASSIVE": []}
    for i in range(args.repeats):
        for policy in ("ACTIVE", "PASSIVE") if i % 2 == 0 else ("PASSIVE", "ACTIVE"):
            times[policy].append(one(policy, args.steps))
            print(f"repeat {i + 1} {policy:7s} {times[policy][-1]:.2f} s", flush=True)
    active, passive = statistics.median(times["ACTIVE"]), statistics.median(times["PASSIVE"])
    print(f"median train_runtime: active {active:.2f} s, passive {passive:.2f} s")
    print(f"passive/active = {passive / active:.3f}")


if __name__ == "__main__":
    main()
