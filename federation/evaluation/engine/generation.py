"""Batched greedy generation for eval runs: left padding, a fixed seed and fixed parameters.

Left padding keeps every prompt's last token next to its first new token, so a batch gives the same greedy
tokens as one-by-one generation (benchmarks/eval_throughput.py checks it). A case's latency is the wall time of
its batch: the time that case waited for its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from federation.engine.generate import format_prompt


@dataclass
class CaseOutput:
    text: str
    generated_tokens: int
    latency_ms: float
    finished: bool  # False: the output hit max_new_tokens without ending (a runaway generation)


def _sync(device) -> None:
    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def generate_batch(
    model, tokenizer, prompts: list[str], *, max_new_tokens: int, seed: int
) -> list[CaseOutput]:
    """One batch of prompts → one greedy output each."""
    device = next(model.parameters()).device
    texts = [format_prompt(tokenizer, p) for p in prompts]
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        encoded = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=not getattr(tokenizer, "chat_template", None),
        )
    finally:
        tokenizer.padding_side = previous_side
    encoded = {k: v.to(device) for k, v in encoded.items()}
    torch.manual_seed(seed)
    _sync(device)
    started = time.perf_counter()
    output = model.generate(
        **encoded,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        temperature=None,
        top_p=None,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    _sync(device)
    latency_ms = (time.perf_counter() - started) * 1000.0
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    width = encoded["input_ids"].shape[1]
    results = []
    for row in output[:, width:].tolist():
        length = next((i for i, tok in enumerate(row) if tok in stops), None)
        kept = row if length is None else row[:length]
        results.append(
            CaseOutput(
                text=tokenizer.decode(kept, skip_special_tokens=True).strip(),
                generated_tokens=len(kept),
                latency_ms=latency_ms,
                finished=length is not None,
            )
        )
    return results


def generate_all(
    model,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
    on_batch: Callable[[int], bool] | None = None,
) -> list[CaseOutput] | None:
    """Every prompt in batches of `batch_size`; `on_batch(done)` returning False stops early (→ None: cancelled)."""
    outputs: list[CaseOutput] = []
    for start in range(0, len(prompts), max(1, batch_size)):
        outputs += generate_batch(
            model, tokenizer, prompts[start : start + batch_size], max_new_tokens=max_new_tokens, seed=seed
        )
        if on_batch is not None and not on_batch(len(outputs)):
            return None
    return outputs


def latency_summary(outputs: list[CaseOutput], wall_seconds: float) -> dict:
    import numpy as np

    latencies = [o.latency_ms for o in outputs]
    tokens = sum(o.generated_tokens for o in outputs)
    return {
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
        "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else None,
        "generated_tokens": tokens,
        "tokens_per_second": tokens / wall_seconds if wall_seconds > 0 and tokens else None,
        "cases_per_second": len(outputs) / wall_seconds if wall_seconds > 0 else None,
        "runaway_cases": sum(1 for o in outputs if not o.finished),
    }
