"""Evaluation through its four doors (API, pages, manage.py evaluate, the console facade) and a mapping suite of
held-out records scored field by field (runs in this process: the real-worker path is test_eval_runs.py)."""

from __future__ import annotations

import json

import orjson
import pytest
from django.core.management import CommandError, call_command

from federation.evaluation import mapping_suites, services, suites, tasks
from federation.evaluation.models import EvalRun, EvalSuite

pytestmark = pytest.mark.django_db

CASES = [{"prompt": f"Say the word number {i}.", "reference": f"word {i}"} for i in range(4)]


def test_api_creates_a_suite_runs_are_queued_and_errors_are_json(client, api_headers, tiny_base_models):
    made = client.post(
        "/api/evals/suites",
        data=json.dumps(
            {"name": "api-suite", "cases": CASES, "metrics": [{"name": "token_f1"}], "max_new_tokens": 4}
        ),
        content_type="application/json",
        **api_headers,
    )
    assert made.status_code == 201, made.content
    assert made.json()["cases"] == 4 and made.json()["label"] == "api-suite v1"
    empty = client.post(
        "/api/evals/suites",
        data=json.dumps({"name": "empty", "cases": []}),
        content_type="application/json",
        **api_headers,
    )
    assert empty.status_code == 400 and "no cases" in empty.json()["detail"]
    unknown = client.post(
        "/api/evals/runs", data=json.dumps({"subject": "adapter:nope", "suite": "api-suite"}),
        content_type="application/json", **api_headers,
    )  # fmt: skip
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    run = client.post(
        "/api/evals/runs", data=json.dumps({"subject": "base:tiny-llama", "suite": "api-suite v1", "batch_size": 2}),
        content_type="application/json", **api_headers,
    )  # fmt: skip
    assert run.status_code == 201 and run.json()["status"] == "queued" and run.json()["progress_total"] == 4
    assert tasks.run_eval(run.json()["id"]) == "completed"
    got = client.get(f"/api/evals/runs/{run.json()['id']}", **api_headers).json()
    assert got["status"] == "completed" and got["score"] is not None and got["latency_p50_ms"] > 0
    cases = client.get(f"/api/evals/runs/{got['id']}/cases", **api_headers).json()
    assert len(cases) == 4 and all(c["generated_tokens"] <= 4 for c in cases)
    board = client.get(f"/api/evals/suites/{made.json()['id']}/leaderboard", **api_headers).json()
    assert [r["run_id"] for r in board] == [got["id"]]
    assert client.get("/api/evals/suites").status_code == 401


def test_evaluate_command_waits_with_a_progress_bar_and_fails_in_one_line(tiny_base_models, capsys):
    suites.create_suite(name="cli-suite", cases=CASES, metrics=["token_f1"], max_new_tokens=4)
    call_command("evaluate", "base:tiny-llama", "--suite", "cli-suite", "--wait", "--poll", "0.05")
    captured = capsys.readouterr()
    assert "score" in captured.out
    assert "eval " in captured.err and "4/4" in captured.err and "completed" in captured.err  # tqdm's bar
    with pytest.raises(CommandError, match="Unknown eval suite 'missing'"):
        call_command("evaluate", "base:tiny-llama", "--suite", "missing")


def test_facade_evaluates_in_process(tiny_base_models):
    from rmnconsole import console

    suites.create_suite(
        name="facade-suite", cases=CASES, metrics=["token_f1", "exact_match"], max_new_tokens=4
    )
    figures = console.evaluate("base:tiny-llama", "facade-suite", batch_size=4)
    assert figures["status"] == "completed" and set(figures["metrics"]) == {"token_f1", "exact_match"}
    assert figures["subject"] == "base tiny-llama" and figures["latency_p95_ms"] >= figures["latency_p50_ms"]


def test_pages_create_a_suite_run_it_and_show_the_diff(client_logged_in, tiny_base_models):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.jsonl", "\n".join(json.dumps(c) for c in CASES).encode())
    response = client_logged_in.post(
        "/federation/evals/", {"name": "page-suite", "source": "jsonl", "file": upload, "metrics": ["exact_match"],
                               "examples": 50, "max_new_tokens": 4},
    )  # fmt: skip
    suite = EvalSuite.objects.get(name="page-suite")
    assert response.status_code == 302 and response.url == f"/federation/evals/suites/{suite.pk}/"
    bad = client_logged_in.post(
        "/federation/evals/", {"name": "nofile", "source": "jsonl", "examples": 50, "max_new_tokens": 4}
    )
    assert bad.status_code == 400 and b"Choose a JSONL file" in bad.content and b"banner-error" in bad.content
    started = client_logged_in.post(
        f"/federation/evals/suites/{suite.pk}/", {"subject": "base:tiny-llama", "batch_size": 2, "seed": 0}
    )
    run = EvalRun.objects.get()
    assert started.status_code == 302 and started.url == f"/federation/evals/runs/{run.pk}/"
    polled = client_logged_in.get(started.url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and b"0/4 cases" in polled.content
    tasks.run_eval(run.pk)
    done = client_logged_in.get(started.url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286, "polling stops once the run ended"
    second = services.submit_eval("base:tiny-llama", suite, max_new_tokens=2)
    tasks.run_eval(second.pk)
    diff = client_logged_in.get(f"/federation/evals/runs/{run.pk}/diff/{second.pk}/")
    assert diff.status_code == 200 and diff.content.count(b"<tr data-changed") == 4
    detail = client_logged_in.get(f"/federation/evals/suites/{suite.pk}/")
    # One row per subject on the leaderboard (its latest run); both runs in the run list.
    assert b'id="leaderboard"' in detail.content and detail.content.count(b"<tr data-run=") == 1
    assert detail.content.count(b"/federation/evals/runs/") >= 3
    assert client_logged_in.get("/federation/evals/runs/999999/").status_code == 404


def test_pages_need_a_login(client):
    assert client.get("/federation/evals/").status_code == 302


def test_mapping_suite_holds_out_the_training_records_and_scores_fields(tiny_base_models):
    from datasets_app.mappings import demo
    from datasets_app.models import Dataset, SchemaMapping
    from rmnconsole.core.paths import data_root

    demo.seed_demo(rows=300)
    mapping = SchemaMapping.objects.get(name="alpha_events_to_rmis", status="active")
    trained = Dataset.objects.get(name="demo_alpha_rmis_sft")
    training_prompts = {
        orjson.loads(line)["prompt"] for line in (data_root() / trained.path).read_bytes().splitlines()
    }
    suite = mapping_suites.create_suite_from_mapping(mapping=mapping, examples=12)
    cases = list(suite.cases.all())
    assert len(cases) == 12 and not {c.prompt for c in cases} & training_prompts
    assert all(isinstance(json.loads(c.reference), dict) for c in cases)
    trained_lines = len((data_root() / trained.path).read_bytes().splitlines())
    assert f"{trained_lines} training records left out" in suite.source_note
    assert [m["name"] for m in suite.metrics] == ["field_accuracy", "json_valid", "exact_match"]

    run = services.submit_eval("base:tiny-llama", suite, max_new_tokens=6, batch_size=12)
    assert tasks.run_eval(run.pk) == "completed"
    run.refresh_from_db()
    fields = {row["field"] for row in run.summary["per_field"]}
    assert (
        fields == set(json.loads(cases[0].reference))
        and run.score == run.summary["metrics"]["field_accuracy"]
    )
