"""The Python facade (rmnconsole.console) for mappings and sources: the same services, ids or names in, dicts out."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.django_db


def test_facade_round_trip(data_root, tmp_path):
    from rmnconsole import console

    summary = console.seed_demo(rows=300)
    assert len(summary["sources"]) == 5
    mappings = console.list_mappings("retailer_alpha")
    assert [(m["name"], m["status"], m["validation_status"]) for m in mappings] == [
        ("alpha_events_to_rmis", "active", "ok")
    ]
    alpha = mappings[0]["id"]
    assert console.validate_mapping(alpha)["status"] == "ok"
    rows = console.preview_mapping(alpha, limit=3)
    assert (
        len(rows) == 3
        and rows[0]["ts"].endswith("Z")
        and rows[0]["placement_type"] in ("sponsored_product", "sponsored_display", "onsite_display")
    )
    page = console.browse_source("Retailer Alpha Events", type="sd", page_size=5)
    assert page["total"] > 0 and len(page["rows"]) == 5
    draft = console.update_mapping(
        alpha, notes="try a draft"
    )  # an Active version is edited through a new Draft
    assert draft["status"] == "draft" and draft["version"] == 2 and draft["id"] != alpha
    activated = console.activate_mapping(draft["id"])
    assert activated["status"] == "active"
    out = console.export_source(
        "Retailer Alpha Events", tmp_path / "alpha.parquet", mapping_id=activated["id"], type="sd"
    )
    assert pq.read_table(out).num_rows == page["total"]
    built = console.build_training_dataset(activated["id"], examples=10)
    assert built["written"] == 10 and built["path"].startswith("datasets/")
    with pytest.raises(Exception, match="no data source named"):
        console.browse_source("Nope")
