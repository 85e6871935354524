"""Finding and loading base models: a local folder or the Hugging Face cache, never the network.

The same loader serves the tiny test models and real 7–8B models: safetensors only, no remote code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class BaseModelUnavailable(RuntimeError):
    """The base model is neither in a local folder nor in the Hugging Face cache."""


@dataclass
class Availability:
    available: bool
    path: str
    note: str


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def check_availability(source: str, data_root: Path) -> Availability:
    """Where the weights of `source` are on this machine, and if not, a sentence saying so."""
    candidate = Path(source)
    if not candidate.is_absolute():
        candidate = data_root / source
    if candidate.is_dir():
        if _has_weights(candidate):
            return Availability(True, str(candidate.resolve()), "local folder")
        return Availability(False, "", f"{candidate} has no config.json + *.safetensors")
    if "/" in source and not source.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            folder = Path(
                snapshot_download(source, local_files_only=True, allow_patterns=["*.json", "*.safetensors"])
            )
        except Exception:
            return Availability(
                False,
                "",
                f"not in the Hugging Face cache on this host — download {source} there or register a local path",
            )
        if _has_weights(folder):
            return Availability(True, str(folder), "Hugging Face cache")
        return Availability(
            False, "", "in the Hugging Face cache without safetensors weights (only safetensors are loaded)"
        )
    return Availability(False, "", f"{source} is neither a folder under the data root nor a Hugging Face id")


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: str | Path, *, dtype=None, quantization_config=None, device_map=None):
    """Load a causal LM from a resolved local folder: safetensors only, no remote code, offline."""
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    if not _has_weights(folder):
        raise BaseModelUnavailable(f"{folder} has no safetensors weights; only safetensors are loaded")
    kwargs = {"trust_remote_code": False, "local_files_only": True, "use_safetensors": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    return AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)


def refuse_remote_code(folder: Path) -> None:
    """A model whose config asks for custom code (auto_map) is refused: trust_remote_code is always off."""
    import json

    if json.loads((folder / "config.json").read_text()).get("auto_map"):
        raise BaseModelUnavailable(
            f"{folder} needs custom model code (auto_map) and trust_remote_code is off"
        )


def load_skeleton(path: str | Path):
    """The base model's module tree with no weights: each parameter is a zero-byte broadcast of one zero.

    Enough for work that reads only LoRA tensors (composing adapters, their fidelity): an 8B model's skeleton
    builds in ~0.05 s with no weight memory, where loading it would take a minute and 16 GB.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise BaseModelUnavailable(f"{folder} has no config.json")
    refuse_remote_code(folder)
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            empty = torch.zeros((), dtype=param.dtype).expand(param.shape)
            module._parameters[name] = torch.nn.Parameter(empty, requires_grad=False)
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is not None and buffer.is_meta:
                module._buffers[name] = torch.zeros((), dtype=buffer.dtype).expand(buffer.shape)
    return model.eval()
