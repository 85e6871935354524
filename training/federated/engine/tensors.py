"""Adapter tensors on the wire and on disk: numpy dicts, safetensors files, the example-weighted average."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def save_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    tmp.replace(path)  # readers never see half a file


def load_arrays(path: Path) -> OrderedDict[str, np.ndarray]:
    from safetensors.numpy import load_file

    loaded = load_file(str(path))
    return OrderedDict((k, loaded[k]) for k in sorted(loaded))


def weighted_average(adapters: list[dict[str, np.ndarray]], weights: list[float]) -> dict[str, np.ndarray]:
    """Σ wᵢ·xᵢ / Σ wᵢ per tensor (FedAvg weighted by example counts); shapes must match."""
    if not adapters:
        raise ValueError("nothing to average")
    total = float(sum(weights))
    keys = list(adapters[0])
    for adapter in adapters[1:]:
        if list(adapter) != keys:
            raise ValueError("adapters hold different tensors")
        for key in keys:
            if adapter[key].shape != adapters[0][key].shape:
                raise ValueError(f"{key}: shapes differ ({adapter[key].shape} vs {adapters[0][key].shape})")
    return {
        key: sum(
            a[key].astype(np.float64) * (w / total) for a, w in zip(adapters, weights, strict=True)
        ).astype(adapters[0][key].dtype)
        for key in keys
    }
