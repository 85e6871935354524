"""A PEFT LoRA adapter as a llama.cpp / Ollama GGUF LoRA adapter, and the check that reads it back.

Layout as llama.cpp's convert_lora_to_gguf.py writes it: general.type = "adapter", adapter.type = "lora",
adapter.lora.alpha (float32), and for every adapted weight `<gguf base tensor name>.lora_a` (r × in) and
`.lora_b` (out × r). llama.cpp applies ΔW = alpha / r · B·A. Like the converter (via convert_hf_to_gguf's llama
permute) the rows of q_proj/k_proj's B are permuted into GGUF's rotary layout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import gguf
import numpy as np
import torch
from safetensors.torch import load_file

SUPPORTED = {"llama": gguf.MODEL_ARCH.LLAMA, "mistral": gguf.MODEL_ARCH.LLAMA}


class GgufExportError(ValueError):
    """The adapter cannot be expressed as a GGUF LoRA adapter (the message says why)."""


def _permute(rows: torch.Tensor, n_head: int, n_head_kv: int | None) -> torch.Tensor:
    """convert_hf_to_gguf's LlamaModel.permute, applied to B's rows (LoraTorchTensor does the same)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


def _layer_scale(config: dict, module: str, rank: int) -> float:
    """PEFT's scaling for one module: alpha/r, or alpha/sqrt(r) with rsLoRA; patterns override per module."""
    alpha = float(config.get("lora_alpha", rank))
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if module.endswith(pattern) or pattern in module:
            alpha = float(value)
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def gguf_pairs(
    adapter_dir: Path, base_config: dict
) -> tuple[float, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """(alpha written, {gguf name: (A, B')}) where alpha/r · B'·A equals PEFT's ΔW in GGUF's layout."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    model_type = base_config.get("model_type", "")
    if model_type not in SUPPORTED:
        raise GgufExportError(f"GGUF export supports llama and mistral bases, not {model_type!r}.")
    if config.get("use_dora"):
        raise GgufExportError("DoRA adapters have no GGUF LoRA form; export the merged model instead.")
    if config.get("modules_to_save"):
        raise GgufExportError(
            "The adapter trains whole modules (modules_to_save); export the merged model instead."
        )
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"), device="cpu")
    names = gguf.get_tensor_name_map(SUPPORTED[model_type], int(base_config["num_hidden_layers"]))
    n_head = int(base_config["num_attention_heads"])
    n_kv = base_config.get("num_key_value_heads")
    alpha = float(config.get("lora_alpha", config.get("r", 8)))
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for key, a in weights.items():
        if ".lora_A." not in key:
            if ".lora_B." in key:
                continue
            raise GgufExportError(
                f"Unexpected tensor {key!r}: only LoRA A/B matrices can go into a GGUF adapter."
            )
        b = weights[key.replace(".lora_A.", ".lora_B.")]
        module = key.replace("base_model.model.", "").split(".lora_A.")[0]
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None:
            raise GgufExportError(
                f"No GGUF tensor for {module!r} (only transformer linear layers are supported)."
            )
        a, b = a.float(), b.float()
        rank = a.shape[0]
        # Fold what a single global alpha/r cannot say (rsLoRA, alpha or rank patterns) into B: exact.
        b = b * (_layer_scale(config, module, rank) * rank / alpha)
        if module.endswith("q_proj"):
            b = _permute(b, n_head, n_head)
        elif module.endswith("k_proj"):
            b = _permute(b, n_head, n_kv)
        pairs[target] = (a.contiguous(), b.contiguous())
    if not pairs:
        raise GgufExportError("The adapter has no LoRA weights.")
    return alpha, pairs


def write_gguf_adapter(adapter_dir: Path, base_config: dict, destination: Path, *, name: str) -> Path:
    """Write the GGUF LoRA adapter (float32) to `destination`."""
    alpha, pairs = gguf_pairs(adapter_dir, base_config)
    writer = gguf.GGUFWriter(str(destination), gguf.MODEL_ARCH_NAMES[SUPPORTED[base_config["model_type"]]])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for target, (a, b) in sorted(pairs.items()):
        writer.add_tensor(f"{target}.lora_a", a.numpy().astype(np.float32))
        writer.add_tensor(f"{target}.lora_b", b.numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return destination


def read_gguf_deltas(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a GGUF LoRA adapter back: its metadata and every ΔW = alpha/r · B·A, keyed by GGUF base tensor name."""
    reader = gguf.GGUFReader(str(path))
    meta = {}
    for field in reader.fields.values():
        if field.name in ("general.type", "adapter.type", "general.architecture", "general.name"):
            meta[field.name] = bytes(field.parts[field.data[0]]).decode()
        elif field.name == "adapter.lora.alpha":
            meta[field.name] = float(field.parts[field.data[0]][0])
    tensors = {t.name: torch.from_numpy(np.array(t.data, dtype=np.float32)) for t in reader.tensors}
    alpha = meta["adapter.lora.alpha"]
    deltas = {}
    for name, a in tensors.items():
        if not name.endswith(".lora_a"):
            continue
        base = name.removesuffix(".lora_a")
        b = tensors[base + ".lora_b"]
        deltas[base] = (alpha / a.shape[0]) * (b @ a)
    return meta, deltas


def peft_deltas(adapter_dir: Path, base_config: dict) -> dict[str, torch.Tensor]:
    """PEFT's own ΔW per adapted module (scaling · B·A, from the adapter files), in GGUF's names and row layout."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"), device="cpu")
    names = gguf.get_tensor_name_map(
        SUPPORTED[base_config["model_type"]], int(base_config["num_hidden_layers"])
    )
    n_head, n_kv = int(base_config["num_attention_heads"]), base_config.get("num_key_value_heads")
    out = {}
    for key, a in weights.items():
        if ".lora_A." not in key:
            continue
        module = key.replace("base_model.model.", "").split(".lora_A.")[0]
        b = weights[key.replace(".lora_A.", ".lora_B.")].float()
        delta = _layer_scale(config, module, a.shape[0]) * (b @ a.float())
        if module.endswith("q_proj"):
            delta = _permute(delta, n_head, n_head)
        elif module.endswith("k_proj"):
            delta = _permute(delta, n_head, n_kv)
        out[names.get_name(module + ".weight", try_suffixes=(".weight",))] = delta
    return out


def max_relative_error(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> float:
    if set(expected) != set(got):
        raise GgufExportError(
            f"GGUF tensors differ from the adapter's: {sorted(set(expected) ^ set(got))[:4]}"
        )
    worst = 0.0
    for name, delta in expected.items():
        norm = float(torch.linalg.norm(delta)) or 1.0
        worst = max(worst, float(torch.linalg.norm(got[name] - delta)) / norm)
    return worst
