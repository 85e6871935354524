"""What a new user meets, in real Chromium: a fresh console points to the ways to make a dataset, seed_demo's SFT and
DPO sets are on the training form, a mapping builds a DPO set from its page, and pages do not go stale."""

from __future__ import annotations

import json

import pytest

from datasets_app.mappings import demo
from datasets_app.models import Dataset, SchemaMapping
from tests.datasets_app.dataset_helpers import sft_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_empty_library_points_to_the_ways_to_make_a_dataset(logged_in_page, live_server, tiny_base_models):
    page = logged_in_page
    page.goto(f"{live_server.url}/training/new/")
    banner = page.locator("#no-datasets")
    assert banner.is_visible()
    links = banner.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert "/datasets/" in links and "/datasets/mappings/" in links
    assert "seed_demo" in banner.inner_text()
    # The labels read right.
    page.click("summary:has-text('Advanced hyperparameters')")
    labels = " ".join(page.locator("#start-training label").all_inner_texts())
    assert "Learning rate" in labels and "Warmup ratio" in labels and "rankate" not in labels


def test_seeded_console_offers_demo_sft_and_dpo_on_the_form(logged_in_page, live_server, tiny_base_models):
    demo.seed_demo(rows=200)
    sft = Dataset.objects.get(name="demo_alpha_rmis_sft")
    dpo = Dataset.objects.get(name="demo_alpha_rmis_dpo")
    page = logged_in_page
    page.goto(f"{live_server.url}/training/new/")
    assert page.locator("#no-datasets").count() == 0
    assert page.input_value("#id_dataset") == str(sft.pk)  # preselected: the first run works as offered
    groups = page.locator("#id_dataset optgroup").evaluate_all("els => els.map(e => e.label)")
    assert any(g.startswith("SFT") for g in groups) and any(g.startswith("DPO") for g in groups)
    assert page.locator(f'#id_dataset option[value="{dpo.pk}"]').count() == 1
    # A DPO run on an SFT set is refused on the dataset choice, with the red summary banner, and no server path.
    page.fill("#id_adapter_name", "first_dpo")
    page.select_option("#id_training_type", "dpo")
    page.click("button:has-text('Start Training')")
    page.locator(".form-errors").wait_for()
    assert page.locator(".field-dataset .errorlist").count() == 1
    assert page.locator(".field-dataset_path .errorlist").count() == 0
    assert "/tmp/" not in page.locator(".form-errors").inner_text()


def test_build_a_dpo_set_from_the_mapping_page(logged_in_page, live_server):
    demo.seed_demo(rows=200)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    page = logged_in_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/datasets/mappings/{alpha.pk}/")
    build = page.locator('a[data-action="build-dataset"]')
    assert (
        build.is_visible() and build.bounding_box()["y"] < 900
    )  # above the fold, not at the bottom of the page
    build.click()
    page.select_option("#build-form select[name=kind]", "dpo")
    page.fill("#build-form input[name=examples]", "12")
    page.fill("#build-form input[name=name]", "alpha_pref_e2e")
    page.click("#build-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/datasets/mappings/{alpha.pk}/")
    dataset = Dataset.objects.get(name="alpha_pref_e2e")
    assert dataset.dataset_type == "dpo" and dataset.num_examples == 12
    pair = json.loads(dataset.abs_path().read_text().splitlines()[0])
    assert pair["chosen"] != pair["rejected"]
    assert "DPO" in page.locator("#build-form").inner_text() and "Task adapters" in page.inner_text(
        "#build-form"
    )


def test_pages_do_not_go_stale(logged_in_page, live_server, tmp_path):
    demo.seed_demo(rows=200)
    page = logged_in_page
    # An upload shows up in the library table without a reload.
    page.goto(f"{live_server.url}/datasets/")
    before = page.locator("#dataset-table tbody tr[data-dataset]").count()
    file = tmp_path / "fresh_upload.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in sft_rows(12)))
    page.set_input_files("#id_file", str(file))
    page.click("#upload-submit")
    page.locator("#upload-result .dataset-score").wait_for()
    new = Dataset.objects.get(name="fresh_upload")
    page.locator(f'#dataset-table tr[data-dataset="{new.pk}"]').wait_for()
    assert page.locator("#dataset-table tbody tr[data-dataset]").count() == before + 1

    # Validating a mapping updates its row in the version table too.
    beta_draft = SchemaMapping.objects.get(name="beta_events_to_rmis", status="draft")
    SchemaMapping.objects.filter(pk=beta_draft.pk).update(validation_status="", validation={})
    page.goto(f"{live_server.url}/datasets/mappings/{beta_draft.pk}/")
    badge = page.locator(f"#version-validation-{beta_draft.pk}")
    assert "not validated" in badge.inner_text()
    page.click('button[data-action="validate"]')
    page.wait_for_function(
        f"() => !document.querySelector('#version-validation-{beta_draft.pk}').innerText.includes('not validated')"
    )
    assert badge.inner_text().split()[-1] in {"valid", "warnings", "errors"}
