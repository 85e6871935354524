"""The Start Training form: fields generated from the one hyperparameter table, the guide's example as placeholders."""

from __future__ import annotations

from typing import Any

from django import forms

from datasets_app.models import Dataset
from training.engine.config import (
    DEMO_ADAPTER_PRESET,
    GUIDE_EXAMPLE,
    PARAMS,
    ConfigError,
    TrainingConfig,
    build_config,
)
from training.models import AdapterType, FoundationModel, TrainingType

BASIC = ("epochs", "lora_r", "lora_alpha", "batch_size", "learning_rate", "quantization")

# Written out: labels derived from the parameter names by text replacement produced "Learning rankate".
LABELS = {
    "epochs": "Epochs",
    "max_steps": "Max steps",
    "lora_r": "LoRA rank (r)",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "target_modules": "Target modules",
    "batch_size": "Batch size",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "learning_rate": "Learning rate",
    "lr_scheduler": "Learning rate scheduler",
    "warmup_ratio": "Warmup ratio",
    "weight_decay": "Weight decay",
    "max_grad_norm": "Max gradient norm",
    "max_seq_length": "Max sequence length",
    "quantization": "Quantization",
    "gradient_checkpointing": "Gradient checkpointing",
    "validation_split": "Validation split",
    "eval_steps": "Eval every N steps",
    "checkpoint_steps": "Checkpoint every N steps",
    "logging_steps": "Log every N steps",
    "seed": "Random seed",
    "assistant_only_loss": "Loss on assistant turns only",
    "batching": "Batching",
    "beta": "DPO beta",
    "num_gpus": "GPUs",
}


def _param_field(name: str, default: Any) -> forms.Field:
    param = PARAMS[name]
    placeholder = GUIDE_EXAMPLE.get(name, default)
    attrs = {"placeholder": "" if placeholder is None else str(placeholder)}
    label = LABELS.get(name) or name.replace("_", " ").capitalize()
    kwargs = {"required": False, "label": label, "help_text": param.help}
    if param.kind is bool:
        return forms.BooleanField(initial=default, **kwargs)
    if param.kind is str:
        choices = [("", f"default ({default})"), *((c, c) for c in param.choices)]
        return forms.ChoiceField(choices=choices, **kwargs)
    if param.kind is list:
        attrs["placeholder"] = ", ".join(default)
        return forms.CharField(widget=forms.TextInput(attrs=attrs), **kwargs)
    if param.kind is int:
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **kwargs)
    return forms.FloatField(widget=forms.NumberInput(attrs={**attrs, "step": "any"}), **kwargs)


class StartTrainingForm(forms.Form):
    adapter_type = forms.ChoiceField(choices=AdapterType.choices, initial="retailer")
    adapter_name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": GUIDE_EXAMPLE["adapter_name"]}),
        help_text="A slug.",
    )
    base_model = forms.ModelChoiceField(
        queryset=FoundationModel.objects.none(),
        required=False,
        empty_label="first available",
        help_text="Only models whose weights are on this host.",
    )
    training_type = forms.ChoiceField(
        choices=TrainingType.choices, initial="sft", help_text="QLoRA = SFT on a 4-bit NF4 base."
    )
    dataset = forms.ChoiceField(required=False, label="Dataset from the library")
    dataset_path = forms.CharField(
        required=False,
        max_length=500,
        label="…or a dataset path",
        help_text="A .jsonl under the data root's datasets/ folder, e.g. datasets/sft/my_data.jsonl.",
    )
    quality_override = forms.BooleanField(
        required=False, label="Train even if the dataset is below the quality gate"
    )
    allow_waiting = forms.BooleanField(
        required=False, label="Queue it even if no online worker has the GPUs / memory it needs"
    )
    more_jobs = forms.CharField(
        required=False,
        max_length=20_000,
        label="More jobs, one per line",
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "walmart_v2, datasets/walmart.jsonl\ntarget_v2, demo_alpha_rmis_sft",
            }
        ),
        help_text="name, dataset (a path under datasets/ or a library dataset name). Each is trained with the "
        "settings above; all are queued, or none if one is invalid.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = FoundationModel.objects.filter(is_available=True)
        self.fields["dataset"].choices = [("", "—"), *_dataset_choices()]
        if not self.is_bound and not self.initial.get("dataset") and not self.initial.get("dataset_path"):
            # A first run should work as offered: preselect the demo SFT set (or the first SFT set) when there is one.
            self.initial["dataset"] = _default_dataset()
        defaults = TrainingConfig().to_dict()
        for name in PARAMS:
            self.fields[name] = _param_field(name, defaults[name])

    def basic_param_fields(self):
        return [self[name] for name in BASIC]

    def advanced_param_fields(self):
        return [self[name] for name in PARAMS if name not in BASIC]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("dataset") and not cleaned.get("dataset_path"):
            self.add_error("dataset", "Choose a dataset from the library or give a dataset path.")
        try:
            build_config(cleaned.get("training_type") or "sft", self.config())
        except ConfigError as exc:
            for name, message in exc.errors.items():
                self.add_error(name if name in self.fields else None, message)
        return cleaned

    def extra_jobs(self) -> list[dict[str, Any]]:
        """The 'More jobs' lines as batch job specs ({'name', 'dataset'}); a bad line is a form error."""
        specs: list[dict[str, Any]] = []
        for number, line in enumerate((self.cleaned_data.get("more_jobs") or "").splitlines(), start=1):
            if not line.strip():
                continue
            name, _, dataset = (part.strip() for part in line.partition(","))
            if not name or not dataset:
                raise forms.ValidationError(
                    f"line {number}: write 'name, dataset' (e.g. walmart_v2, datasets/walmart.jsonl)"
                )
            if "/" in dataset or dataset.endswith(".jsonl"):
                specs.append({"name": name, "dataset": dataset})
                continue
            row = Dataset.objects.filter(name=dataset).order_by("-version").first()
            if row is None:
                raise forms.ValidationError(f"line {number}: no dataset named {dataset!r} in the library")
            specs.append({"name": name, "dataset": row.pk})
        return specs

    def config(self) -> dict[str, Any]:
        """Only what the user typed: empty fields fall back to the training type's defaults in the service."""
        data = getattr(self, "cleaned_data", {})
        out: dict[str, Any] = {}
        for name, param in PARAMS.items():
            value = data.get(name)
            if param.kind is bool:
                out[name] = bool(value)  # a checkbox always states its value; its initial is the default
            elif value not in (None, ""):
                out[name] = value
        return out


def _dataset_choices() -> list[tuple[str, str]]:
    rows = list(Dataset.objects.order_by("name", "-version")[:500])
    groups = []
    for kind, title in (("sft", "SFT (prompt → completion)"), ("dpo", "DPO (chosen / rejected)")):
        picked = [(str(d.pk), _dataset_label(d)) for d in rows if d.dataset_type == kind]
        if picked:
            groups.append((title, picked))
    other = [(str(d.pk), _dataset_label(d)) for d in rows if d.dataset_type not in ("sft", "dpo")]
    if other:
        groups.append(("Other", other))
    return groups


def _dataset_label(d) -> str:
    score = "not validated" if d.quality_score is None else f"quality {d.quality_score:.0f}"
    return f"{d.name} v{d.version} ({d.dataset_type}, {d.num_examples} examples, {score})"


def _default_dataset() -> str:
    sft = Dataset.objects.filter(dataset_type="sft").exclude(quality_score=None)
    pick = (
        sft.filter(name="demo_alpha_rmis_sft").order_by("-version").first()
        or sft.order_by("-created_at").first()
    )
    return str(pick.pk) if pick else ""


DEMO_BASE_MODEL = "SmolLM2-135M-Instruct"


def demo_preset_initial() -> dict[str, Any]:
    """The demo retailer adapter's form values: the Alpha mapping's SFT set, SmolLM2 when it is imported, and the
    hyperparameters benchmarks/smollm2_demo.py measured (DEMO_ADAPTER_PRESET)."""
    initial: dict[str, Any] = {
        "adapter_type": "retailer",
        "adapter_name": "alpha_demo",
        "training_type": "sft",
    }
    for name, value in DEMO_ADAPTER_PRESET.items():
        initial[name] = ", ".join(value) if isinstance(value, list) else value
    smol = FoundationModel.objects.filter(name=DEMO_BASE_MODEL, is_available=True).first()
    if smol is not None:
        initial["base_model"] = smol.pk
    demo = Dataset.objects.filter(name="demo_alpha_rmis_sft").order_by("-version").first()
    if demo is not None:
        initial["dataset"] = str(demo.pk)
    return initial
