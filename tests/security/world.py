"""A small console world built lazily for the bad-input and permission tests, and a snapshot of what is stored."""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path

from django.apps import apps

XSS = '<script>alert("xss-7")</script>'
XSS_ATTR = '"><img src=x onerror=alert(7)>'
ESCAPED = ("&lt;script&gt;alert(&quot;xss-7&quot;)&lt;/script&gt;", "\\u003Cscript\\u003E")

SOURCE_HEADER = ["ts", "campaign", "adType", "cost_micros", "clicks"]
SOURCE_ROWS = [
    ["2024-03-01T10:00:00Z", "C1", "sp", 1_500_000, 3],
    ["2024-03-01T11:00:00Z", "C2", "sd", 2_500_000, 0],
    ["2024-03-02T09:30:00Z", "C3", "sp", 500_000, 7],
]
RULES = [
    {"source": "ts", "target": "ts", "transform": {"type": "to_utc", "input_format": "iso"}},
    {"source": "campaign", "target": "campaign_id", "transform": {"type": "trim"}},
    {"source": "cost_micros", "target": "cost", "transform": {"type": "scale", "operation": "divide", "factor": 1e6}},
]  # fmt: skip
APP_LABELS = ("rmnconsole", "datasets_app", "training", "federation", "monitoring")


def sft_lines(n: int = 24, seed: int = 0) -> list[dict]:
    words = ["campaign", "budget", "sponsored", "brand", "display", "offsite", "roas", "bid", "halo", "lift"]
    rows = []
    for i in range(n):
        q = " ".join(f"{words[(i * 7 + k + seed) % len(words)]}{(i * 13 + k) % 97}" for k in range(12))
        a = " ".join(f"{words[(i * 3 + k + seed) % len(words)]}{(i * 11 + k) % 89}" for k in range(12))
        rows.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    return rows


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def lora_folder(base_path: Path, out: Path) -> Path:
    """An untrained LoRA adapter in PEFT format (safetensors): enough for composition and validation checks."""
    from peft import LoraConfig, get_peft_model

    from training.engine.model_files import load_causal_lm

    model = get_peft_model(
        load_causal_lm(base_path),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(out, safe_serialization=True)
    return out


class World:
    """Objects of every app, created on first use (a case only pays for what it touches)."""

    def __init__(self, data_root: Path, user, staff, fixture=None):
        self.root = Path(data_root)
        self.user = user
        self.staff = staff
        self._fixture = (
            fixture  # request.getfixturevalue: the tiny models are built only when a case needs them
        )

    # --- datasets ---------------------------------------------------------------------------------------
    @cached_property
    def dataset(self):
        from datasets_app.library.services import register_dataset_file

        path = write_jsonl(self.root / "datasets" / "world.jsonl", sft_lines())
        return register_dataset_file(path, name="world", user=self.user, background=False)

    # --- mappings ---------------------------------------------------------------------------------------
    @cached_property
    def source(self):
        from datasets_app.mappings.sources import register_source

        folder = self.root / "sources"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [",".join(SOURCE_HEADER)] + [",".join(str(v) for v in row) for row in SOURCE_ROWS]
        (folder / "world.csv").write_text("\n".join(lines) + "\n")
        return register_source(
            folder / "world.csv", name="world source", retailer="world", time_column="ts", user=self.user
        )

    @cached_property
    def mapping(self):
        from datasets_app.mappings.services import create_mapping

        return create_mapping(
            name="world_map", retailer="world", source=self.source, rules=RULES, user=self.user
        )

    @cached_property
    def active_mapping(self):
        from datasets_app.mappings.services import activate_mapping, create_mapping

        draft = create_mapping(
            name="world_active", retailer="world_b", source=self.source, rules=RULES, user=self.user
        )
        return activate_mapping(draft, user=self.staff, force=True)

    # --- training / federation --------------------------------------------------------------------------
    @cached_property
    def base(self):
        return self._fixture("tiny_base_models")["tiny-llama"]

    @cached_property
    def adapter(self):
        import shutil

        from training.models import Adapter

        target = self.root / "adapters" / "world_retailer" / "v1"
        shutil.copytree(self._fixture("world_lora"), target)
        weights = (target / "adapter_model.safetensors").read_bytes()
        return Adapter.objects.create(
            adapter_type="retailer", name="world_retailer", version=1, base_model=self.base, rank=4, alpha=8,
            target_modules=["q_proj", "v_proj"], path=str(target.relative_to(self.root)),
            size_bytes=len(weights), sha256=hashlib.sha256(weights).hexdigest(),
        )  # fmt: skip

    @cached_property
    def federation(self):
        from federation.services import MemberInput, create_federation

        return create_federation(
            name="world-fed", base_model=self.base, members=[MemberInput(self.adapter, 1.0, "retailer")],
            user=self.user,
        )  # fmt: skip

    @cached_property
    def run(self):
        from federation.runs import submit_inference

        return submit_inference(self.federation, "Plan a budget.", user=self.user, enqueue=False)

    @cached_property
    def job(self):
        """A finished training job (no worker involved)."""
        from django.utils import timezone

        from training.models import TrainingJob

        return TrainingJob.objects.create(
            adapter_type="retailer", adapter_name="world_job", base_model=self.base, training_type="sft",
            dataset_path=self.dataset.path, config={"lora_r": 4, "max_steps": 3}, status="completed",
            current_step=3, total_steps=3, progress_pct=100.0, created_by=self.user, finished_at=timezone.now(),
        )  # fmt: skip

    # --- monitoring -------------------------------------------------------------------------------------
    @cached_property
    def alert(self):
        from monitoring.models import Alert

        return Alert.objects.create(rule="queue_no_worker", key="queue:training", message="no worker")

    def ids(self) -> dict[str, int]:
        """The ids a case's path refers to, each built only when asked for (see Ids)."""
        return Ids(self)


class Ids(dict):
    """`"{dataset}"`-style placeholders resolve to the id of the world's object, created on demand."""

    def __init__(self, world: World):
        super().__init__()
        self.world = world

    def __missing__(self, key: str):
        return getattr(self.world, key).pk


def snapshot(root: Path) -> dict:
    """Row counts of every console model, plus every file under the data root (size and content hash)."""
    counts = {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in APP_LABELS and model._meta.label != "rmnconsole.ApiToken"
    }
    files = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = str(path.relative_to(root))
            if rel.startswith(("exports/.duckdb-tmp", "staticfiles")):
                continue
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"rows": counts, "files": files}


def diff(before: dict, after: dict) -> list[str]:
    changes = [
        f"{label}: {before['rows'].get(label)} → {n}"
        for label, n in after["rows"].items()
        if before["rows"].get(label) != n
    ]
    for rel in sorted(set(before["files"]) | set(after["files"])):
        if before["files"].get(rel) != after["files"].get(rel):
            state = (
                "new" if rel not in before["files"] else "gone" if rel not in after["files"] else "changed"
            )
            changes.append(f"file {rel} {state}")
    return changes
