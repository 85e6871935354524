"""Plausibility from the target fields' expected ranges: a mapping that leaves cost 1000× too large (÷1000 on data in
micros) must not validate ✅, and the demo mappings (correct units) still do."""

from __future__ import annotations

import copy

import pytest

from datasets_app.mappings import demo
from datasets_app.mappings import services as svc
from datasets_app.models import SchemaMapping

pytestmark = pytest.mark.django_db


def _with_cost_factor(factor: int) -> list[dict]:
    rules = copy.deepcopy(demo.ALPHA_RULES)
    for rule in rules:
        if rule["target"] == "cost":
            rule["transform"]["factor"] = factor
    return rules


def test_micros_divided_by_1000_is_an_error_not_a_tick():
    demo.seed_demo(rows=300)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    good = svc.validate_mapping(alpha, save=False)
    assert not [c for c in good["checks"] if c["check"] == "implausible_scale"], good["checks"]

    draft = svc.update_draft(svc.edit_mapping(alpha), rules=_with_cost_factor(1000))
    report = svc.validate_mapping(draft, save=False)
    assert report["status"] == "error"
    slips = [c for c in report["checks"] if c["check"] == "implausible_scale"]
    assert {c["target"] for c in slips} >= {"cost"}
    cpc = next(c for c in slips if "CPC" in c["source"])
    assert "micros" in cpc["message"] and float(cpc["examples"][0]) > 200


def test_every_demo_mapping_is_plausible():
    demo.seed_demo(rows=300)
    for mapping in SchemaMapping.objects.all():
        report = svc.validate_mapping(mapping, save=False)
        assert not [c for c in report["checks"] if c["check"] == "implausible_scale"], (
            mapping,
            report["checks"],
        )
