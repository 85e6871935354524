"""Every page of the console at 1280 and 1440 px: nothing overflows horizontally outside a scroll container.

The page (`documentElement`) and every card must satisfy scrollWidth <= clientWidth; a wide table may scroll only inside
its own `.table-scroll` box. The data is chosen to be wide: long names, long prompts and responses, long paths."""

from __future__ import annotations

import pytest
from django.utils import timezone

from datasets_app.mappings import demo
from datasets_app.models import Dataset, DataSource, SchemaMapping
from tests.e2e.layout_checks import OVERFLOW_JS, WIDTHS

pytestmark = pytest.mark.django_db(transaction=True)

LONG = (
    "Map this retailer record to the RMIS schema with every field, enum, unit and UTC time spelled out " * 6
)
UNBROKEN = "sponsored_product_" * 12


@pytest.fixture
def wide_console(tiny_base_models):
    from federation.models import ABTest, Federation, FederationMember
    from training.models import Adapter, TrainingJob, TrainingMetric

    demo.seed_demo(rows=200)
    llama = tiny_base_models["tiny-llama"]
    adapters = [
        Adapter.objects.create(
            adapter_type=kind,
            name=f"{name}_with_a_rather_long_descriptive_name",
            version=1,
            base_model=llama,
            rank=8,
            alpha=16,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            path=f"adapters/{name}-v1",
            size_bytes=123_456,
            sha256="0" * 64,
        )
        for name, kind in (("amazon_schema", "retailer"), ("budget_planning", "task"))
    ]
    feds = []
    for name in ("additive_amazon_plus_planning_federation", "second_federation_for_the_comparison"):
        fed = Federation.objects.create(name=name, base_model=llama, method="additive", status="ready")
        for position, (adapter, role) in enumerate(zip(adapters, ("retailer", "task"), strict=True)):
            FederationMember.objects.create(
                federation=fed, adapter=adapter, weight=1.0, role=role, position=position
            )
        feds.append(fed)
    side = {
        "latency_p50_ms": 120.0,
        "latency_p95_ms": 200.0,
        "tokens": 640,
        "exact_match": 0.2,
        "token_f1": 0.5,
    }
    abtest = ABTest.objects.create(
        name="long prompts side by side",
        federation_a=feds[0],
        federation_b=feds[1],
        prompts=[{"prompt": LONG, "reference": UNBROKEN}] * 3,
        status="completed",
        progress_done=6,
        verdict="B is not different from A on token-F1.",
        finished_at=timezone.now(),
        results={
            "a": side,
            "b": side,
            "rows": [
                {
                    "prompt": LONG,
                    "reference": UNBROKEN,
                    "a": {
                        "response": UNBROKEN * 3,
                        "latency_ms": 120,
                        "generated_tokens": 64,
                        "token_f1": 0.5,
                    },
                    "b": {"response": LONG, "latency_ms": 121, "generated_tokens": 64, "token_f1": 0.4},
                }
            ]
            * 3,
        },
    )
    job = TrainingJob.objects.create(
        adapter_type="retailer",
        adapter_name="amazon_schema_with_a_rather_long_descriptive_name",
        base_model=llama,
        training_type="sft",
        dataset_path="datasets/sft/" + "very_long_dataset_file_name_" * 4 + ".jsonl",
        status="failed",
        status_reason="Traceback (most recent call last): " + UNBROKEN * 4,
        log=("step 1 loss 2.0 " + UNBROKEN) * 20,
        finished_at=timezone.now(),
    )
    TrainingMetric.objects.bulk_create(TrainingMetric(job=job, step=s, loss=2.0 / s) for s in range(1, 11))
    mapping = SchemaMapping.objects.filter(status="active").first()
    draft = SchemaMapping.objects.filter(status="draft").first()
    return {
        "/": None,
        "/datasets/": None,
        f"/datasets/library/{Dataset.objects.first().pk}/": None,
        "/datasets/mappings/": None,
        f"/datasets/mappings/{mapping.pk}/": None,
        f"/datasets/mappings/{draft.pk}/edit/": None,
        "/datasets/sources/": None,
        f"/datasets/sources/{DataSource.objects.get(name='Retailer Alpha Events').pk}/": None,
        "/datasets/rmis/": None,
        "/training/": None,
        "/training/new/": None,
        "/training/history/": None,
        "/training/adapters/": None,
        f"/training/adapters/{adapters[0].pk}/": None,
        f"/training/jobs/{job.pk}/": None,
        "/federation/": None,
        f"/federation/{feds[0].pk}/": None,
        "/federation/abtests/": None,
        f"/federation/abtests/{abtest.pk}/": None,
        "/monitoring/": None,
    }


def test_no_page_overflows_at_1280_and_1440(logged_in_page, live_server, wide_console, screenshot):
    page = logged_in_page
    failures = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in wide_console:
            response = page.goto(f"{live_server.url}{path}")
            assert response.ok, f"{path}: HTTP {response.status}"
            page.wait_for_load_state("networkidle")
            failures += [f"{width}px {path}: {problem}" for problem in page.evaluate(OVERFLOW_JS)]
    if failures:
        screenshot(page, "layout-overflow")
    assert not failures, "\n".join(failures)


def test_a_long_prompt_shows_in_full_on_demand(logged_in_page, live_server, wide_console):
    page = logged_in_page
    page.set_viewport_size({"width": 1280, "height": 900})
    path = next(p for p in wide_console if p.startswith("/federation/abtests/") and p.count("/") == 4)
    page.goto(f"{live_server.url}{path}")
    cell = page.locator("#abtest-rows tbody tr").first.locator("td").first
    assert LONG.strip() not in cell.inner_text()
    cell.locator("summary").first.click()
    assert LONG.strip() in cell.inner_text()
