"""Forms of the dataset library pages: upload, register by path, re-validate."""

from __future__ import annotations

from django import forms

from rmnconsole.core import providers

TYPE_CHOICES = [("", "Detect from the lines"), ("sft", "SFT"), ("dpo", "DPO")]


class UploadForm(forms.Form):
    file = forms.FileField(
        label="JSONL file", help_text="One JSON object per line; at most RMN_MAX_UPLOAD_MB (100 MB)."
    )
    name = forms.CharField(
        max_length=200, required=False, help_text="Library name; the file name when left empty."
    )
    dataset_type = forms.ChoiceField(choices=TYPE_CHOICES, required=False, label="Type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs.update({"accept": ".jsonl,application/x-ndjson"})


class RegisterForm(forms.Form):
    path = forms.CharField(
        max_length=500,
        help_text="A .jsonl already under the data root's datasets/ folder, e.g. datasets/amazon.jsonl.",
    )
    name = forms.CharField(max_length=200, required=False)
    dataset_type = forms.ChoiceField(choices=TYPE_CHOICES, required=False, label="Type")


def _base_model_choices() -> list[tuple[str, str]]:
    # Training is a later app: it lists its tokenizers in the core's registry.
    return [(name, name) for name in providers.tokenizer_names()]


class ValidateForm(forms.Form):
    base_model = forms.ChoiceField(
        required=False, label="Tokenizer of", help_text="Optional: measure lengths in tokens."
    )
    max_seq_len = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000, label="Max sequence length"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].choices = [("", "— characters only —"), *_base_model_choices()]

    def clean(self):
        data = super().clean()
        if data.get("max_seq_len") and not data.get("base_model"):
            self.add_error("base_model", "Choose the base model whose tokenizer counts the tokens.")
        return data
