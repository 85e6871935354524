"""Export an additive federation as ONE PEFT adapter folder (the `cat` sum), loadable by PeftModel.from_pretrained."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from federation.engine import compose
from federation.engine.loading import load_members, member_name
from federation.engine.types import ADDITIVE, CompositionSpec
from training.engine.model_files import load_skeleton

MODEL_CARD = """---
library_name: peft
tags: [lora, rmn-federation]
---
# {name} (composed adapter)

One LoRA adapter equal to the weighted sum of the federation's members ({combination}):

{members}

Base model: `{base}`. Merge-fidelity error vs the exact weighted sum: mean {mean:.3g}, max {max:.3g}.
Load it with `PeftModel.from_pretrained(base_model, "<this folder>")`.
"""


def export_composed_adapter(spec: CompositionSpec, destination: Path, *, name: str, base_name: str) -> Path:
    """Write adapter_config.json + adapter_model.safetensors + README.md into `destination` (replaced if present)."""
    if spec.method != ADDITIVE:
        raise ValueError("only additive federations compose into a single adapter")
    # Composing reads LoRA tensors only: a weightless skeleton of the base is enough (no 16 GB load for an 8B).
    peft_model = load_members(load_skeleton(spec.base_path), spec.members)
    weights = [m.weight for m in spec.members]
    compose.check_combination(
        spec.combination, [peft_model.peft_config[member_name(i)].r for i in range(len(weights))]
    )
    compose.compose_additive(
        peft_model, weights, combination=spec.combination, density=spec.density, svd_rank=spec.svd_rank
    )
    fidelity = compose.fidelity_report(peft_model, weights, spec.combination)
    peft_model.peft_config[compose.COMPOSED].base_model_name_or_path = base_name
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        # save_embedding_layers=False: the "auto" check would look the base name up on the Hub.
        peft_model.save_pretrained(scratch, selected_adapters=[compose.COMPOSED], save_embedding_layers=False)
        saved = Path(scratch) / compose.COMPOSED
        members = "\n".join(f"- {m.role}: `{m.label}` × {m.weight:g}" for m in spec.members)
        (saved / "README.md").write_text(
            MODEL_CARD.format(
                name=name,
                combination=spec.combination,
                members=members,
                base=base_name,
                mean=fidelity.mean,
                max=fidelity.max,
            ),
            encoding="utf-8",
        )
        (saved / "federation.json").write_text(json.dumps(fidelity.as_dict(), indent=2), encoding="utf-8")
        if destination.exists():
            shutil.rmtree(destination)
        # Move only a complete folder into place: nothing half-written is ever visible.
        shutil.move(str(saved), str(destination))
    return destination
