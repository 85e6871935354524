"""Mapping services on the seeded demo data: the guide's example, versioning, immutability, activation, coverage."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from django.db import IntegrityError, transaction

from datasets_app.mappings import demo as sample_data
from datasets_app.mappings import services as svc
from datasets_app.models import DataSource, ImmutableMapping, SchemaMapping
from rmnconsole.core.errors import Conflict, ServiceError
from rmnconsole.models import AuditEvent

pytestmark = pytest.mark.django_db
ROWS = 600


@pytest.fixture
def demo():
    sample_data.seed_demo(rows=ROWS)
    return {
        "alpha": SchemaMapping.objects.get(name="alpha_events_to_rmis"),
        "beta1": SchemaMapping.objects.get(name="beta_events_to_rmis", version=1),
        "beta2": SchemaMapping.objects.get(name="beta_events_to_rmis", version=2),
    }


def test_seed_registers_five_sources_and_the_guide_mapping(demo):
    assert set(DataSource.objects.values_list("name", flat=True)) == {
        s.name for s in sample_data.DEMO_SOURCES
    }
    alpha = demo["alpha"]
    assert alpha.status == "active" and alpha.validation_status == "ok"
    assert (alpha.coverage_pct, alpha.required_coverage_pct) == (88.2, 100.0)
    assert demo["beta1"].status == "active" and demo["beta1"].validation_status == "warn"
    assert (
        demo["beta2"].status == "draft"
        and demo["beta2"].validation_status == "ok"
        and demo["beta2"].parent_id == demo["beta1"].pk
    )
    rules = {r["target"]: r for r in alpha.rules}
    assert (
        rules["placement_type"]["source"] == "adType"
        and rules["placement_type"]["transform"]["type"] == "enum_map"
    )
    assert rules["cost"]["transform"] == {"type": "scale", "operation": "divide", "factor": 1000000.0}
    assert rules["ts"]["transform"]["type"] == "to_utc" and rules["conversions"]["transform"] == {
        "type": "none"
    }


def test_guide_example_harmonizes_alpha_correctly(demo, data_root):
    alpha = demo["alpha"]
    result = svc.preview_mapping(alpha, limit=500)
    assert result["errors"] == [] and len(result["rows"]) == 500
    rows = [dict(zip(result["columns"], r, strict=True)) for r in result["rows"]]
    with (data_root / "sources/demo/retailer_alpha_events.csv").open() as fh:
        raw = list(csv.DictReader(fh))[:500]
    placement = {"sp": "sponsored_product", "sd": "sponsored_display", "onsite_disp": "onsite_display"}
    for got, src in zip(rows, raw, strict=True):
        assert got["placement_type"] == placement[src["adType"]]
        assert got["cost"] == pytest.approx(int(src["cost_micros"]) / 1_000_000)
        assert got["ts"] == dt.datetime.fromisoformat(src["timestamp"]).astimezone(dt.UTC)
        assert got["conversions"] == int(src["conv_click_7d"])
        assert got["campaign_id"] == src["campaign"].strip()
        assert got["attribution_window_days"] == 7
    assert any(src["campaign"] != src["campaign"].strip() for src in raw)  # the trim rule had work to do
    report = svc.validate_mapping(alpha)
    assert report["status"] == "ok" and report["rows"] == ROWS
    assert all(c["count"] == 0 for c in report["checks"])


def test_active_versions_are_immutable(demo, staff_user):
    alpha = demo["alpha"]
    with pytest.raises(Conflict, match="active and cannot change"):
        svc.update_draft(alpha, rules=alpha.rules[:3])
    with pytest.raises(Conflict):
        svc.set_rule(alpha, 0, {"source": "adType", "target": "channel"})
    with pytest.raises(Conflict):
        svc.delete_rule(alpha, 0)
    with pytest.raises(Conflict):
        svc.delete_draft(alpha, user=staff_user)  # not even staff delete an Active version
    alpha.rules = alpha.rules[:2]
    with pytest.raises(ImmutableMapping):
        alpha.save()
    alpha.refresh_from_db()
    assert len(alpha.rules) == len(sample_data.ALPHA_RULES)
    svc.validate_mapping(alpha)  # validation results of an Active version may still be refreshed


def test_edit_creates_a_draft_and_activation_deprecates_the_previous(demo, user):
    alpha = demo["alpha"]
    draft = svc.edit_mapping(alpha, user=user)
    assert (draft.status, draft.version, draft.parent_id) == ("draft", 2, alpha.pk)
    assert draft.rules == alpha.rules
    assert svc.edit_mapping(alpha, user=user).pk == draft.pk  # one draft at a time per key
    rules = [r for r in draft.rules if r["target"] != "ad_group_id"]
    draft = svc.update_draft(draft, rules=rules)
    assert draft.coverage_pct == round(100 * 14 / 17, 1)
    activated = svc.activate_mapping(draft, user=user)
    alpha.refresh_from_db()
    assert activated.status == "active" and activated.activated_at is not None
    assert alpha.status == "deprecated"
    assert SchemaMapping.objects.filter(retailer="retailer_alpha", status="active").count() == 1
    event = AuditEvent.objects.get(action="mapping.activate", object_id=str(activated.pk))
    assert event.actor == user and event.details["deprecated"] == [1]
    again = svc.edit_mapping(alpha)  # editing a deprecated version copies its rules into a new draft
    assert again.version == 3 and again.rules == alpha.rules
    with pytest.raises(Conflict):
        svc.activate_mapping(activated)  # only drafts activate


def test_one_active_per_key_is_enforced_by_the_database(demo):
    beta2 = demo["beta2"]
    with pytest.raises(IntegrityError), transaction.atomic():
        SchemaMapping.objects.filter(pk=beta2.pk).update(status="active")


def test_activation_is_refused_while_validation_fails(demo):
    source = demo["alpha"].source
    draft = svc.create_mapping(
        name="partial", retailer="retailer_alpha", source=source,
        rules=[{"source": "adType", "target": "placement_type", "transform": sample_data.ALPHA_RULES[5]["transform"]}],
    )  # fmt: skip
    assert draft.version == 2 and draft.required_coverage_pct == 12.5
    with pytest.raises(ServiceError, match="Required field not mapped: ts") as exc:
        svc.activate_mapping(draft)
    assert {c["target"] for c in exc.value.details["checks"]} >= {"ts", "cost", "currency"}
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.validation_status == "error"
    forced = svc.activate_mapping(draft, force=True)
    assert forced.status == "active"
    assert (
        AuditEvent.objects.get(action="mapping.activate", object_id=str(forced.pk)).details["forced"] is True
    )


def test_bad_rules_are_refused_with_details(demo):
    source = demo["alpha"].source
    bad = [
        {
            "source": "adType",
            "target": "placement_type",
            "transform": {"type": "enum_map", "pairs": [{"source": "sp", "target": "tv"}]},
        },
        {"source": "no_such_column", "target": "clicks", "transform": {"type": "none"}},
    ]
    with pytest.raises(ServiceError) as exc:
        svc.create_mapping(name="bad", retailer="retailer_alpha", source=source, rules=bad)
    messages = [e["msg"] for e in exc.value.details["rules"]]
    assert any("'tv' is not an allowed placement_type" in m for m in messages)
    assert any("no column 'no_such_column'" in m for m in messages)
    with pytest.raises(ServiceError, match="unknown RMIS schema"):
        svc.create_mapping(name="x", retailer="r", source=source, target_schema="rmis.nope")
    assert not SchemaMapping.objects.filter(name__in=["bad", "x"]).exists()
    draft = demo["beta2"]
    with pytest.raises(ServiceError, match="greater than 0") as exc:
        svc.set_rule(
            draft, None, {"source": "spend", "target": "cost", "transform": {"type": "scale", "factor": -3}}
        )
    assert exc.value.details["rules"][0]["rule"] == len(
        sample_data.BETA_RULES_V2
    )  # the new row, not another rule


def test_preview_of_unsaved_rules_and_inline_errors(demo):
    draft = demo["beta2"]
    preview = svc.preview_mapping(
        draft,
        rules=[
            {
                "source": "spend",
                "target": "cost",
                "transform": {"type": "scale", "operation": "multiply", "factor": 100},
            }
        ],
    )
    assert preview["columns"] == ["cost"] and len(preview["rows"]) == 20
    assert preview["coverage"]["mapped"] == ["cost"]
    broken = svc.preview_mapping(draft, rules=[{"source": "nope", "target": "cost"}])
    assert broken["rows"] == [] and "no column 'nope'" in broken["errors"][0]["msg"]
    draft.refresh_from_db()
    assert len(draft.rules) == len(sample_data.BETA_RULES_V2)  # previews never save


def test_diff_between_versions(demo):
    changes = svc.diff_mappings(demo["beta1"], demo["beta2"])
    assert [c["target"] for c in changes] == ["placement_type", "channel"]
    assert changes[0]["change"] == "changed" and changes[0]["pairs_added"] == ["NATIVE → onsite_display"]
    assert changes[1]["pairs_added"] == ["NATIVE → onsite"] and changes[1]["pairs_removed"] == []
    assert svc.diff_mappings(demo["beta1"], demo["beta1"]) == []


def test_build_training_dataset_writes_and_registers_sft(demo, data_root, user):
    from datasets_app.models import Dataset

    dataset, stats = svc.build_training_dataset(
        demo["beta2"], examples=50, name="beta_schema_v2", seed=3, user=user
    )
    assert stats == {"written": 50, "skipped_incomplete": 0}
    assert Dataset.objects.filter(pk=dataset.pk, name="beta_schema_v2", dataset_type="sft").exists()
    lines = (data_root / dataset.path).read_text().splitlines()
    assert len(lines) == 50
    first = json.loads(lines[0])
    assert set(first) == {"prompt", "completion"}
    assert "rmis.ad_event@v1" in first["prompt"] and '"eventTime"' in first["prompt"]
    completion = json.loads(first["completion"])
    assert completion["ts"].endswith("Z") and completion["retailer"] in ("beta_uk", "beta_de")
    assert completion["attribution_window_days"] == 14
    raw = json.loads(first["prompt"].split("Record:\n", 1)[1])
    assert completion["cost"] == raw["spend"] and completion["retailer"] == raw["banner"].lower()
    again, _ = svc.build_training_dataset(demo["beta2"], examples=50, seed=3, user=user)
    assert (data_root / again.path).read_text() == (
        data_root / dataset.path
    ).read_text()  # same seed, same sample
    _v1, stats_v1 = svc.build_training_dataset(demo["beta1"], examples=ROWS, user=user)
    assert stats_v1["skipped_incomplete"] > 0 and stats_v1["written"] == ROWS - stats_v1["skipped_incomplete"]
    with pytest.raises(ServiceError, match="examples"):
        svc.build_training_dataset(demo["beta2"], examples=0)


def test_build_refuses_unmapped_values_under_error_policy(demo, data_root):
    rules = [dict(r) for r in sample_data.ALPHA_RULES]
    placement = next(r for r in rules if r["target"] == "placement_type")
    placement["transform"] = {
        **placement["transform"],
        "pairs": placement["transform"]["pairs"][:2],
    }  # drop onsite_disp
    draft = svc.update_draft(svc.edit_mapping(demo["alpha"]), rules=rules)
    before = set((data_root / "datasets").glob("*.jsonl")) if (data_root / "datasets").exists() else set()
    with pytest.raises(ServiceError, match="unmapped value for adType: onsite_disp"):
        svc.build_training_dataset(draft, examples=ROWS)
    after = set((data_root / "datasets").glob("*.jsonl"))
    assert after == before  # nothing half-written
