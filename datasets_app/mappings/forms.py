"""Forms of the mapping pages, and the parsing of one editor row (HTML inputs) into a rule dict."""

from __future__ import annotations

from django import forms

from datasets_app.mappings.rmis import RmisSchema, schema_choices
from datasets_app.models import DataSource

TRANSFORM_CHOICES = [
    ("none", "none — copy"),
    ("enum_map", "enum_map — translate values"),
    ("scale", "scale — divide / multiply"),
    ("to_utc", "to_utc — time to UTC"),
    ("cast", "cast — change type"),
    ("constant", "constant — fixed value"),
    ("default", "default — fill blanks"),
    ("lowercase", "lowercase"),
    ("trim", "trim"),
]
COMMON_ZONES = [
    "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
    "America/Mexico_City", "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Europe/Paris", "Asia/Kolkata",
    "Asia/Tokyo", "Australia/Sydney", "+05:30", "-08:00",
]  # fmt: skip


class MappingCreateForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. alpha_events_to_rmis")
    retailer = forms.SlugField(max_length=60, help_text="e.g. retailer_alpha")
    source = forms.ModelChoiceField(queryset=DataSource.objects.all(), empty_label=None)
    target = forms.ChoiceField(choices=schema_choices, label="Target schema")


class SourceRegisterForm(forms.Form):
    path = forms.CharField(
        max_length=500, help_text="A .csv, .jsonl or .parquet file under the data root's sources/ folder."
    )
    name = forms.CharField(max_length=120)
    retailer = forms.SlugField(max_length=60, required=False)
    kind = forms.ChoiceField(choices=DataSource.Kind.choices)
    time_column = forms.CharField(
        max_length=255, required=False, help_text="Column for the date-range filter."
    )
    time_format = forms.ChoiceField(choices=DataSource.TimeFormat.choices)
    time_zone = forms.CharField(
        max_length=64, initial="UTC", help_text="For times written without an offset."
    )
    retailer_column = forms.CharField(max_length=255, required=False)
    type_column = forms.CharField(max_length=255, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class BuildDatasetForm(forms.Form):
    kind = forms.ChoiceField(
        label="Dataset type",
        choices=[
            ("sft", "SFT: prompt → the harmonized record"),
            ("dpo", "DPO: the correct record (chosen) vs a corrupted one (rejected)"),
        ],
        initial="sft",
        required=False,
    )
    examples = forms.IntegerField(min_value=1, max_value=100_000, initial=500)
    name = forms.CharField(
        max_length=120, required=False, help_text="Dataset name (default: <retailer>_rmis_v<N>_<type>)."
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31, initial=0)


def _scalar(raw: str, target_type: str | None):
    """A typed-in constant/default: a number for numeric targets when it reads as one, else the text."""
    text = raw.strip()
    if target_type == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if target_type == "float":
        try:
            return float(text)
        except ValueError:
            return text
    return raw


def rule_from_post(data, schema: RmisSchema) -> dict:
    """One editor row's inputs → a rule dict (validated afterwards by the pydantic models)."""
    kind = data.get("transform", "none")
    target = data.get("target", "")
    field = schema.field(target)
    transform: dict = {"type": kind}
    if kind == "enum_map":
        pairs = zip(data.getlist("pair_source"), data.getlist("pair_target"), strict=False)
        transform["pairs"] = [{"source": s, "target": t} for s, t in pairs if s.strip() or t.strip()]
        transform["unmapped"] = data.get("unmapped", "null")
        transform["case_insensitive"] = data.get("case_insensitive") in ("on", "true", "1")
    elif kind == "scale":
        transform["operation"] = data.get("operation", "divide")
        transform["factor"] = data.get("factor", "")
    elif kind == "to_utc":
        transform["input_format"] = data.get("input_format", "iso")
        transform["timezone"] = data.get("timezone", "UTC") or "UTC"
        if data.get("pattern"):
            transform["pattern"] = data["pattern"]
    elif kind == "cast":
        transform["to"] = data.get("cast_to", "string")
    elif kind in ("constant", "default"):
        transform["value"] = _scalar(data.get("value", ""), field.type if field else None)
    source = data.get("source") or None
    return {"source": None if kind == "constant" else source, "target": target, "transform": transform}
