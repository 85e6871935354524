"""Benchmark: generation latency of each composition as a ratio to the base, and first vs second prompt on the worker.

    .venv/bin/python benchmarks/federation_latency.py [--repeats 9] [--new-tokens 32] [--skip-worker] [--json OUT]

Part 1 (in process): a fixed prompt, exactly N new tokens, greedy, for base / one adapter / additive unmerged /
additive merged / gated (X-LoRA) / sequential (2 stages), interleaved round-robin so machine noise hits every
variant alike; each median is shown as a ratio to the base's median (target: merged <= 1.05 x base).
Part 2 (real worker): a throwaway SQLite database and data root, a real `rqworker --worker-class SimpleWorker
inference` process, two prompts on one federation: the first loads the model, the second must come from the cache
(target: the second prompt's generate time <= 1.1 x the in-process generate time of the same composition).
Redis: $REDIS_URL or redis://127.0.0.1:6379/15 (a database a running console does not use).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PROMPT = "Plan a grocery budget for amazon across sponsored_product and sponsored_brand."


def make_small_model(tiny: Path, folder: Path) -> Path:
    """A random Llama big enough that matmuls, not Python overhead, dominate (tiny-llama's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from training.engine.tiny_models import model_config

    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    config = model_config(
        "llama",
        tokenizer,
        hidden_size=512,
        intermediate_size=1408,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=1024,
    )
    torch.manual_seed(0)
    out = folder / "small-llama"
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def make_adapters(base: Path, folder: Path) -> tuple[Path, Path]:
    """Two LoRA adapters with non-zero weights (latency does not depend on what they learned)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from training.engine.model_files import load_causal_lm

    paths = []
    for index, targets in enumerate((["q_proj", "v_proj"], ["q_proj", "v_proj", "o_proj"])):
        torch.manual_seed(index)
        config = LoraConfig(
            r=16, lora_alpha=32, target_modules=targets, init_lora_weights=False, task_type="CAUSAL_LM"
        )
        model = get_peft_model(load_causal_lm(base), config)
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data *= 0.05  # small deltas: the text stays sane, the compute is the same
        out = folder / f"adapter{index}"
        model.save_pretrained(out)
        paths.append(out)
    return paths[0], paths[1]


def in_process(
    base: Path, adapters: tuple[Path, Path], repeats: int, new_tokens: int, quick: bool = False
) -> dict:
    import torch

    from federation.engine import runtime
    from federation.engine.generate import generate_timed
    from federation.engine.loading import load_base
    from federation.engine.types import (
        ADDITIVE,
        GATED,
        SEQUENTIAL,
        CompositionSpec,
        GenerationParams,
        MemberSpec,
    )

    members = (
        MemberSpec("retailer", adapters[0], 1.0, "retailer"),
        MemberSpec("task", adapters[1], 1.0, "task"),
    )
    base_model, tokenizer = load_base(base)
    # A second, identical copy of the base measured the same way: its ratio is the noise floor of this run, the
    # yardstick for the merged model (which has the base's exact architecture).
    base_copy, _ = load_base(base)
    variants = {
        "base": lambda p: generate_timed(base_model, tokenizer, PROMPT, p).latency_ms,
        "base (second copy)": lambda p: generate_timed(base_copy, tokenizer, PROMPT, p).latency_ms,
    }
    built = {
        "one adapter": runtime.build(CompositionSpec(base, ADDITIVE, members[:1])),
        "additive (unmerged)": runtime.build(CompositionSpec(base, ADDITIVE, members)),
        "additive (merged)": runtime.build(CompositionSpec(base, ADDITIVE, members, merged=True)),
    }
    if not quick:
        built["gated (X-LoRA)"] = runtime.build(CompositionSpec(base, GATED, members))
        built["sequential (2 stages)"] = runtime.build(CompositionSpec(base, SEQUENTIAL, members))
    for name, composed in built.items():
        variants[name] = lambda p, c=composed: c.run(PROMPT, p).latency_ms
    params = GenerationParams(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    for run in variants.values():  # warm-up: first calls pay for lazy initialisation
        run(params)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            times[name].append(variants[name](params))
    medians = {name: statistics.median(values) for name, values in times.items()}
    additive = built["additive (unmerged)"]
    return additive, {
        "device": str(built["one adapter"].device),
        "threads": torch.get_num_threads(),
        "medians_ms": medians,
        "ratios": {name: medians[name] / medians["base"] for name in names},
    }


def _wait_for_worker(process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Submit only once the worker listens: "first prompt" then measures the model load, not the process boot."""
    from rq import Worker

    from rmnconsole.core.queues import get_queue

    queue = get_queue("inference")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Worker.all(queue=queue):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit(f"the inference worker did not start:\n{log.read_text()[-2000:]}")


def through_worker(base: Path, adapters: tuple[Path, Path], new_tokens: int, local, prompts: int) -> dict:
    """One miss, then cache hits; each hit is paired with the same generate in this process (interleaved)."""
    from federation.engine.types import GenerationParams

    params = GenerationParams(max_new_tokens=new_tokens)
    scratch = Path(tempfile.mkdtemp(prefix="rmn-fed-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rmnconsole.settings",
        "RMN_DATA_ROOT": str(scratch / "data"),
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    }
    os.environ.update(env)
    import django

    django.setup()
    import shutil

    from django.core.management import call_command

    from federation import runs, services
    from federation.models import InferenceRun
    from rmnconsole.core.paths import ADAPTERS, data_dir, relative_to_root
    from training.model_registry import register_local_model
    from training.models import Adapter

    call_command("migrate", verbosity=0)
    llama = register_local_model("bench-llama", "llama", str(base), 0, dtype="float32", is_tiny=True)
    rows = []
    for index, (path, kind) in enumerate(zip(adapters, ("retailer", "task"), strict=True)):
        target = data_dir(ADAPTERS) / f"bench{index}"
        shutil.copytree(path, target)
        config = json.loads((target / "adapter_config.json").read_text())
        rows.append(
            Adapter.objects.create(
                adapter_type=kind,
                name=f"bench{index}",
                version=1,
                base_model=llama,
                rank=config["r"],
                alpha=config["lora_alpha"],
                path=relative_to_root(target),
                size_bytes=(target / "adapter_model.safetensors").stat().st_size,
            )
        )
    federation = services.create_federation(
        name="bench", base_model=llama, members=[services.MemberInput(r) for r in rows], method="additive"
    )
    log = open(scratch / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "manage.py"),
            "rqworker",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "inference",
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_worker(worker, scratch / "worker.log")
        results, local_ms = [], []
        for index in range(max(2, prompts)):
            if index:
                local_ms.append(local.run(PROMPT, params).latency_ms)
            run = runs.submit_inference(federation, PROMPT, max_new_tokens=new_tokens)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.is_finished:
                    break
                time.sleep(0.05)  # a slow poll: the benchmark must not steal CPU from the worker
            if run.status != InferenceRun.Status.COMPLETED:
                raise SystemExit(
                    f"worker run {run.pk} ended {run.status}: {run.error}\n{(scratch / 'worker.log').read_text()[-2000:]}"
                )
            results.append(
                {
                    "cache_hit": run.cache_hit,
                    "load_ms": run.load_ms,
                    "generate_ms": run.latency_ms,
                    "queue_to_done_ms": (run.finished_at - run.created_at).total_seconds() * 1000.0,
                    "generated_tokens": run.generated_tokens,
                }
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    first, second, hits = results[0], results[1], results[1:]
    hit_median = statistics.median(r["generate_ms"] for r in hits)
    local_median = statistics.median(local_ms)
    return {
        "first": first,
        "second": second,
        "hits": len(hits),
        "all_hits": all(r["cache_hit"] for r in hits),
        "hit_generate_median_ms": hit_median,
        "in_process_median_ms": local_median,
        "second_vs_in_process": second["generate_ms"] / local_ms[0],
        "hits_vs_in_process": hit_median / local_median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--base", type=Path, help="a causal-LM folder (overrides --model)")
    parser.add_argument(
        "--model",
        choices=("small", "tiny", "smollm2"),
        default="small",
        help="small: random 8-layer Llama (~27M params, compute-bound); tiny: the test model; "
        "smollm2: SmolLM2-135M-Instruct from var/cache/base-models (scripts/test.sh imports it)",
    )
    parser.add_argument(
        "--worker-prompts", type=int, default=6, help="prompts through the worker (1 miss + hits)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads here and in the worker (1: robust to a busy CPU)",
    )
    parser.add_argument("--skip-worker", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="base, adapters and additive only (no gated/sequential)"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")
    # Before torch is imported, and inherited by the worker process: both sides compute with the same threads.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        if args.base is None and args.model == "smollm2":
            args.base = REPO / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"
            if not (args.base / "config.json").is_file():
                sys.exit(
                    "SmolLM2-135M-Instruct is not in var/cache/base-models (scripts/test.sh imports it once)"
                )
        if args.base is None:
            from training.engine.tiny_models import build_tiny_model

            tiny = build_tiny_model("tiny-llama", REPO / "var" / "cache" / "tiny-models" / "tiny-llama").path
            args.base = tiny if args.model == "tiny" else make_small_model(tiny, Path(folder))
        adapters = make_adapters(args.base, Path(folder))
        local, numbers = in_process(args.base, adapters, args.repeats, args.new_tokens, args.quick)
        report = {"new_tokens": args.new_tokens, "repeats": args.repeats, **numbers}
        print(
            f"\nGeneration latency, {args.new_tokens} new tokens, greedy, median of {args.repeats} interleaved "
            f"repeats on {report['device']} ({report['threads']} thread(s)):\n"
        )
        print("| composition | median ms | ratio to base |\n|---|---:|---:|")
        for name, ratio in report["ratios"].items():
            print(f"| {name} | {report['medians_ms'][name]:.1f} | {ratio:.2f}x |")
        merged = report["ratios"]["additive (merged)"]
        floor = report["ratios"]["base (second copy)"]
        print(
            f"\nmerged <= 1.05 x base: {'PASS' if merged <= 1.05 else 'FAIL'} ({merged:.3f}); noise floor of this run: "
            f"an identical base copy = {floor:.3f}x"
        )
        if not args.skip_worker:
            worker = through_worker(args.base, adapters, args.new_tokens, local, args.worker_prompts)
            report["worker"] = worker
            print(
                f"\nThrough the inference worker (additive federation, the same prompt {max(2, args.worker_prompts)} times):\n"
            )
            print(
                "| prompt | cache | load ms | generate ms | tokens | submit -> done ms |\n|---|---|---:|---:|---:|---:|"
            )
            for label in ("first", "second"):
                row = worker[label]
                print(
                    f"| {label} | {'hit' if row['cache_hit'] else 'miss'} | {row['load_ms']:.0f} | "
                    f"{row['generate_ms']:.1f} | {row['generated_tokens']} | {row['queue_to_done_ms']:.0f} |"
                )
            ratio = worker["hits_vs_in_process"]
            print(
                f"\ncache hits: {worker['all_hits']}; worker generate (median of {worker['hits']} hits) "
                f"{worker['hit_generate_median_ms']:.1f} ms vs the same generate in process, interleaved "
                f"{worker['in_process_median_ms']:.1f} ms = {ratio:.2f}x "
                f"(second prompt alone {worker['second_vs_in_process']:.2f}x); "
                f"target <= 1.1x: {'PASS' if ratio <= 1.1 else 'FAIL'}"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
