"""Eval runs for real: a real inference worker evaluates an adapter, its base and a federation on one suite (the
judge is a model the console serves itself); then every bad input of the issue, run in this process."""

from __future__ import annotations

import json
import shutil

import pytest

from federation.evaluation import services, suites, tasks
from federation.evaluation.models import EvalCaseResult, EvalRun
from rmnconsole.core.errors import ServiceError

RETAILER_ANSWER = "RMIS record: retailer=amazon, placement_type=sponsored_product, cost=12.5."
PROMPTS = [
    'Map this record to RMIS: {"adType": "sp", "cost_micros": 12345}',
    'Map this record to RMIS: {"adType": "search_ad", "cost_micros": 777}',
    'Map this record to RMIS: {"adType": "SPONSORED_PRODUCTS", "cost_micros": 4242}',
    'Map this record to RMIS: {"adType": "sp", "cost_micros": 99000}',
    'Map this record to RMIS: {"adType": "search_ad", "cost_micros": 1500}',
]
JUDGE = {"kind": "console", "subject": "base:tiny-llama"}


def answer_suite(name="retailer-answers", metrics=None, max_new_tokens=24):
    return suites.create_suite(
        name=name,
        cases=[{"prompt": p, "reference": RETAILER_ANSWER} for p in PROMPTS],
        metrics=metrics or [{"name": "token_f1"}, {"name": "exact_match"}],
        max_new_tokens=max_new_tokens,
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_adapter_base_and_federation_on_a_real_worker_with_a_console_judge(fed, make_federation, rq_worker):
    judge = {"name": "judge", "rubric": "Is it the RMIS record the user asked for?", "judge": JUDGE}
    suite = answer_suite(metrics=[{"name": "token_f1"}, {"name": "exact_match"}, judge])
    federation = make_federation("additive")
    adapter_run = services.submit_eval(fed.retailer, suite, batch_size=2)
    base_run = services.submit_eval("base:tiny-llama", suite.label, batch_size=2)
    federation_run = services.submit_eval(f"federation:{federation.name}", suite.pk)
    suite.refresh_from_db()
    assert suite.locked_at is not None, "a used suite is immutable"

    result = rq_worker.run_burst("inference", simple=True)
    runs = {r.pk: r for r in EvalRun.objects.all()}
    for run in (adapter_run, base_run, federation_run):
        run = runs[run.pk]
        assert run.status == "completed", (run.error, result.stderr[-3000:])
        assert run.results.count() == len(PROMPTS) and run.progress_done == len(PROMPTS)
        assert (
            run.latency_p50_ms > 0 and run.latency_p95_ms >= run.latency_p50_ms and run.tokens_per_second > 0
        )
        assert run.summary["judge"]["model"] == "base:tiny-llama"
        assert (
            run.summary["judge"]["rubric"] == judge["rubric"]
            and "Score: N" in run.summary["judge"]["prompt_template"]
        )
        for row in run.results.all():
            assert row.judge["answer"] is not None and (row.judge["score"] is not None or row.judge["error"])
    adapter_run, base_run = runs[adapter_run.pk], runs[base_run.pk]
    # Measured: adapter token-F1 0.81 vs base 0.51 (greedy, fixed seeds: the same every run).
    assert adapter_run.score > base_run.score + 0.2, (adapter_run.score, base_run.score)
    assert adapter_run.score == adapter_run.summary["metrics"]["token_f1"]

    board = services.leaderboard(suite)
    ranked = [row["run"].pk for row in board]
    assert len(board) == 3 and ranked.index(adapter_run.pk) < ranked.index(base_run.pk)
    diff = services.diff_runs(base_run, adapter_run)
    assert len(diff) == len(PROMPTS) and all(r["score_b"] >= r["score_a"] for r in diff)
    assert any(r["changed"] for r in diff)


@pytest.mark.django_db
def test_an_empty_suite_and_missing_references_are_refused():
    with pytest.raises(ServiceError, match="no cases"):
        suites.create_suite(name="empty", cases=[])
    with pytest.raises(ServiceError, match="needs a reference"):
        suites.create_suite(name="norefs", cases=[{"prompt": "hi"}], metrics=[{"name": "field_accuracy"}])
    with pytest.raises(ServiceError, match="pattern"):
        suites.create_suite(name="noregex", cases=[{"prompt": "hi"}], metrics=["regex"])
    suite = suites.create_suite(name="ok", cases=[{"prompt": "hi"}], metrics=["json_valid"])
    assert (
        suite.version == 1
        and suites.create_suite(name="ok", cases=[{"prompt": "x"}], metrics=["json_valid"]).version == 2
    )


@pytest.mark.django_db
def test_jsonl_upload_takes_any_dataset_format_and_names_a_bad_line():
    content = "\n".join(
        [
            json.dumps({"prompt": "a", "reference": "b", "checks": {"pattern": "b"}}),
            json.dumps(
                {"messages": [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
            ),
            json.dumps({"prompt": "e", "completion": "f"}),
        ]
    )
    suite = suites.create_suite_from_jsonl(name="uploaded", content=content.encode())
    assert [(c.prompt, c.reference) for c in suite.cases.all()] == [("a", "b"), ("c", "d"), ("e", "f")]
    with pytest.raises(ServiceError, match="Line 2 is not JSON"):
        suites.create_suite_from_jsonl(name="bad", content=b'{"prompt": "a"}\n{oops\n')


@pytest.mark.django_db
def test_a_subject_whose_base_model_is_unavailable(tiny_models, tmp_path, data_root):
    from training.models import FoundationModel

    copy = data_root / "models" / "vanishing"
    shutil.copytree(tiny_models["tiny-llama"], copy)
    base = FoundationModel.objects.create(
        name="vanishing",
        source=str(copy),
        family="llama",
        local_path=str(copy),
        dtype="float32",
        is_available=True,
    )
    suite = answer_suite()
    run = services.submit_eval(base, suite)
    shutil.rmtree(copy)
    base.local_path = ""
    base.save(update_fields=["local_path"])
    with pytest.raises(ServiceError, match="not available"):
        services.submit_eval(base, suite)
    assert tasks.run_eval(run.pk) == "failed"
    run.refresh_from_db()
    assert "not available on this host" in run.error and not run.results.exists()


@pytest.mark.django_db
def test_runaway_generation_is_a_recorded_per_case_failure(tiny_base_models):
    suite = answer_suite(name="runaway", max_new_tokens=3)
    run = services.submit_eval("base:tiny-llama", suite, batch_size=5)
    assert tasks.run_eval(run.pk) == "completed"
    rows = list(EvalCaseResult.objects.filter(run=run))
    assert len(rows) == 5 and all(not r.finished and r.generated_tokens == 3 for r in rows)
    assert all("3-token limit" in r.errors[0] for r in rows)
    run.refresh_from_db()
    assert run.summary["latency"]["runaway_cases"] == 5 and run.summary["failed_cases"] == 5


@pytest.mark.django_db
def test_a_judge_endpoint_that_is_down_fails_the_run_and_writes_nothing(tiny_base_models):
    down = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "judge"}
    suite = answer_suite(name="judged", metrics=[{"name": "judge", "rubric": "be fair", "judge": down}])
    run = services.submit_eval("base:tiny-llama", suite, max_new_tokens=4)
    assert tasks.run_eval(run.pk) == "failed"
    run.refresh_from_db()
    assert "unreachable" in run.error and not run.results.exists() and run.summary == {}


@pytest.mark.django_db
def test_a_cancelled_run_stops_between_batches_and_writes_nothing(tiny_base_models):
    suite = answer_suite(name="cancelled")
    run = services.submit_eval("base:tiny-llama", suite, batch_size=2, max_new_tokens=4)
    assert run.claim("test-worker")
    services.cancel_eval(run)
    loaded = tasks.load_subject(run.subject_kind, run.base_model)
    assert tasks.generate_outputs(run, loaded, PROMPTS) is None, "stopped after the first batch"
    assert tasks.run_eval(run.pk) == "cancelled" and not run.results.exists()
    with pytest.raises(ServiceError, match="already cancelled"):
        services.cancel_eval(run)


@pytest.mark.django_db
def test_a_judge_needs_a_known_console_subject(tiny_base_models):
    suite = answer_suite(
        name="unknown-judge",
        metrics=[{"name": "judge", "rubric": "r", "judge": {"kind": "console", "subject": "base:nope"}}],
    )
    with pytest.raises(ServiceError, match="nope"):
        services.submit_eval("base:tiny-llama", suite)
