"""Pick the device and load a base model for training: local files only, safetensors, optional 4/8-bit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.engine.config import ConfigError
from training.engine.model_files import (
    BaseModelUnavailable,
    check_availability,
    load_causal_lm,
    load_tokenizer,
    refuse_remote_code,
)
from training.engine.process import local_rank, world_size


@dataclass
class Device:
    name: str  # "cpu" or "cuda:0"
    label: str  # shown in the UI, e.g. "cuda:0 NVIDIA H100 80GB HBM3"
    is_cuda: bool
    bf16: bool
    index: int = 0  # the CUDA device of this process (its local rank in a distributed run)


def detect_device() -> Device:
    """This process's device; in a distributed run rank N uses cuda:N (local rank) and the label names the world."""
    import torch

    world, index = world_size(), local_rank()
    ddp = f"{world} × DDP ({'nccl' if torch.cuda.is_available() else 'gloo'}) " if world > 1 else ""
    if torch.cuda.is_available():
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"this rank needs GPU {index} but the host shows {torch.cuda.device_count()} "
                "(check CUDA_VISIBLE_DEVICES and the worker's announced GPU count)"
            )
        name = f"cuda:{index}"
        return Device(
            name,
            f"{ddp}{name} {torch.cuda.get_device_name(index)}",
            True,
            torch.cuda.is_bf16_supported(),
            index,
        )
    return Device("cpu", f"{ddp}cpu", False, False)


def resolve_model_folder(source: str, local_path: str, data_root: Path) -> Path:
    """The folder with the weights on this worker: the registered path if it is here, else a fresh lookup."""
    if local_path and (Path(local_path) / "config.json").is_file():
        return Path(local_path)
    found = check_availability(source, data_root)
    if not found.available:
        raise BaseModelUnavailable(f"{source}: {found.note}")
    return Path(found.path)


def quantization_config(quantization: str, device: Device):
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        # float32 compute on CPU: bitsandbytes' CPU path has no fast half-precision NF4 matmul.
        compute = torch.bfloat16 if device.bf16 else (torch.float16 if device.is_cuda else torch.float32)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def quantization_note(model, quantization: str) -> str | None:
    """A log line that says what quantization the loaded model really has (read from its layers, not the request)."""
    if quantization in ("", "none", None):
        return None
    kinds: dict[str, int] = {}
    for module in model.modules():
        weight = getattr(module, "weight", None)
        kind = getattr(weight, "quant_type", None)
        if kind:
            kinds[kind] = kinds.get(kind, 0) + 1
    if quantization == "4bit":
        if kinds.get("nf4"):
            return f"4-bit NF4 quantization applied (bitsandbytes): {kinds['nf4']} linear layers hold NF4 weights"
        return f"4-bit quantization requested but no NF4 layer was found (found: {kinds or 'none'})"
    int8 = sum(1 for m in model.modules() if type(m).__name__ == "Linear8bitLt")
    return f"8-bit quantization applied (bitsandbytes): {int8} linear layers are int8"


def load_model_and_tokenizer(folder: Path, quantization: str, device: Device):
    """Model + tokenizer from `folder`; BaseModelUnavailable when files are missing, not safetensors, or need remote code."""
    import torch

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BaseModelUnavailable(f"{folder} has no config.json on this worker")
    refuse_remote_code(folder)
    try:
        tokenizer = load_tokenizer(folder)
    except OSError as exc:
        raise BaseModelUnavailable(f"{folder}: no usable tokenizer ({exc})") from exc
    quant = quantization_config(quantization, device)
    if quant is not None:
        dtype = quant.bnb_4bit_compute_dtype if quantization == "4bit" else torch.float32
        device_map = {"": device.index} if device.is_cuda else "cpu"
    else:
        dtype = torch.bfloat16 if device.bf16 else torch.float32
        device_map = None
    try:
        model = load_causal_lm(folder, dtype=dtype, quantization_config=quant, device_map=device_map)
    except OSError as exc:
        raise BaseModelUnavailable(f"{folder}: {exc}") from exc
    return model, tokenizer
