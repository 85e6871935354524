"""Exports round-trip: JSONL, CSV, Parquet and the `datasets` save_to_disk zip give back the rows of the file."""

from __future__ import annotations

import csv
import json
import zipfile

import pyarrow.parquet as pq
import pytest

from datasets_app.library import services
from datasets_app.library.export import export_dataset
from rmnconsole.core.errors import ServiceError
from tests.datasets_app.dataset_helpers import dpo_rows, sft_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def sft(data_root, user):
    rows = sft_rows(12)
    for i, row in enumerate(rows):
        row["category"] = ["grocery", "beauty"][i % 2]
    write_jsonl(data_root / "datasets" / "sft.jsonl", [*rows[:5], "not json", *rows[5:]])
    return services.register_dataset_file("datasets/sft.jsonl", name="sft data", user=user), rows


def test_jsonl_export_keeps_the_object_lines(sft, data_root):
    ds, rows = sft
    path = export_dataset(ds, "jsonl")
    assert path == data_root / "exports" / "datasets" / "sft-data-v1.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows


def test_csv_export_round_trips_with_json_cells(sft):
    ds, rows = sft
    with export_dataset(ds, "csv").open(newline="", encoding="utf-8") as fh:
        back = list(csv.DictReader(fh))
    assert [r["category"] for r in back] == [r["category"] for r in rows]
    assert [json.loads(r["messages"]) for r in back] == [r["messages"] for r in rows]


def test_parquet_export_round_trips(sft):
    ds, rows = sft
    assert pq.read_table(export_dataset(ds, "parquet")).to_pylist() == rows


def test_hf_save_to_disk_zip_round_trips(sft, tmp_path):
    import datasets

    ds, rows = sft
    archive = export_dataset(ds, "hf")
    assert archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    loaded = datasets.load_from_disk(str(tmp_path / "unzipped" / "sft-data-v1"))
    assert loaded.to_list() == rows


def test_dpo_parquet_round_trips(data_root, user):
    rows = dpo_rows(8)
    write_jsonl(data_root / "datasets" / "dpo.jsonl", rows)
    ds = services.register_dataset_file("datasets/dpo.jsonl", user=user)
    assert pq.read_table(export_dataset(ds, "parquet")).to_pylist() == rows


def test_lines_of_mixed_structure_still_round_trip_through_save_to_disk(data_root, user, tmp_path):
    import datasets

    rows = sft_rows(6)
    rows[3]["messages"] = "a plain string"  # datasets stores such a column as JSON
    write_jsonl(data_root / "datasets" / "mixed.jsonl", rows)
    ds = services.register_dataset_file("datasets/mixed.jsonl", user=user)
    with zipfile.ZipFile(export_dataset(ds, "hf")) as zf:
        zf.extractall(tmp_path / "out")
    assert datasets.load_from_disk(str(tmp_path / "out" / "mixed-v1")).to_list() == rows
    assert [json.loads(x) for x in export_dataset(ds, "jsonl").read_text().splitlines()] == rows


def test_unknown_format_is_refused(sft):
    with pytest.raises(ServiceError, match="Unknown export format"):
        export_dataset(sft[0], "xlsx")
