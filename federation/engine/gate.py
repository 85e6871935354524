"""Gated composition: peft X-LoRA, training only its classifier, and saving / loading that classifier ourselves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from peft import PeftModel, XLoraConfig, get_peft_model
from safetensors.torch import load_file, save_file

from federation.engine.data import Example, example_text
from federation.engine.types import MemberSpec

DEFAULT_GATE_CONFIG = {"depth": 1, "size": 64, "softmax_temperature": 1.0, "layerwise": False}


def build_gated(base, members: tuple[MemberSpec, ...], gate_config: dict | None = None) -> PeftModel:
    """Wrap the base in X-LoRA with the members as experts "0", "1", … (X-LoRA requires these keys)."""
    config = {**DEFAULT_GATE_CONFIG, **(gate_config or {})}
    # X-LoRA recomputes the whole sequence each step and refuses a model whose config says use_cache.
    base.config.use_cache = False
    xlora_config = XLoraConfig(
        task_type="CAUSAL_LM",
        hidden_size=base.config.hidden_size,
        adapters={str(i): str(m.path) for i, m in enumerate(members)},
        xlora_depth=int(config["depth"]),
        xlora_size=int(config["size"]),
        softmax_temperature=float(config["softmax_temperature"]),
        layerwise_scalings=bool(config["layerwise"]),
        enable_softmax=True,
    )
    model = get_peft_model(base, xlora_config)
    model.eval()
    return model


def classifier(model: PeftModel) -> torch.nn.Module:
    return model.base_model.internal_xlora_classifier


def save_gate(model: PeftModel, path: Path) -> Path:
    """peft's save_pretrained drops the classifier weights: write its state_dict to safetensors ourselves."""
    state = {key: value.detach().contiguous().cpu() for key, value in classifier(model).state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def load_gate(model: PeftModel, path: Path) -> None:
    gate = classifier(model)
    device = next(gate.parameters()).device
    gate.load_state_dict(load_file(str(path), device=str(device)), strict=True)


def train_gate(
    model: PeftModel,
    tokenizer,
    examples: list[Example],
    *,
    steps: int,
    learning_rate: float = 1e-3,
    batch_size: int = 4,
    max_length: int = 256,
    seed: int = 0,
    on_step: Callable[[int, int, float], bool] | None = None,
) -> dict:
    """Train only the classifier with the LM loss on the examples; on_step returns False to stop."""
    if not examples:
        raise ValueError("no training examples for the gate")
    texts = [example_text(tokenizer, e) for e in examples]
    gate = classifier(model)
    for param in model.parameters():
        param.requires_grad = False
    for param in gate.parameters():
        param.requires_grad = True
    optimizer = torch.optim.AdamW(gate.parameters(), lr=learning_rate)
    device = next(gate.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    gate.train()
    losses: list[float] = []
    try:
        for step in range(1, steps + 1):
            picks = torch.randint(len(texts), (batch_size,), generator=generator).tolist()
            batch = tokenizer(
                [texts[i] for i in picks],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
                add_special_tokens=False,
            ).to(device)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            loss = model(**batch, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if on_step is not None and on_step(step, steps, losses[-1]) is False:
                break
    finally:
        gate.eval()
        for param in gate.parameters():
            param.requires_grad = False
    tail = losses[-10:]
    return {"steps": len(losses), "first_loss": losses[0], "final_loss": sum(tail) / len(tail)}


def routing_shares(model: PeftModel) -> list[float]:
    """Mean softmax routing over every generated token (the last position of each forward) and every layer."""
    log = model.base_model.get_scalings_log()
    if not log:
        return []
    per_token = torch.stack([entry[:, -1].float().mean(dim=(0, 1)) for entry in log])
    shares = per_token.mean(dim=0)
    shares = shares / shares.sum()
    return [float(s) for s in shares]


class ScalingsLog:
    """Context manager: log the gate's scalings during one generation, then clear the log."""

    def __init__(self, model: PeftModel) -> None:
        self.model = model

    def __enter__(self) -> ScalingsLog:
        self.model.base_model.clear_scalings_log()
        self.model.base_model.enable_scalings_logging()
        return self

    def __exit__(self, *exc) -> None:
        self.model.base_model.disable_scalings_logging()
        self.model.base_model.clear_scalings_log()
