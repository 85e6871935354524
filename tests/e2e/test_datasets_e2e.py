"""Upload datasets in real Chromium: the score appears (inline, and via HTMX polling after a real worker's run)."""

from __future__ import annotations

import json

import pytest

from tests.datasets_app.dataset_helpers import poor_rows, sft_rows

pytestmark = pytest.mark.django_db(transaction=True)


def _write(tmp_path, name, rows) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_upload_a_dataset_and_read_its_score(logged_in_page, live_server, tmp_path, screenshot):
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/")
    page.set_input_files("#id_file", _write(tmp_path, "amazon_e2e.jsonl", poor_rows(30)))
    page.fill("#id_name", "amazon e2e")
    page.click("#upload-submit")
    score = page.locator("#upload-result .dataset-score")
    score.wait_for()
    value = float(score.get_attribute("data-score"))
    assert 0 < value < 85 and score.get_attribute("data-band") == "poor"
    assert "Poor" in score.inner_text()

    page.click("#upload-result a.dataset-link")
    page.wait_for_url(f"{live_server.url}/datasets/library/**")
    assert float(page.locator("#quality-score").inner_text()) == value
    assert page.locator('tr[data-check="exact_duplicates"]').get_attribute("data-count") == "10"
    screenshot(page, "dataset-report")

    page.goto(f"{live_server.url}/datasets/")
    row_score = page.locator("#dataset-table .dataset-score").first
    assert float(row_score.get_attribute("data-score")) == value
    bar = page.locator("#dataset-table .progress-bar").first
    assert bar.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(239, 68, 68)"  # --error: Poor


def test_a_bad_file_is_refused_with_the_line(logged_in_page, live_server, tmp_path):
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/")
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"prompt": "ok", "completion": "x"}\n{"prompt": "caf\xe9"}\n')
    page.set_input_files("#id_file", str(bad))
    page.click("#upload-submit")
    banner = page.locator("#upload-result .banner-error")
    banner.wait_for()
    assert "Line 2 is not valid UTF-8" in banner.inner_text()


def test_large_upload_shows_progress_then_the_workers_score(
    logged_in_page, live_server, tmp_path, settings, rq_worker
):
    settings.RMN_DATASET_INLINE_MB = 0.001  # validated in the background
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/")
    page.set_input_files("#id_file", _write(tmp_path, "big_e2e.jsonl", sft_rows(200)))
    page.click("#upload-submit")
    page.locator("#upload-result .dataset-progress").wait_for()
    rq_worker.start("default")
    score = page.locator("#upload-result .dataset-score")
    score.wait_for(timeout=60_000)  # HTMX polls the status partial until the worker has written the report
    assert (
        float(score.get_attribute("data-score")) == 100.0 and score.get_attribute("data-band") == "excellent"
    )
