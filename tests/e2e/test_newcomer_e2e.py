"""What a new user meets, in real Chromium: a fresh console points to the ways to make a dataset, seed_demo's SFT and
DPO sets are on the training form, a mapping builds a DPO set from its page, and pages do not go stale."""

from __future__ import annotations

import json
from pathlib import Path

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


@pytest.mark.timeout(1200)
def test_a_newcomer_trains_the_demo_adapter_composes_it_and_asks_a_prompt(
    logged_in_page, live_server, rq_worker, tiny_base_models
):
    """The whole first run through the UI only: overview → Start Training with what the form offers (the demo
    preset, the demo SFT set) → the job completes on a real worker → the adapter is in the registry → a federation
    of it → a test prompt answered by the inference worker. Tiny model, 8 steps: ~1–2 minutes on a quiet machine."""
    from training.models import Adapter, TrainingJob

    demo.seed_demo(rows=200)
    training = rq_worker.start("training")
    inference = rq_worker.start("inference", simple=True)
    page = logged_in_page
    page.set_default_timeout(
        300_000
    )  # the submit checks the dataset and the base model's modules: slow under load
    page.goto(f"{live_server.url}/")
    page.click("#overview-jobs a:has-text('Start training')")
    page.click("a[data-action=demo-preset]")
    assert page.input_value("#id_adapter_name") == "alpha_demo"
    assert page.input_value("#id_dataset") == str(Dataset.objects.get(name="demo_alpha_rmis_sft").pk)
    page.select_option("#id_base_model", label="tiny-llama")  # SmolLM2 is not imported in tests
    page.click("summary:has-text('Advanced hyperparameters')")
    assert (
        page.input_value("#id_max_steps") == "40" and page.input_value("#id_target_modules") == "all-linear"
    )
    for field in (
        "max_steps",
        "eval_steps",
        "checkpoint_steps",
    ):  # the preset's 40 steps cost too much CI time
        page.fill(f"#id_{field}", "8")
    page.click("button:has-text('Start Training')")
    page.wait_for_url(f"{live_server.url}/training/jobs/*/")
    job = TrainingJob.objects.get(adapter_name="alpha_demo")
    assert job.config["max_steps"] == 8 and job.config["target_modules"] == ["all-linear"]
    assert job.config["learning_rate"] == 0.001 and job.config["lr_scheduler"] == "cosine"
    page.wait_for_function(  # any end: a failed job must fail the test now, not after the timeout
        "['completed', 'failed', 'cancelled'].includes(document.querySelector('.job-progress')?.dataset.status)",
        timeout=900_000,
    )
    job.refresh_from_db()
    assert job.status == "completed", (
        f"{job.status}: {job.status_reason}\n{Path(training.log_path).read_text()[-2000:]}"
    )
    assert job.final_metrics["batching"] in ("padding_free", "length_grouped")
    assert page.inner_text("[data-testid=batching]").startswith(
        "batches: "
    )  # the page says which one it used

    adapter = Adapter.objects.get(source_job=job)
    page.click("[data-testid=adapter-link]")
    page.wait_for_url(f"{live_server.url}/training/adapters/{adapter.pk}/")
    page.goto(f"{live_server.url}/training/adapters/")
    assert "alpha_demo" in page.inner_text("main")

    page.goto(f"{live_server.url}/federation/")
    page.fill("#id_name", "alpha-first")
    page.select_option("#id_base_model", str(adapter.base_model_id))
    page.select_option("#id_retailer_adapter", str(adapter.pk))
    page.check("input[name=method][value=additive]")
    page.click("button[type=submit]:has-text('Create Federation')")
    page.wait_for_url(f"{live_server.url}/federation/*/")
    record = json.loads(
        Dataset.objects.get(name="demo_alpha_rmis_sft").abs_path().read_text().splitlines()[0]
    )
    page.fill("#id_prompt", record["prompt"])
    page.fill("#id_max_new_tokens", "12")
    page.click("button:has-text('Run Inference')")
    response = page.locator("[data-testid=response]")
    response.wait_for(timeout=300_000)
    assert int(page.locator("[data-testid=generated-tokens]").inner_text()) > 0, Path(
        inference.log_path
    ).read_text()[-2000:]
    assert "alpha_demo v1" in page.locator("[data-testid=adapters-used]").inner_text()
