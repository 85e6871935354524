"""Benchmark: eval-run throughput, batched greedy generation vs one prompt at a time, same run.

    .venv/bin/python benchmarks/eval_throughput.py [--model PATH | --model tiny] [--cases 100] [--batch-size 16]
                                                   [--new-tokens 32] [--repeats 3] [--json OUT]

A 100-case suite of RMIS mapping prompts (the kind the console evaluates), greedy, a fixed seed. Each repeat runs
both ways, alternating which goes first (interleaved, so machine noise hits both alike); the medians of cases/s are
printed with their ratio (target: batched >= 3x one-by-one). The one-by-one baseline is the inference path's own
generate_timed; batched is the eval engine's left-padded generate_batch. Outputs are compared case by case: greedy
with left padding must give the same text (the count of differing cases is printed; the exit status is 1 if any).
Default model: SmolLM2-135M-Instruct at var/cache/base-models/SmolLM2-135M-Instruct; `--model tiny` uses tiny-llama.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SMOLLM2 = REPO / "var" / "cache" / "base-models" / "SmolLM2-135M-Instruct"


def suite_prompts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for i in range(count):
        record = {
            "event_id": f"evt-{i:05d}",
            "adType": rng.choice(["sp", "SPONSORED_PRODUCTS", "search_ad", "display"]),
            "cost_micros": rng.randint(1000, 9_999_999),
            "clicks": rng.randint(0, 400),
            "ts": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00-05:00",
        }
        prompts.append(
            "Map this retailer record to the RMIS schema (field names, enums, units and UTC time). "
            f"Answer with the RMIS record as JSON only.\n\nRecord:\n{json.dumps(record)}"
        )
    return prompts


def resolve_model(value: str | None) -> Path:
    if value == "tiny":
        from training.engine.tiny_models import TINY_MODELS, build_tiny_model

        cache = REPO / "var" / "cache" / "tiny-models"
        return (
            build_tiny_model("tiny-llama", cache / "tiny-llama").path if "tiny-llama" in TINY_MODELS else None
        )
    path = Path(value) if value else SMOLLM2
    if not (path / "config.json").is_file():
        sys.exit(f"no model folder at {path} (build SmolLM2 first, or pass --model tiny)")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from federation.engine.generate import generate_timed
    from federation.engine.loading import load_base
    from federation.engine.types import GenerationParams
    from federation.evaluation.engine.generation import generate_all

    path = resolve_model(args.model)
    model, tokenizer = load_base(path)
    prompts = suite_prompts(args.cases)
    params = GenerationParams(max_new_tokens=args.new_tokens, seed=0)
    print(f"model {path.name} on {next(model.parameters()).device}, {args.cases} cases, "
          f"{args.new_tokens} new tokens max, batch {args.batch_size}, {torch.get_num_threads()} threads")  # fmt: skip

    def batched() -> list[str]:
        outs = generate_all(
            model, tokenizer, prompts, max_new_tokens=args.new_tokens, seed=0, batch_size=args.batch_size
        )
        return [o.text for o in outs]

    def one_by_one() -> list[str]:
        return [generate_timed(model, tokenizer, p, params).text for p in prompts]

    rates: dict[str, list[float]] = {"batched": [], "one_by_one": []}
    texts: dict[str, list[str]] = {}
    for repeat in range(args.repeats):
        order = [("batched", batched), ("one_by_one", one_by_one)]
        if repeat % 2:
            order.reverse()
        for name, run in order:
            started = time.perf_counter()
            texts[name] = run()
            seconds = time.perf_counter() - started
            rates[name].append(args.cases / seconds)
            print(
                f"  repeat {repeat + 1} {name:10s} {seconds:7.1f} s  {args.cases / seconds:6.2f} cases/s",
                flush=True,
            )
    medians = {k: statistics.median(v) for k, v in rates.items()}
    ratio = medians["batched"] / medians["one_by_one"]
    differing = [
        i for i, (a, b) in enumerate(zip(texts["batched"], texts["one_by_one"], strict=True)) if a != b
    ]
    print(f"median cases/s: batched {medians['batched']:.2f}, one-by-one {medians['one_by_one']:.2f}")
    print(f"ratio batched / one-by-one: {ratio:.2f}x (target >= 3x)")
    print(
        f"identical outputs: {args.cases - len(differing)}/{args.cases}"
        + (f" (differ: {differing[:10]})" if differing else "")
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"medians": medians, "ratio": ratio, "rates": rates, "differing": differing})
        )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
