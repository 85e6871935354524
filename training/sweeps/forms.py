"""The sweep form: adapter and dataset as on Start Training, fixed settings and the search space as YAML, the
strategy and the budget as plain fields."""

from __future__ import annotations

from typing import Any

import yaml
from django import forms

from training.models import AdapterType, FoundationModel, TrainingType
from training.sweeps.engine.study import OBJECTIVES, PRUNERS, SAMPLERS, SECOND_OBJECTIVES

EXAMPLE_SPACE = """learning_rate: {type: log_float, low: 0.00001, high: 0.001}
lora_r: {type: choice, choices: [8, 16, 32]}
lora_alpha: {type: choice, choices: [16, 32, 64]}
lora_dropout: {type: float, low: 0.0, high: 0.2}
"""


def _yaml_mapping(text: str, what: str) -> dict[str, Any]:
    if not (text or "").strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise forms.ValidationError(f"{what} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f"{what} must be a mapping (name: value per line)")
    return value


class SweepForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the adapter name.")
    adapter_type = forms.ChoiceField(choices=AdapterType.choices)
    adapter_name = forms.SlugField(max_length=80, help_text="Trials are named <adapter name>-t<N>.")
    base_model = forms.ModelChoiceField(
        queryset=FoundationModel.objects.filter(is_available=True), required=False
    )
    training_type = forms.ChoiceField(choices=TrainingType.choices, initial="sft")
    dataset_path = forms.CharField(
        max_length=500, help_text="JSONL under the data root, e.g. datasets/sft/x.jsonl"
    )
    quality_override = forms.BooleanField(required=False, label="Override the quality gate")
    fixed = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Fixed settings (YAML)",
        help_text="Every trial shares these, e.g. max_steps: 200",
    )
    search_space = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 7}),
        label="Search space (YAML)",
        initial=EXAMPLE_SPACE,
        help_text="Per hyperparameter: {type: log_float|float|int, low, high[, step]} or {type: choice, choices: [...]}",
    )
    sampler = forms.ChoiceField(choices=[(s, s) for s in SAMPLERS], initial="tpe")
    seed = forms.IntegerField(required=False, min_value=0)
    objective = forms.ChoiceField(choices=[], initial="eval_loss", required=False)
    objective_suite = forms.CharField(
        max_length=200,
        required=False,
        help_text="Eval suite (id or name) of an eval-suite objective; empty: the dataset's suite.",
    )
    direction = forms.ChoiceField(
        choices=[("", "the objective's own"), ("minimize", "minimize"), ("maximize", "maximize")],
        required=False,
    )
    second_objective = forms.ChoiceField(choices=[], required=False)
    pruner = forms.ChoiceField(choices=[(p, p) for p in PRUNERS], initial="median")
    pruner_threshold = forms.FloatField(
        required=False, help_text="Threshold pruner: stop a trial above this eval loss."
    )
    max_trials = forms.IntegerField(initial=12, help_text="Budget: trials in all.")
    max_parallel = forms.IntegerField(initial=2, help_text="Trials at once (across the free workers).")
    wall_clock_minutes = forms.FloatField(
        required=False, help_text="Stop asking and cancel running trials after this."
    )
    keep_trial_adapters = forms.BooleanField(
        required=False, help_text="Keep every trial's adapter, not only the best."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Later apps register objectives (evaluation: eval-suite score, latency) from their ready().
        self.fields["objective"].choices = [(o.name, o.label) for o in OBJECTIVES.values()]
        self.fields["second_objective"].choices = [("", "none")] + [
            (o.name, f"{o.label} (Pareto front)") for o in SECOND_OBJECTIVES.values()
        ]

    def clean_fixed(self) -> dict[str, Any]:
        return _yaml_mapping(self.cleaned_data.get("fixed", ""), "Fixed settings")

    def clean_search_space(self) -> dict[str, Any]:
        return _yaml_mapping(self.cleaned_data.get("search_space", ""), "The search space")

    def spec(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        model = data.pop("base_model", None)
        data["base_model"] = model.pk if model else None
        return {k: v for k, v in data.items() if v not in (None, "")}


def around_job(job) -> dict[str, Any]:
    """Initial form data for "Sweep around this": the job's settings fixed, a space centred on its values."""
    config = dict(job.config or {})
    lr = float(config.pop("learning_rate", 2e-4))
    r = int(config.pop("lora_r", 16))
    alpha = int(config.pop("lora_alpha", 32))
    dropout = float(config.pop("lora_dropout", 0.05))
    space = {
        "learning_rate": {"type": "log_float", "low": max(lr / 10, 1e-8), "high": min(lr * 10, 1.0)},
        "lora_r": {"type": "choice", "choices": sorted({max(1, r // 2), r, r * 2})},
        "lora_alpha": {"type": "choice", "choices": sorted({max(1, alpha // 2), alpha, alpha * 2})},
        "lora_dropout": {"type": "float", "low": 0.0, "high": max(0.2, min(0.9, dropout * 2))},
    }
    fixed = {k: v for k, v in config.items() if v is not None}
    return {
        "name": f"around job {job.pk}",
        "adapter_type": job.adapter_type,
        "adapter_name": f"{job.adapter_name[:70]}-sweep",
        "base_model": job.base_model_id,
        "training_type": job.training_type,
        "dataset_path": job.dataset_path,
        "fixed": yaml.safe_dump(fixed, sort_keys=True, default_flow_style=False),
        "search_space": yaml.safe_dump(space, sort_keys=False, default_flow_style=None),
    }
