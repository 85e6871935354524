"""A fresh console's first training run has data: seed_demo builds a ready SFT and DPO set from the Alpha mapping,
and any mapping can build a DPO set (chosen = the correct RMIS record, rejected = a corrupted copy)."""

from __future__ import annotations

import json
import random

import pytest
from django.core.management import call_command

from datasets_app.mappings import demo
from datasets_app.mappings import services as svc
from datasets_app.mappings.harmonize.training import corrupt_record
from datasets_app.mappings.rmis import RmisField, RmisSchema
from datasets_app.models import Dataset, SchemaMapping


def _lines(dataset: Dataset) -> list[dict]:
    return [json.loads(line) for line in dataset.abs_path().read_text().splitlines()]


@pytest.mark.django_db
def test_seed_demo_offers_a_passing_sft_and_dpo_set(capsys):
    call_command("seed_demo", "--rows", "300")
    assert "training datasets created: demo_alpha_rmis_sft, demo_alpha_rmis_dpo" in capsys.readouterr().out
    sft = Dataset.objects.get(name="demo_alpha_rmis_sft")
    dpo = Dataset.objects.get(name="demo_alpha_rmis_dpo")
    assert (sft.dataset_type, dpo.dataset_type) == ("sft", "dpo")
    for dataset in (sft, dpo):
        assert dataset.quality_score is not None and dataset.quality_score >= svc_gate(), dataset.report
    assert set(_lines(sft)[0]) == {"prompt", "completion"}
    pairs = _lines(dpo)
    assert len(pairs) == 64 and all(set(p) == {"prompt", "chosen", "rejected"} for p in pairs)
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    call_command("seed_demo", "--rows", "300")
    assert "training datasets created: none (already there)" in capsys.readouterr().out
    assert Dataset.objects.filter(name__startswith="demo_alpha_rmis").count() == 2


def svc_gate() -> float:
    from datasets_app.library.services import quality_gate_threshold

    return quality_gate_threshold()


@pytest.mark.django_db
def test_build_a_dpo_set_from_a_mapping():
    demo.seed_demo(rows=200)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    dataset, stats = svc.build_training_dataset(alpha, examples=20, name="alpha_pref", kind="dpo")
    assert dataset.dataset_type == "dpo" and stats["written"] == 20
    pair = _lines(dataset)[0]
    chosen, rejected = json.loads(pair["chosen"]), json.loads(pair["rejected"])
    assert chosen["placement_type"] in {"sponsored_product", "sponsored_display", "onsite_display"}
    assert chosen != rejected


def test_corrupt_record_makes_a_real_mistake():
    schema = RmisSchema(
        name="rmis",
        version=1,
        description="",
        fields=(
            RmisField("cost", "float", required=True),
            RmisField(
                "placement_type", "string", required=True, allowed=("sponsored_product", "sponsored_display")
            ),
        ),
    )
    record = {"cost": 1.5, "placement_type": "sponsored_product"}
    seen = set()
    rng = random.Random(0)
    for _ in range(30):
        bad = corrupt_record(record, schema, rng)
        assert bad != record
        if bad.get("cost") == 1500.0:
            seen.add("scale")
        elif bad.get("placement_type") == "sponsored_display":
            seen.add("enum")
        elif len(bad) < len(record):
            seen.add("drop")
    assert seen == {"scale", "enum", "drop"}
