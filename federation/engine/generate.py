"""Timed generation: total latency, time to first token (via a streamer), tokens per second."""

from __future__ import annotations

import time

import torch
from transformers.generation.streamers import BaseStreamer

from federation.engine.types import GenerationParams, GenerationResult


class TimingStreamer(BaseStreamer):
    """generate() puts the prompt first, then each new token: the second put is the first token."""

    def __init__(self) -> None:
        self.puts = 0
        self.first_token_at: float | None = None

    def put(self, value) -> None:
        self.puts += 1
        if self.puts == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        return None


def format_prompt(tokenizer, prompt: str) -> str:
    """The user's text as one user turn of the model's chat template (raw text when it has none)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    return prompt


def encode_prompt(tokenizer, prompt: str, device) -> dict:
    text = format_prompt(tokenizer, prompt)
    encoded = tokenizer(
        text, return_tensors="pt", add_special_tokens=not getattr(tokenizer, "chat_template", None)
    )
    return {key: value.to(device) for key, value in encoded.items()}


def _sync(device) -> None:
    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def generate_timed(model, tokenizer, prompt: str, params: GenerationParams) -> GenerationResult:
    """One prompt → one response with its timings; same seed and params give the same tokens."""
    device = next(model.parameters()).device
    inputs = encode_prompt(tokenizer, prompt, device)
    prompt_len = int(inputs["input_ids"].shape[1])
    sampling = params.temperature > 0
    gen_kwargs = {
        "max_new_tokens": params.max_new_tokens,
        "do_sample": sampling,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if params.min_new_tokens:
        gen_kwargs["min_new_tokens"] = params.min_new_tokens
    if sampling:
        gen_kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
    else:
        # Greedy: blank the sampling knobs a model's generation_config may carry, or transformers warns per call.
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(params.seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(params.seed)
    streamer = TimingStreamer()
    _sync(device)
    started = time.perf_counter()
    output = model.generate(**inputs, streamer=streamer, **gen_kwargs)
    _sync(device)
    finished = time.perf_counter()
    new_tokens = output[0, prompt_len:]
    generated = int(new_tokens.shape[0])
    latency = finished - started
    ttft = (streamer.first_token_at - started) if streamer.first_token_at else None
    return GenerationResult(
        text=tokenizer.decode(new_tokens, skip_special_tokens=True).strip(),
        prompt_tokens=prompt_len,
        generated_tokens=generated,
        latency_ms=latency * 1000.0,
        ttft_ms=ttft * 1000.0 if ttft is not None else None,
        tokens_per_second=generated / latency if latency > 0 and generated else None,
    )
