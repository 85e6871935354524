"""The starting adapter of a federated run: the base model + a fresh LoRA (seeded), saved in PEFT format.

The console writes it into the run folder before the run; the ServerApp sends it as round 1's global adapter,
and its adapter_config.json is what the final aggregated adapter is registered with.
"""

from __future__ import annotations

from pathlib import Path

from training.engine.config import TrainingConfig
from training.engine.loading import Device, load_model_and_tokenizer
from training.engine.runner import _lora_config


def write_initial_adapter(model_folder: Path, config: TrainingConfig, target: Path) -> Path:
    import torch
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    model, _ = load_model_and_tokenizer(model_folder, "none", Device("cpu", "cpu", False, False))
    peft_model = get_peft_model(model, _lora_config(config))
    peft_model.save_pretrained(target, safe_serialization=True)
    return target
