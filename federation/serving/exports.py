"""Download bundles that move a deployment's target to another server, each with a README of the exact command.

- peft:   the PEFT adapter folder for vLLM (`--lora-modules name=path`) and LoRAX; an additive federation is
          exported as its ONE composed adapter (the exact `cat` sum).
- gguf:   a llama.cpp / Ollama GGUF LoRA adapter + Modelfile, verified by reading it back (every ΔW rebuilt).
- merged: the full model with the adapter folded in (safetensors), for engines without LoRA support.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from federation.models import Federation, Method
from federation.services import base_model_path, composition_spec
from federation.serving.services import get_deployment
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, ServiceError
from rmnconsole.core.paths import EXPORTS, data_dir, iter_tree_inside
from training.models import Adapter

FORMATS = ("peft", "gguf", "merged")
GGUF_TOLERANCE = 1e-5  # relative Frobenius error of any rebuilt ΔW (float32 round trip: ~1e-7)

PEFT_README = """# {name} — PEFT LoRA adapter ({what})

Base model: `{base}` (rank {rank}).

## vLLM
```
vllm serve {base} --enable-lora --max-lora-rank {vllm_rank} --lora-modules {name}=./adapter
```
Then call it with the OpenAI client: `client.chat.completions.create(model="{name}", messages=[...])`.

## LoRAX
```
lorax-launcher --model-id {base}
```
and send `"adapter_id": "/data/{name}/adapter", "adapter_source": "local"` in each request (mount this folder
at `/data/{name}`).
"""

GGUF_README = """# {name} — GGUF LoRA adapter for llama.cpp and Ollama

`adapter.gguf` holds the LoRA matrices (float32) with `adapter.lora.alpha = {alpha:g}`, in llama.cpp's adapter
layout (as `convert_lora_to_gguf.py` writes it). Verified when exported: every ΔW = alpha/r · B·A read back from
the file equals PEFT's within a relative error of {error:.2e}.

You need the base model `{base}` as GGUF (e.g. `python convert_hf_to_gguf.py <base folder> --outfile base.gguf`).

## llama.cpp
```
llama-server -m base.gguf --lora adapter.gguf
```

## Ollama
Put `base.gguf` beside the Modelfile, then:
```
ollama create {name} -f Modelfile
ollama run {name}
```
"""

MERGED_README = """# {name} — merged full model (safetensors)

The adapter folded into `{base}`: a plain model of the base's architecture, {size_gb:.2f} GB on disk.
**Size warning:** this bundle is as large as the base model itself; prefer the PEFT or GGUF export for engines
that support LoRA adapters.

## vLLM
```
vllm serve ./model --served-model-name {name}
```
"""


def _peft_folder(target: Federation | Adapter, into: Path, name: str) -> tuple[Path, str]:
    """The target as ONE PEFT adapter folder under `into`; returns (folder, what it is)."""
    folder = into / "adapter"
    if isinstance(target, Adapter):
        folder.mkdir()
        for rel, handle in iter_tree_inside(target.path):
            if rel in ("adapter_config.json", "adapter_model.safetensors"):
                with handle, open(folder / rel, "wb") as out:
                    shutil.copyfileobj(handle, out)
            else:
                handle.close()
        return folder, f"adapter {target.label}"
    if target.method != Method.ADDITIVE:
        raise ServiceError(
            f"{target.name} is a {target.method} federation: only additive federations are one adapter; "
            "export each member adapter instead."
        )
    from federation.engine.export import export_composed_adapter

    try:
        export_composed_adapter(composition_spec(target), folder, name=name, base_name=target.base_model.name)
    except ValueError as exc:
        raise ServiceError(f"Cannot compose {target.name}: {exc}") from None
    return folder, f"additive federation {target.name} v{target.version} as its one composed adapter"


def _base_ref(base) -> str:
    """The Hugging Face id callers can fetch; a local folder's path stays on this server (its name is shown)."""
    source = base.source or ""
    return source if "/" in source and not source.startswith(("/", ".", "~")) else base.name


def _base_of(target: Federation | Adapter):
    return target.base_model


def build_bundle(target: Federation | Adapter, fmt: str, *, name: str) -> Path:
    """Write the bundle zip under <data root>/exports/deployments/; returns its path."""
    if fmt not in FORMATS:
        raise ServiceError(f"Unknown export format {fmt!r}: use {', '.join(FORMATS)}.", field="format")
    base = _base_of(target)
    out_dir = data_dir(EXPORTS) / "deployments"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        root = Path(scratch) / name
        root.mkdir()
        peft_dir, what = _peft_folder(target, root, name)
        config = json.loads((peft_dir / "adapter_config.json").read_text(encoding="utf-8"))
        rank = max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])
        if fmt == "peft":
            (root / "README.md").write_text(
                PEFT_README.format(
                    name=name, what=what, base=_base_ref(base), rank=rank, vllm_rank=_vllm_rank(rank)
                ),
                encoding="utf-8",
            )
        elif fmt == "gguf":
            _gguf(peft_dir, root, name, base)
        else:
            _merged(peft_dir, root, name, base)
        archive = out_dir / f"{name}-{fmt}.zip"
        partial = archive.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    bundle.write(path, f"{name}/{path.relative_to(root)}")
        partial.replace(archive)  # only a complete zip is ever visible
    return archive


def _vllm_rank(rank: int) -> int:
    # vLLM accepts these max LoRA ranks only.
    return next((r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank), rank)


def _gguf(peft_dir: Path, root: Path, name: str, base) -> None:
    from federation.serving.engine import gguf_lora

    base_config = json.loads((base_model_path(base) / "config.json").read_text(encoding="utf-8"))
    try:
        gguf_path = gguf_lora.write_gguf_adapter(peft_dir, base_config, root / "adapter.gguf", name=name)
        meta, rebuilt = gguf_lora.read_gguf_deltas(gguf_path)
        error = gguf_lora.max_relative_error(gguf_lora.peft_deltas(peft_dir, base_config), rebuilt)
    except gguf_lora.GgufExportError as exc:
        raise ServiceError(str(exc), field="format") from None
    if error > GGUF_TOLERANCE or meta.get("adapter.type") != "lora":
        raise ServiceError(
            f"The GGUF adapter did not read back equal to the PEFT adapter (error {error:.2e})."
        )
    shutil.rmtree(peft_dir)
    (root / "Modelfile").write_text("FROM ./base.gguf\nADAPTER ./adapter.gguf\n", encoding="utf-8")
    (root / "verification.json").write_text(
        json.dumps({"max_relative_error": error, "tensors": len(rebuilt), "metadata": meta}, indent=2),
        encoding="utf-8",
    )
    (root / "README.md").write_text(
        GGUF_README.format(name=name, alpha=meta["adapter.lora.alpha"], error=error, base=_base_ref(base)),
        encoding="utf-8",
    )


def _merged(peft_dir: Path, root: Path, name: str, base) -> None:
    """What a deployment of this adapter serves: the engine's own merge (runtime.build → merge_and_unload →
    as_plain_base: no LoRA layer left, contiguous weights), saved as a plain model of the base's architecture."""
    from federation.engine import runtime
    from federation.engine.types import MemberSpec

    spec = runtime.merged_adapter_spec(base_model_path(base), MemberSpec(label=name, path=peft_dir))
    try:
        composed = runtime.build(spec, device="cpu")
    except ValueError as exc:
        raise ServiceError(f"Cannot merge {name}: {exc}") from None
    composed.model.save_pretrained(root / "model", safe_serialization=True)
    composed.tokenizer.save_pretrained(root / "model")
    del composed
    shutil.rmtree(peft_dir)
    size = sum(p.stat().st_size for p in (root / "model").rglob("*") if p.is_file())
    (root / "README.md").write_text(
        MERGED_README.format(name=name, base=_base_ref(base), size_gb=size / 1e9), encoding="utf-8"
    )


def export_deployment(name: str, fmt: str, user, *, stage: str = "production") -> Path:
    """The bundle of what `name@stage` serves now (audited)."""
    deployment = get_deployment(name)
    row = deployment.stage(stage)
    if row is None or row.target is None:
        raise Conflict(f"{deployment.name}@{stage} has no target to export.")
    archive = build_bundle(row.target, fmt, name=deployment.name)
    audit.record(
        user, "deployment.export", deployment, f"exported {deployment.name}@{stage} as {fmt}", format=fmt
    )
    return archive
