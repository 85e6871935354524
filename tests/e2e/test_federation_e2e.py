"""In real Chromium: create a federation with the guide's form, see its stack, run a prompt on the inference worker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# The federation test fixtures (adapters trained on tiny-llama) live in tests/federation/conftest.py.
_spec = importlib.util.spec_from_file_location(
    "federation_e2e_fixtures", Path(__file__).parents[1] / "federation" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
trained_adapters, fed, texts = _fixtures.trained_adapters, _fixtures.fed, _fixtures.texts


def test_create_federation_and_run_a_prompt(logged_in_page, live_server, rq_worker, fed, texts, screenshot):
    worker = rq_worker.start("inference", simple=True)
    page = logged_in_page
    page.goto(f"{live_server.url}/federation/")
    page.fill("#id_name", "amazon-planning")
    page.select_option("#id_base_model", str(fed.llama.pk))
    page.select_option("#id_retailer_adapter", str(fed.retailer.pk))
    page.select_option("#id_task_adapter", str(fed.task.pk))
    page.fill("#id_task_weight", "0.25")
    page.check("input[name=method][value=additive]")
    assert page.locator("fieldset[data-method=additive]").is_visible()
    assert not page.locator("fieldset[data-method=gated]").is_visible()
    # Adapters of another base model are hidden once tiny-llama is chosen.
    assert page.locator(f"#id_task_adapter option[value='{fed.foreign.pk}']").is_disabled()
    page.click("button[type=submit]:has-text('Create Federation')")
    page.wait_for_url(f"{live_server.url}/federation/*/")

    boxes = page.locator("[data-testid=composition-stack] .fed-box-title").all_inner_texts()
    assert boxes == [
        "Base: tiny-llama",
        "Retailer: amazon_schema v1",
        "Task: planning v1",
        "Federated Model (Ready)",
    ]

    page.fill("#id_prompt", texts.retailer_prompt)
    page.fill("#id_max_new_tokens", "16")
    page.click("button:has-text('Run Inference')")
    response = page.locator("[data-testid=response]")
    response.wait_for(timeout=120_000)
    assert response.inner_text().strip(), (
        f"empty response; worker log: {Path(worker.log_path).read_text()[-2000:]}"
    )
    assert int(page.locator("[data-testid=generated-tokens]").inner_text()) > 0
    used = page.locator("[data-testid=adapters-used]").inner_text()
    assert "amazon_schema v1" in used and "planning v1" in used and "weight 0.25" in used
    assert page.locator("[data-testid=cache]").inner_text().startswith("miss")
    # The metrics panel reloads itself when the run finishes: latency percentiles and the history row appear.
    page.wait_for_function("document.querySelector('#metrics-panel').innerText.includes('over 1 runs')")
    assert page.locator("#run-history tbody tr").count() == 1
    screenshot(page, "federation-test-run")

    page.click("button:has-text('Run Inference')")
    page.wait_for_function(
        "document.querySelector('#run-result')?.dataset.status === 'completed' && "
        "document.querySelector('[data-testid=cache]')?.innerText === 'hit'",
        timeout=120_000,
    )
