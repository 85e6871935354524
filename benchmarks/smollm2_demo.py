"""Benchmark: the demo retailer adapter on SmolLM2-135M-Instruct — base model vs adapter on held-out Alpha records.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/smollm2_demo.py [--heldout 20] [--rows 20000]

What a newcomer does, through the console: seed_demo builds the Alpha mapping's SFT set (demo_alpha_rmis_sft); a
training job with the demo preset (training.engine.config.DEMO_ADAPTER_PRESET) runs on a real RQ training worker.
Then held-out Alpha records — sampled from the same mapping but NOT in the training set (checked) — are answered
greedily by the base model and by base + adapter, both through the console's inference framing (the prompt as one
user turn of the chat template, federation.engine.generate). Scores: the share of answers that parse as a JSON
object, and the share of RMIS fields exactly right (a small local scorer: same key, same value; floats to 1e-6;
an answer that is not JSON gets every field wrong). Also the job's wall time, submit → completed (model load
included), and its train_runtime.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._common import scratch_console  # noqa: E402

BENCH_DB = "bench_rmn_smollm2_demo"
MODEL_NAME = "SmolLM2-135M-Instruct"


def field_scores(answer: str, expected: dict) -> tuple[bool, int]:
    """(the answer parses as a JSON object, how many expected fields it has exactly right)."""
    text = answer.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        got = json.loads(text)
    except ValueError:
        return False, 0
    if not isinstance(got, dict):
        return False, 0
    right = 0
    for key, want in expected.items():
        have = got.get(key, object())
        if isinstance(want, float) or isinstance(have, float):
            ok = isinstance(have, int | float) and not isinstance(have, bool) and want is not None
            ok = ok and math.isclose(float(have), float(want), rel_tol=1e-6, abs_tol=1e-6)
        else:
            ok = have == want
        right += bool(ok)
    return True, right


def score(model, tokenizer, records: list[dict], label: str, batch: int = 10) -> dict:
    """Greedy answers, `batch` prompts at a time: the eval runs' own batched generation (left-padded, same framing)."""
    from federation.evaluation.engine.generation import generate_batch

    valid = right = total = 0
    started = time.monotonic()
    samples = []
    for first in range(0, len(records), batch):
        chunk = records[first : first + batch]
        budget = max(len(tokenizer(r["completion"])["input_ids"]) for r in chunk) + 24
        outputs = generate_batch(
            model, tokenizer, [r["prompt"] for r in chunk], max_new_tokens=budget, seed=0
        )
        for output, record in zip(outputs, chunk, strict=True):
            answer = output.text
            expected = json.loads(record["completion"])
            ok, fields = field_scores(answer, expected)
            valid += ok
            right += fields
            total += len(expected)
            if len(samples) < 2:
                samples.append(answer[:400])
        print(f"    {label}: {first + len(chunk)}/{len(records)} answered", flush=True)
    return {
        "json_valid": valid / len(records),
        "field_accuracy": right / total,
        "records": len(records),
        "seconds": round(time.monotonic() - started, 1),
        "samples": samples,
    }


def train_demo_adapter(dataset, env: dict, root: Path, config: dict) -> dict:
    from rmnconsole.core.queues import TRAINING, get_queue
    from training.models import Adapter, TrainingJob
    from training.services import submit_training_job

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
            "--burst",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        submitted = time.monotonic()
        job = submit_training_job(
            adapter_type="retailer",
            adapter_name="alpha_demo",
            base_model=MODEL_NAME,
            dataset=dataset,
            config=config,
        )
        while True:
            job.refresh_from_db()
            if job.status in TrainingJob.FINISHED:
                break
            time.sleep(5)
        wall = time.monotonic() - submitted
    finally:
        worker.wait(timeout=600)
        log.close()
    if job.status != "completed":
        sys.exit(f"demo job {job.pk} {job.status}: {job.status_reason}\n{job.log[-3000:]}")
    adapter = Adapter.objects.get(source_job=job)
    return {
        "job": job.pk,
        "wall_minutes": round(wall / 60, 2),
        "train_runtime_minutes": round(job.final_metrics["train_runtime"] / 60, 2),
        "final_metrics": job.final_metrics,
        "adapter_dir": str(adapter.abs_path()) if hasattr(adapter, "abs_path") else str(root / adapter.path),
        "log_tail": job.log[-1500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=int, default=10, help="held-out Alpha records to score")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the generated Alpha source")
    parser.add_argument("--max-steps", type=int, help="override the preset's max_steps")
    parser.add_argument("--skip-base", action="store_true", help="score only the adapter")
    options = parser.parse_args()
    folder = REPO / "var" / "cache" / "base-models" / MODEL_NAME
    if not (folder / "config.json").is_file():
        sys.exit(f"{MODEL_NAME} is not in var/cache/base-models (scripts/test.sh imports it once)")

    root, env = scratch_console("rmn-bench-demo-", BENCH_DB, __file__)
    import datasets

    datasets.disable_progress_bars()
    from datasets_app.mappings import demo
    from datasets_app.mappings import services as mapping_services
    from datasets_app.models import Dataset, SchemaMapping
    from training.engine.config import DEMO_ADAPTER_PRESET
    from training.model_registry import register_local_model

    register_local_model(MODEL_NAME, "llama", str(folder), 134_515_008, dtype="float32")
    demo.seed_demo(rows=options.rows)
    train_set = Dataset.objects.get(name="demo_alpha_rmis_sft")
    train_rows = [json.loads(line) for line in train_set.abs_path().read_text().splitlines() if line.strip()]
    # The same hash order with more rows: the first ones are the training sample, the rest were never trained on.
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    wider, _ = mapping_services.build_training_dataset(
        alpha, examples=len(train_rows) + options.heldout, name="heldout_alpha", seed=0
    )
    seen = {r["prompt"] for r in train_rows}
    heldout = [
        r for r in (json.loads(x) for x in wider.abs_path().read_text().splitlines() if x.strip())
        if r["prompt"] not in seen
    ][: options.heldout]  # fmt: skip
    assert len(heldout) == options.heldout, "not enough held-out records"
    config = dict(DEMO_ADAPTER_PRESET)
    if options.max_steps:
        config["max_steps"] = options.max_steps
    print(f"demo set: {len(train_rows)} training examples, {len(heldout)} held-out records; preset {config}")

    import torch
    from peft import PeftModel

    from training.engine.model_files import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(folder)
    base_scores = None
    if not options.skip_base:
        base = load_causal_lm(folder, dtype=torch.float32).eval()
        base_scores = score(base, tokenizer, heldout, "base")
        print(f"base: {json.dumps({k: v for k, v in base_scores.items() if k != 'samples'})}", flush=True)
        del base
    trained = train_demo_adapter(train_set, env, root, config)
    print(
        f"training: job {trained['job']} wall {trained['wall_minutes']} min (submit → completed, model load included), "
        f"train_runtime {trained['train_runtime_minutes']} min; metrics {trained['final_metrics']}",
        flush=True,
    )
    model = PeftModel.from_pretrained(
        load_causal_lm(folder, dtype=torch.float32), trained["adapter_dir"]
    ).eval()
    adapter_scores = score(model, tokenizer, heldout, "adapter")
    result = {
        "heldout_records": len(heldout),
        "training_examples": len(train_rows),
        "preset": config,
        "training_wall_minutes": trained["wall_minutes"],
        "train_runtime_minutes": trained["train_runtime_minutes"],
        "batching": trained["final_metrics"].get("batching"),
        "eval_loss": trained["final_metrics"].get("eval_loss"),
        "base": base_scores,
        "adapter": adapter_scores,
    }
    print("RESULT " + json.dumps(result))
    if base_scores:
        print(
            f"JSON-valid: base {base_scores['json_valid']:.0%} → adapter {adapter_scores['json_valid']:.0%}; "
            f"RMIS fields right: base {base_scores['field_accuracy']:.1%} → adapter {adapter_scores['field_accuracy']:.1%}"
        )
    target = adapter_scores["field_accuracy"] >= 0.90 and trained["wall_minutes"] <= 5
    print(f"target (≥ 90% fields, ≤ 5 min training): {'PASS' if target else 'FAIL'}")


if __name__ == "__main__":
    main()
