"""The Python facade's validate_dataset (the user guide's example works as written) and the CLI command."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from datasets_app.models import Dataset
from rmnconsole.core.errors import ServiceError
from tests.datasets_app.dataset_helpers import poor_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.django_db


def test_validate_dataset_as_in_the_user_guide(data_root, settings):
    from rmnconsole.console import validate_dataset

    settings.RMN_DATASET_INLINE_MB = 0.0001  # the facade answers inline whatever the size
    write_jsonl(data_root / "datasets" / "amazon.jsonl", sft_rows(30))
    validation_results = validate_dataset("datasets/amazon.jsonl")
    approved = validation_results["quality_score"] >= 90
    assert approved and validation_results["band"] == "excellent" and validation_results["examples"] == 30
    assert {"json_valid", "required_fields", "field_types", "exact_duplicates", "balance", "pii"} <= set(
        validation_results["checks"]
    )
    again = validate_dataset("datasets/amazon.jsonl")  # re-validates the same library row
    assert again["dataset_id"] == validation_results["dataset_id"] and Dataset.objects.count() == 1
    with pytest.raises(ServiceError, match="Path refused"):
        validate_dataset("../../etc/passwd")


def test_management_command(data_root, capsys):
    write_jsonl(data_root / "datasets" / "walmart.jsonl", poor_rows(30))
    call_command("validate_dataset", "datasets/walmart.jsonl")
    out = capsys.readouterr().out
    assert "datasets/walmart.jsonl:" in out and "(Poor)" in out
    assert "Exact duplicates: 10 of 40 (lines 31, 32, 33" in out
    call_command("validate_dataset", "datasets/walmart.jsonl", "--json")
    assert json.loads(capsys.readouterr().out)["checks"]["exact_duplicates"]["count"] == 10
    with pytest.raises(CommandError, match="does not exist"):
        call_command("validate_dataset", "datasets/nope.jsonl")
