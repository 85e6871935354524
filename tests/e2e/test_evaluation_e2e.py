"""Evaluation in real Chromium: a run started from the suite page polls until it ends (then stops polling), the
leaderboard ranks two subjects, and its diff link opens the per-case diff of the two runs."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CASES = [{"prompt": f"Name the placement {i}.", "reference": f"placement {i}"} for i in range(3)]


def test_run_page_leaderboard_and_diff(logged_in_page, live_server, tiny_base_models):
    from federation.evaluation import services, suites, tasks
    from federation.evaluation.models import EvalRun

    page = logged_in_page
    suite = suites.create_suite(name="e2e-suite", cases=CASES, metrics=["token_f1"], max_new_tokens=4)
    mistral = services.submit_eval("base:tiny-mistral", suite)
    tasks.run_eval(mistral.pk)

    page.goto(f"{live_server.url}/federation/evals/suites/{suite.pk}/")
    page.fill("#id_subject", "base:tiny-llama")
    page.click("#eval-run-form button[type=submit]")
    run = EvalRun.objects.exclude(pk=mistral.pk).get()
    page.wait_for_url(f"{live_server.url}/federation/evals/runs/{run.pk}/")
    assert page.locator("#eval-run-body").get_attribute("data-status") == "queued"
    assert page.locator("#eval-run-body").get_attribute("hx-get"), "a running page polls"
    tasks.run_eval(run.pk)  # this process is the worker: the page notices on its next poll and reloads
    page.wait_for_selector('#eval-run-body[data-status="completed"]')
    assert page.locator("#eval-cases tbody tr").count() == 3
    assert page.locator("#eval-run-body").get_attribute("hx-get") is None, "polling stopped"

    page.goto(f"{live_server.url}/federation/evals/suites/{suite.pk}/")
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 2
    subjects = rows.locator("td:nth-child(2)").all_inner_texts()
    assert set(subjects) == {"base tiny-llama", "base tiny-mistral"}
    page.click("#leaderboard a.diff-link")
    page.wait_for_selector("#eval-diff")
    assert page.locator("#eval-diff tbody tr").count() == 3
    assert "vs" in page.locator("h1").inner_text()
