"""Evaluation in real Chromium, in one test: a run started from the suite page polls until it ends (then stops
polling); the suite's leaderboard ranks base models, adapters and a federation side by side; its diff link opens the
per-case diff of two runs; Monitoring's eval charts draw a bar per adapter and a line over versions; and none of
these pages overflows its cards at 1280 or 1440 px, with long names and unbroken outputs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.e2e.layout_checks import OVERFLOW_JS, WIDTHS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CASES = [{"prompt": f"Name the placement {i}.", "reference": f"placement {i}"} for i in range(3)]
UNBROKEN = "sponsored_product_placement_" * 10
LONG_NAME = "amazon_sponsored_products_schema_mapping_adapter"

CHART_JS = """(id) => {
  const chart = window.rmnMonitoring.charts[id];
  return {labels: chart.data.labels || [], points: chart.data.datasets.map((d, i) => chart.getDatasetMeta(i).data.length)};
}"""


def seed_adapter_and_federation_runs(suite, base):
    """Two versions of a long-named adapter and a federation, each with a completed run on the suite (the
    monitoring charts need adapter runs; training real adapters is the post-training eval test's job)."""
    from federation.evaluation.models import EvalCaseResult, EvalRun
    from federation.models import Federation
    from training.models import Adapter

    adapters = [
        Adapter.objects.create(
            adapter_type="retailer", name=LONG_NAME, version=v, base_model=base, rank=8, alpha=16,
            path=f"adapters/{LONG_NAME}-v{v}", size_bytes=1, sha256="0" * 64,
        )
        for v in (1, 2)
    ]  # fmt: skip
    federation = Federation.objects.create(
        name="additive_amazon_plus_planning_federation", base_model=base, method="additive", status="ready"
    )
    subjects = [{"adapter": adapters[0]}, {"adapter": adapters[1]}, {"federation": federation}]
    for subject, score in zip(subjects, (0.2, 0.6, 0.4), strict=True):
        kind = "adapter" if "adapter" in subject else "federation"
        run = EvalRun.objects.create(
            suite=suite, subject_kind=kind, base_model=base, federation_version=1 if kind == "federation" else None,
            status="completed", finished_at=timezone.now(), score=score, progress_done=3, progress_total=3,
            summary={"metrics": {"token_f1": score}}, latency_p50_ms=120.0, latency_p95_ms=180.0,
            tokens_per_second=55.0, **subject,
        )  # fmt: skip
        EvalCaseResult.objects.bulk_create(
            EvalCaseResult(run=run, case=case, output=UNBROKEN, latency_ms=120.0, scores={"token_f1": score})
            for case in suite.cases.all()
        )
    return adapters


def no_overflow(page, url: str) -> list[str]:
    failures = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.goto(url).ok, url
        page.wait_for_load_state("networkidle")
        failures += [f"{width}px {url}: {problem}" for problem in page.evaluate(OVERFLOW_JS)]
    return failures


def test_leaderboard_diff_and_monitoring_charts(logged_in_page, live_server, tiny_base_models, screenshot):
    from federation.evaluation import services, suites, tasks
    from federation.evaluation.models import EvalRun

    page = logged_in_page
    suite = suites.create_suite(name="e2e-suite", cases=CASES, metrics=["token_f1"], max_new_tokens=4)
    mistral = services.submit_eval("base:tiny-mistral", suite)
    tasks.run_eval(mistral.pk)
    seeded = {r.pk for r in EvalRun.objects.filter(suite=suite)} - {mistral.pk}
    adapters = seed_adapter_and_federation_runs(suite, tiny_base_models["tiny-llama"])
    seeded = {r.pk for r in EvalRun.objects.filter(suite=suite)} - {mistral.pk} - seeded

    page.goto(f"{live_server.url}/federation/evals/suites/{suite.pk}/")
    page.fill("#id_subject", "base:tiny-llama")
    page.click("#eval-run-form button[type=submit]")
    run = EvalRun.objects.exclude(pk__in={mistral.pk, *seeded}).get()
    page.wait_for_url(f"{live_server.url}/federation/evals/runs/{run.pk}/")
    assert page.locator("#eval-run-body").get_attribute("data-status") == "queued"
    assert page.locator("#eval-run-body").get_attribute("hx-get"), "a running page polls"
    tasks.run_eval(run.pk)  # this process is the worker: the page notices on its next poll and reloads
    page.wait_for_selector('#eval-run-body[data-status="completed"]')
    assert page.locator("#eval-cases tbody tr").count() == 3
    assert page.locator("#eval-run-body").get_attribute("hx-get") is None, "polling stopped"

    # The leaderboard: base models, both adapter versions and the federation side by side, best score first.
    page.goto(f"{live_server.url}/federation/evals/suites/{suite.pk}/")
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 5
    subjects = rows.locator("td:nth-child(2)").all_inner_texts()
    assert set(subjects) == {
        "base tiny-llama", "base tiny-mistral", f"adapter {LONG_NAME} v1", f"adapter {LONG_NAME} v2",
        "federation additive_amazon_plus_planning_federation v1",
    }  # fmt: skip
    scores = [float(s) for s in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    first, second = (int(r) for r in rows.evaluate_all("rows => rows.slice(0, 2).map(r => r.dataset.run)"))
    rows.nth(1).locator("a.diff-link").click()
    page.wait_for_url(f"{live_server.url}/federation/evals/runs/{first}/diff/{second}/")
    assert page.locator("#eval-diff tbody tr").count() == 3
    assert "vs" in page.locator("h1").inner_text()
    diff_url = page.url

    # Monitoring: a bar per adapter (latest run each) and its score over versions; Chart.js really drew them.
    page.goto(f"{live_server.url}/monitoring/")
    page.wait_for_function("() => window.rmnMonitoring && window.rmnMonitoring.charts['chart-eval-versions']")
    bars = page.evaluate(CHART_JS, "chart-eval-adapters")
    assert bars["labels"] == [a.label for a in adapters] and all(n == 2 for n in bars["points"])
    versions = page.evaluate(CHART_JS, "chart-eval-versions")
    assert versions["points"] == [2]
    leaders = page.locator("#suite-leaders tbody tr")
    assert (
        leaders.count() == 1
        and "5" in leaders.inner_text()
        and f"adapter {LONG_NAME} v2" in leaders.inner_text()
    )
    leaders.locator("a").click()
    page.wait_for_url(f"{live_server.url}/federation/evals/suites/{suite.pk}/")

    failures = []
    for url in (
        f"/federation/evals/suites/{suite.pk}/",
        diff_url,
        f"/federation/evals/runs/{run.pk}/",
        "/monitoring/",
    ):
        failures += no_overflow(page, url if url.startswith("http") else f"{live_server.url}{url}")
    if failures:
        screenshot(page, "evaluation-overflow")
    assert not failures, "\n".join(failures)
