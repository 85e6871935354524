"""Every download control in the console, pressed in real Chromium: a file arrives (Playwright's download API),
with the right name, type and content, and the page it was pressed on stays where it was."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datasets_app.library.services import register_dataset_file
from datasets_app.mappings import demo
from tests.datasets_app.dataset_helpers import sft_rows, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)

# The federation fixtures (adapters trained on tiny-llama) live in tests/federation/conftest.py.
_spec = importlib.util.spec_from_file_location(
    "federation_download_fixtures", Path(__file__).parents[1] / "federation" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
trained_adapters, fed, make_federation = _fixtures.trained_adapters, _fixtures.fed, _fixtures.make_federation


def _download(page, selector: str):
    """Press the control, return (suggested filename, bytes, the page URL afterwards)."""
    before = page.url
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    assert download.failure() is None
    data = Path(download.path()).read_bytes()
    # A download leaves the page alone: nothing was swapped in, no navigation.
    assert page.url == before
    return download.suggested_filename, data


def _content_type(page, url: str) -> str:
    return page.request.get(url).headers["content-type"].split(";")[0]


def test_data_browser_exports_download_files(logged_in_page, live_server):
    demo.seed_demo(rows=120)
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/sources/")
    page.click("text=Retailer Alpha Events")
    page.wait_for_selector("#browser-table")
    page.select_option('select[name="type"]', "sd")
    page.click('button[data-action="apply-filters"]')
    page.wait_for_function("() => document.querySelector('[data-total]').dataset.total !== '120'")
    total = int(page.locator("[data-total]").get_attribute("data-total"))
    results_before = page.locator("#browser-results").inner_html()

    name, data = _download(page, 'button[data-export-format="csv"]')
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == total and {r["adType"] for r in rows} == {"sd"}

    name, data = _download(page, 'button[data-export-format="jsonl"]')
    assert name.endswith(".jsonl")
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert len(lines) == total and {r["adType"] for r in lines} == {"sd"}

    name, data = _download(page, 'button[data-export-format="parquet"]')
    assert name.endswith(".parquet") and data[:4] == b"PAR1"
    assert pq.read_table(io.BytesIO(data)).num_rows == total
    # The binary file never landed in the page.
    assert page.locator("#browser-results").inner_html() == results_before

    # Harmonized through a mapping: the file carries RMIS columns.
    page.select_option('select[aria-label="Export as"]', index=1)
    name, data = _download(page, 'button[data-export-format="jsonl"]')
    assert name.endswith("_rmis.jsonl")
    first = json.loads(data.decode().splitlines()[0])
    assert "placement_type" in first

    export_url = page.locator('button[data-export-format="csv"]').get_attribute("data-export-url")
    assert _content_type(page, f"{live_server.url}{export_url}?format=csv") == "text/csv"
    assert (
        _content_type(page, f"{live_server.url}{export_url}?format=parquet")
        == "application/vnd.apache.parquet"
    )


def test_dataset_downloads_and_exports(logged_in_page, live_server, data_root):
    path = write_jsonl(data_root / "datasets" / "sft" / "demo_download.jsonl", sft_rows(12))
    dataset = register_dataset_file(path, name="demo_download", background=False)
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/library/{dataset.pk}/")

    name, data = _download(page, "text=Download .jsonl")
    assert name == "demo_download.jsonl" and data == path.read_bytes()

    expected = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "hf": ".zip"}
    for fmt, suffix in expected.items():
        name, data = _download(page, f'a[data-export="{fmt}"]')
        assert name.endswith(suffix), name
        if fmt == "jsonl":
            assert len(data.decode().splitlines()) == 12
        elif fmt == "csv":
            assert len(list(csv.DictReader(io.StringIO(data.decode())))) == 12
        elif fmt == "parquet":
            assert pq.read_table(io.BytesIO(data)).num_rows == 12
        else:
            assert any(n.endswith("dataset_info.json") for n in zipfile.ZipFile(io.BytesIO(data)).namelist())
        href = page.locator(f'a[data-export="{fmt}"]').get_attribute("href")
        assert (
            _content_type(page, f"{live_server.url}{href}")
            == {
                "jsonl": "application/x-ndjson",
                "csv": "text/csv",
                "parquet": "application/vnd.apache.parquet",
                "hf": "application/zip",
            }[fmt]
        )


def test_adapter_and_federation_downloads(logged_in_page, live_server, fed, make_federation):
    federation = make_federation("additive", name="download_fed")
    page = logged_in_page

    page.goto(f"{live_server.url}/training/adapters/")
    name, data = _download(page, f'tr[data-adapter="{fed.retailer.pk}"] a[data-download="adapter"]')
    assert name == "amazon_schema-v1.zip"
    members = {Path(n).name for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= members

    page.goto(f"{live_server.url}/training/adapters/{fed.retailer.pk}/")
    name, data = _download(page, 'a[data-download="adapter"]')
    assert name == "amazon_schema-v1.zip"
    assert "adapter_model.safetensors" in {Path(n).name for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}

    page.goto(f"{live_server.url}/federation/{federation.pk}/")
    name, data = _download(page, '[data-download="federation-config"]')
    assert name == f"download_fed-v{federation.version}.json"
    config = json.loads(data)
    assert config["name"] == "download_fed" and len(config["members"]) == 2

    name, data = _download(page, '[data-download="composed-adapter"]')
    assert name == f"download_fed-v{federation.version}.zip"
    composed = zipfile.ZipFile(io.BytesIO(data))
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(composed.namelist())
    assert json.loads(composed.read("adapter_config.json"))["r"] >= 8
