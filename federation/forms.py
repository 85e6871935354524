"""Forms of the federation pages: Create Federation (the guide's workflow), test prompt, import, A/B test."""

from __future__ import annotations

from django import forms

from federation.engine.types import COMBINATIONS
from federation.evaluation.models import EvalSuite
from federation.models import Federation, Method
from federation.performance import adapter_size_bytes, human_bytes
from federation.runs import MAX_NEW_TOKENS
from rmnconsole.core.paths import DATASETS, data_dir, relative_to_root
from training.models import Adapter, FoundationModel


class AdapterSelect(forms.Select):
    """Options carry data-base so the page can hide adapters of other base models."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-base"] = str(instance.base_model_id)
        return option


class AdapterSelectMultiple(AdapterSelect, forms.SelectMultiple):
    pass


class AdapterChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Adapter) -> str:
        return f"{obj.label} — {obj.base_model.name}, rank {obj.rank}, {human_bytes(adapter_size_bytes(obj))}"


class AdapterMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Adapter) -> str:
        return AdapterChoiceField.label_from_instance(self, obj)


def dataset_choices() -> list[tuple[str, str]]:
    """JSONL files under the data root's datasets/ (the registry's datasets live there)."""
    folder = data_dir(DATASETS)
    files = sorted(p for p in folder.rglob("*.jsonl") if p.is_file())[:500]
    return [("", "— none —")] + [(relative_to_root(p), relative_to_root(p)) for p in files]


def _adapters(kind: str):
    return Adapter.objects.filter(adapter_type=kind).select_related("base_model").order_by("name", "-version")


class BaseModelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: FoundationModel) -> str:
        return obj.name if obj.is_available else f"{obj.name} (weights not on this host)"


class FederationForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. amazon-planning")
    base_model = BaseModelChoiceField(queryset=FoundationModel.objects.none(), empty_label=None)
    retailer_adapter = AdapterChoiceField(
        queryset=Adapter.objects.none(), required=False, widget=AdapterSelect, empty_label="— none —"
    )
    retailer_weight = forms.FloatField(initial=1.0, label="Retailer weight")
    task_adapter = AdapterChoiceField(
        queryset=Adapter.objects.none(), required=False, widget=AdapterSelect, empty_label="— none —"
    )
    task_weight = forms.FloatField(initial=1.0, label="Task weight")
    subtract = forms.BooleanField(
        required=False,
        label="Subtract: allow a negative weight",
        help_text="A negative weight removes that adapter's behavior from the base; without this, it is refused.",
    )
    domain_adapters = AdapterMultipleChoiceField(
        queryset=Adapter.objects.none(),
        required=False,
        widget=AdapterSelectMultiple,
        help_text="Optional extra adapters (weight 1 each).",
    )
    method = forms.ChoiceField(choices=Method.choices, widget=forms.RadioSelect, initial=Method.ADDITIVE)
    combination = forms.ChoiceField(
        choices=[
            (c, "cat — exact weighted sum" if c == "cat" else f"{c} — approximate") for c in COMBINATIONS
        ],
        initial="cat",
        help_text="Approximate combinations show their merge-fidelity error.",
    )
    merged = forms.BooleanField(required=False, label="Merge into base weights (zero added latency)")
    density = forms.FloatField(initial=0.5, min_value=0.01, max_value=1.0, help_text="ties / dare only.")
    svd_rank = forms.IntegerField(
        required=False, min_value=1, max_value=4096, help_text="svd only; empty = max rank."
    )
    gate_dataset_path = forms.ChoiceField(
        required=False,
        label="Gate training data",
        help_text="Empty = a mix of the members' own training data.",
    )
    gate_steps = forms.IntegerField(initial=60, min_value=1, max_value=5000)
    retailer_template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sequential stage 1; {input} = your prompt.",
    )
    task_template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sequential stage 2; {input}, {previous} = stage 1's output.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Available bases first: defaulting to one whose weights are absent showed empty adapter lists.
        self.fields["base_model"].queryset = FoundationModel.objects.order_by("-is_available", "name")
        if not self.is_bound and "base_model" not in self.initial:
            self.initial["base_model"] = default_base_model()
        self.fields["retailer_adapter"].queryset = _adapters("retailer")
        self.fields["task_adapter"].queryset = _adapters("task")
        self.fields["domain_adapters"].queryset = _adapters("domain")
        self.fields["gate_dataset_path"].choices = dataset_choices()

    def members(self):
        from federation.services import assemble_members

        data = self.cleaned_data
        return assemble_members(
            retailer=data.get("retailer_adapter"),
            task=data.get("task_adapter"),
            domains=data.get("domain_adapters") or [],
            weights={"retailer": data["retailer_weight"], "task": data["task_weight"]},
            templates={"retailer": data.get("retailer_template", ""), "task": data.get("task_template", "")},
        )

    def options(self) -> dict:
        data = self.cleaned_data
        if data["method"] == Method.ADDITIVE:
            return {
                "combination": data["combination"],
                "merged": data["merged"],
                "density": data["density"],
                "svd_rank": data.get("svd_rank"),
            }
        if data["method"] == Method.GATED:
            return {
                "gate_steps": data["gate_steps"],
                "gate_dataset_path": data.get("gate_dataset_path") or "",
            }
        return {}


def default_base_model() -> int | None:
    """The first available base that has adapters to compose, else the first available base."""
    available = FoundationModel.objects.filter(is_available=True).order_by("name")
    with_adapters = available.filter(adapters__isnull=False).distinct().first()
    pick = with_adapters or available.first()
    return pick.pk if pick else None


class InferenceForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Plan a grocery budget for amazon."})
    )
    max_new_tokens = forms.IntegerField(initial=64, min_value=1, max_value=MAX_NEW_TOKENS)
    temperature = forms.FloatField(initial=0.0, min_value=0.0, max_value=2.0, help_text="0 = greedy")
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)


class ImportForm(forms.Form):
    config_file = forms.FileField(required=False, label="Federation config (.json)")
    config_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="…or paste the JSON"
    )
    name = forms.CharField(required=False, max_length=120, help_text="Optional new name.")


class ABTestForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    federation_a = forms.ModelChoiceField(queryset=Federation.objects.none(), label="Federation A")
    federation_b = forms.ModelChoiceField(queryset=Federation.objects.none(), label="Federation B")
    prompts_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Prompts",
        help_text="One per line; add a reference answer after ' || ' to score accuracy.",
    )
    dataset_path = forms.ChoiceField(required=False, label="…or a dataset's validation split")
    suite = forms.ModelChoiceField(
        queryset=EvalSuite.objects.none(),
        required=False,
        label="…or an eval suite",
        help_text="Scored by the suite's metrics; both sides show on its leaderboard.",
    )
    limit = forms.IntegerField(
        initial=20, min_value=1, max_value=200, help_text="Prompts taken from the dataset."
    )
    max_new_tokens = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_NEW_TOKENS, help_text="Default: the suite's, else 64."
    )
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ready = Federation.objects.filter(status=Federation.Status.READY).select_related("base_model")
        self.fields["federation_a"].queryset = ready
        self.fields["federation_b"].queryset = ready
        self.fields["dataset_path"].choices = dataset_choices()
        self.fields["suite"].queryset = EvalSuite.objects.all()
