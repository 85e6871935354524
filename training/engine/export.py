"""Move a saved adapter into the adapter store atomically, with a model card and checksums."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmnconsole.core.hashing import file_sha256

REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class ModelCard:
    name: str
    version: int
    adapter_type: str
    training_type: str
    base_model: str
    base_model_source: str
    dataset_path: str
    dataset_sha256: str
    hyperparameters: dict[str, Any]
    final_metrics: dict[str, Any]
    device: str
    job_id: int | None = None


@dataclass
class StoredAdapter:
    path: Path
    size_bytes: int
    sha256: str
    rank: int
    alpha: int
    target_modules: list[str]


def render_model_card(card: ModelCard) -> str:
    def table(values: dict[str, Any]) -> str:
        rows = "\n".join(f"| `{k}` | {'' if v is None else v} |" for k, v in values.items())
        return "| name | value |\n| --- | --- |\n" + rows

    return f"""---
library_name: peft
base_model: {card.base_model_source}
tags: [lora, {card.training_type}, rmn, {card.adapter_type}]
---

# {card.name} v{card.version}

A LoRA adapter ({card.adapter_type} adapter, {card.training_type.upper()}) for **{card.base_model}**
(`{card.base_model_source}`), trained by the RMN LoRA Admin Console{f" as job #{card.job_id}" if card.job_id else ""}
on `{card.device}`.

## Training data

- Dataset: `{card.dataset_path or "(unknown)"}`
- SHA-256: `{card.dataset_sha256 or "(unknown)"}`

## Hyperparameters

{table(card.hyperparameters)}

## Final metrics

{table(card.final_metrics)}

## Use

```python
from peft import PeftModel
model = PeftModel.from_pretrained(base_model, "path/to/{card.name}/v{card.version}")
```
"""


def inspect_adapter(folder: Path) -> StoredAdapter:
    """Checksums and LoRA settings of a PEFT folder; raises ValueError if a required file is missing."""
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"adapter folder {folder} lacks {', '.join(missing)}")
    config = json.loads((folder / "adapter_config.json").read_text())
    modules = config.get("target_modules") or []
    if isinstance(modules, str):
        modules = [modules]
    return StoredAdapter(
        path=folder,
        size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        sha256=file_sha256(folder / "adapter_model.safetensors"),
        rank=int(config.get("r", 0)),
        alpha=int(config.get("lora_alpha", 0)),
        target_modules=sorted(modules),
    )


def prepare_adapter(staging: Path, card: ModelCard) -> StoredAdapter:
    """Write the model card next to the saved adapter and measure it (size, sha256, LoRA settings)."""
    (staging / "README.md").write_text(render_model_card(card), encoding="utf-8")
    return inspect_adapter(staging)


def move_into_store(staging: Path, destination: Path) -> None:
    """Rename the staging folder to its place in the store: one rename on the same filesystem, so atomic."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        raise FileExistsError(f"{destination} already exists; refusing to overwrite a stored adapter")
    os.replace(staging, destination)


def remove_quietly(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
