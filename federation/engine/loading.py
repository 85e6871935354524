"""Loading a base model and a federation's member adapters onto one device (one copy of the base, N adapters)."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from federation.engine.types import MemberSpec
from training.engine.model_files import load_causal_lm, load_tokenizer


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def member_name(index: int) -> str:
    """Adapter names inside one PeftModel: m0, m1, … in member order."""
    return f"m{index}"


def load_base(base_path: Path, device: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    device = device or pick_device()
    tokenizer = load_tokenizer(base_path)
    model = load_causal_lm(base_path, dtype="auto")
    model.to(device)
    model.eval()
    return model, tokenizer


def load_members(base: PreTrainedModel, members: tuple[MemberSpec, ...]) -> PeftModel:
    """Every member adapter on the same base: the switch between them is set_adapter, never a reload."""
    if not members:
        raise ValueError("a federation needs at least one adapter")
    for member in members:
        # peft would fall back to a pickled adapter_model.bin: only safetensors weights are ever loaded here.
        if not (Path(member.path) / "adapter_model.safetensors").is_file():
            raise ValueError(
                f"{member.label} has no adapter_model.safetensors; only safetensors adapters are loaded"
            )
    peft_model = PeftModel.from_pretrained(base, str(members[0].path), adapter_name=member_name(0))
    for index, member in enumerate(members[1:], start=1):
        peft_model.load_adapter(str(member.path), adapter_name=member_name(index))
    peft_model.eval()
    return peft_model


def lora_layers(model: torch.nn.Module):
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            yield name, module


def set_member_scale(peft_model: PeftModel, adapter: str, weight: float) -> None:
    """Scale one adapter's delta to weight × (alpha / r): the member's weight, applied without touching its tensors."""
    for _name, layer in lora_layers(peft_model):
        layer.set_scale(adapter, weight)
