"""Evaluation forms: create a suite (upload, dataset, mapping) and start a run."""

from __future__ import annotations

from django import forms

from datasets_app.models import Dataset, SchemaMapping
from federation.evaluation.engine.metrics import METRICS
from federation.evaluation.models import EvalSuite

SOURCES = [
    ("jsonl", "Upload a JSONL file"),
    ("dataset", "A dataset's validation split"),
    ("mapping", "A mapping's held-out records"),
]


class SuiteForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="A new name starts at v1; an existing name makes its next version."
    )
    source = forms.ChoiceField(choices=SOURCES, initial="jsonl")
    file = forms.FileField(
        required=False, help_text='JSONL: {"prompt", "reference"?, "checks"?} or any dataset format.'
    )
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all(), required=False)
    mapping = forms.ModelChoiceField(queryset=SchemaMapping.objects.all(), required=False)
    examples = forms.IntegerField(
        min_value=1, max_value=500, initial=50, help_text="Mapping suites: held-out records."
    )
    metrics = forms.MultipleChoiceField(
        choices=[(k, v.label) for k, v in METRICS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The first ticked metric is the suite's score. None ticked: field accuracy for mappings, else exact match + token-F1.",
    )
    pattern = forms.CharField(required=False, help_text="Regex metric: the pattern every output must match.")
    needles = forms.CharField(required=False, help_text="Contains metric: comma-separated substrings.")
    tolerance = forms.FloatField(required=False, min_value=0, help_text="Numeric metric: absolute tolerance.")
    rubric = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="LLM judge: the rubric."
    )
    judge_subject = forms.CharField(
        required=False, help_text="Judge served by the console: base:NAME, adapter:NAME or federation:NAME."
    )
    judge_url = forms.CharField(required=False, help_text="Or an OpenAI-compatible endpoint (base URL) …")
    judge_model = forms.CharField(required=False, help_text="… and its model name.")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=1024, initial=64)

    def metric_specs(self) -> list[dict] | None:
        data = self.cleaned_data
        specs = []
        for name in data.get("metrics") or []:
            spec: dict = {"name": name}
            if name == "regex" and data.get("pattern"):
                spec["pattern"] = data["pattern"]
            if name == "contains" and data.get("needles"):
                spec["needles"] = [n.strip() for n in data["needles"].split(",") if n.strip()]
            if name == "numeric":
                spec["tolerance"] = data.get("tolerance") or 0.0
            if name == "judge":
                spec["rubric"] = data.get("rubric") or ""
                if data.get("judge_url"):
                    spec["judge"] = {
                        "kind": "openai",
                        "base_url": data["judge_url"],
                        "model": data.get("judge_model") or "",
                    }
                else:
                    spec["judge"] = {"kind": "console", "subject": data.get("judge_subject") or ""}
            specs.append(spec)
        return specs or None


class RunForm(forms.Form):
    subject = forms.CharField(help_text="base:NAME, adapter:NAME[ vN] or federation:NAME")
    suite = forms.ModelChoiceField(queryset=EvalSuite.objects.all(), required=False)
    batch_size = forms.IntegerField(min_value=1, max_value=64, initial=8)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
