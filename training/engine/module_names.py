"""A base model's linear module names, read from its safetensors headers (a few KB each) without loading a weight,
so `target_modules` can be checked when a job is submitted instead of failing on the worker."""

from __future__ import annotations

import json
import struct
from pathlib import Path

_HEADER_LIMIT = 64 * 1024 * 1024  # a header larger than this is not a safetensors header


def _header(file: Path) -> dict:
    with file.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            return {}
        (size,) = struct.unpack("<Q", raw)
        if size > _HEADER_LIMIT:
            return {}
        return json.loads(fh.read(size))


def linear_module_paths(folder: str | Path) -> set[str]:
    """Dotted paths of the modules holding a 2-D `.weight` (the layers LoRA can wrap), e.g. model.layers.0.self_attn.q_proj."""
    paths = set()
    for file in sorted(Path(folder).glob("*.safetensors")):
        for key, meta in _header(file).items():
            if key == "__metadata__" or not key.endswith(".weight"):
                continue
            if len(meta.get("shape", [])) == 2 and "embed" not in key:
                paths.add(key[: -len(".weight")])
    return paths


def unknown_target_modules(targets: list[str], paths: set[str]) -> list[str]:
    """The targets peft would not find: a name matches a module path equal to it or ending with '.' + it."""
    if not paths:
        return []  # nothing readable to check against: leave the decision to peft
    unknown = []
    for target in targets:
        if target == "all-linear":
            continue
        if not any(p == target or p.endswith("." + target) for p in paths):
            unknown.append(target)
    return unknown


def leaf_names(paths: set[str]) -> list[str]:
    return sorted({p.rsplit(".", 1)[-1] for p in paths} - {"lm_head"})
