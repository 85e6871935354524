"""`manage.py seed_demo`: idempotent, deterministic, --rows, and the sample files carry the retailers' real quirks."""

from __future__ import annotations

import csv
import hashlib
import json

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from datasets_app.mappings import demo as sample_data
from datasets_app.models import DataSource, SchemaMapping


def _digests(folder) -> dict[str, str]:
    return {
        s.filename: hashlib.sha256((folder / s.filename).read_bytes()).hexdigest()
        for s in sample_data.DEMO_SOURCES
    }


@pytest.mark.django_db
def test_command_is_idempotent(data_root, capsys):
    call_command("seed_demo", "--rows", "300")
    out = capsys.readouterr().out
    assert "alpha_events_to_rmis v1 (active)" in out and "beta_events_to_rmis v2 (draft)" in out
    folder = data_root / "sources" / "demo"
    first = _digests(folder)
    counts = (DataSource.objects.count(), SchemaMapping.objects.count())
    call_command("seed_demo", "--rows", "300")
    assert "none (already there)" in capsys.readouterr().out
    assert (DataSource.objects.count(), SchemaMapping.objects.count()) == counts == (5, 3)
    call_command("seed_demo", "--rows", "300", "--force")
    assert _digests(folder) == first  # same seed, same bytes
    alpha = DataSource.objects.get(name="Retailer Alpha Events")
    assert alpha.row_count == 300 and alpha.path == "sources/demo/retailer_alpha_events.csv" and alpha.is_demo
    call_command("seed_demo", "--rows", "500")
    alpha.refresh_from_db()
    assert alpha.row_count == 500 and _digests(folder) != first
    with pytest.raises(CommandError, match="--rows"):
        call_command("seed_demo", "--rows", "1")


def test_files_are_deterministic_and_carry_the_quirks(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    sample_data.write_demo_files(a, rows=2000)
    sample_data.write_demo_files(b, rows=2000)
    assert _digests(a) == _digests(b)
    with (a / "retailer_alpha_events.csv").open() as fh:
        alpha = list(csv.DictReader(fh))
    assert len(alpha) == 2000
    assert {
        "adType",
        "cost_micros",
        "timestamp",
        "conv_click_7d",
        "impressions",
        "clicks",
        "campaign",
        "SKU",
    } <= set(alpha[0])
    assert {r["adType"] for r in alpha} == {"sp", "sd", "onsite_disp"}
    offsets = {r["timestamp"][-6:] for r in alpha}
    assert {"-05:00", "-04:00", "-06:00"} <= offsets  # local time with offset, across the DST change
    assert all(r["cost_micros"].isdigit() for r in alpha)
    assert any(r["campaign"].endswith(" ") for r in alpha)
    beta = [json.loads(line) for line in (a / "retailer_beta_events.jsonl").read_text().splitlines()]
    assert (
        len(beta) == 2000
        and isinstance(beta[0]["eventTime"], int)
        and beta[0]["eventTime"] > 1_700_000_000_000
    )
    assert isinstance(beta[0]["spend"], float) and "cost_micros" not in beta[0]
    placements = {r["placement"] for r in beta}
    assert {"SPONSORED_PRODUCTS", "DISPLAY_OFFSITE", "sponsored_products", "NATIVE"} <= placements
    assert any("clk" not in r for r in beta) and all("orders_14d" in r for r in beta)
    with (a / "sku_catalog.csv").open() as fh:
        catalog = list(csv.DictReader(fh))
    assert {r["SKU"] for r in alpha} <= {c["sku"] for c in catalog}
    assert {r["gtin"] for r in beta} <= {c["gtin"] for c in catalog}
    priors = (a / "uplift_priors.csv").read_text().splitlines()
    assert priors[0].startswith("category,placement_type,prior_lift_mean")
    metrics = pq.read_table(a / "performance_metrics.parquet")
    assert {"date", "retailer", "ctr", "roas"} <= set(metrics.column_names) and metrics.num_rows > 0
