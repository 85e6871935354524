"""A/B comparison with reference answers, and the user guide's Python facade."""

from __future__ import annotations

import json

import pytest

from federation import abtests, tasks
from federation.models import ABTest, Federation
from federation.services import MemberInput
from rmnconsole.core.errors import ServiceError

pytestmark = pytest.mark.django_db


@pytest.fixture
def retailer_vs_task(fed, make_federation):
    a = make_federation(name="retailer-only", members=[MemberInput(fed.retailer, role="retailer")])
    b = make_federation(name="task-only", members=[MemberInput(fed.task, role="task")])
    return a, b


def test_abtest_with_references_finds_the_better_side(retailer_vs_task, texts):
    a, b = retailer_vs_task
    lines = "\n".join(
        f"Plan a {c} budget for walmart. || {texts.task_answer}"
        for c in ("grocery", "beauty", "pet", "toys", "home")
    )
    test = abtests.create_abtest(
        federation_a=a, federation_b=b, prompts_text=lines, max_new_tokens=24, seed=3
    )
    assert test.status == "queued" and test.has_references and len(test.prompts) == 5
    tasks.run_abtest(test.pk)
    test.refresh_from_db()
    assert test.status == "completed", test.error
    results = test.results
    assert len(results["rows"]) == 5 and all(
        r["a"]["response"] and r["b"]["response"] for r in results["rows"]
    )
    assert results["b"]["token_f1"] > results["a"]["token_f1"]
    for side in ("a", "b"):
        assert (
            results[side]["latency_p95_ms"] >= results[side]["latency_p50_ms"] > 0
            and results[side]["tokens"] > 0
        )
    f1 = results["differences"]["token_f1"]
    assert (
        f1["ci_low"] > 0
        and f1["significant"]
        and f1["diff"] == pytest.approx(results["b"]["token_f1"] - results["a"]["token_f1"])
    )
    assert test.verdict.startswith("B (task-only) is better on accuracy, CI excludes 0")
    assert test.progress_done == 10


def test_abtest_from_a_dataset_validation_split(retailer_vs_task, data_root, texts):
    a, b = retailer_vs_task
    rows = [{"prompt": f"Plan a budget {i} for walmart.", "completion": texts.task_answer} for i in range(30)]
    (data_root / "datasets").mkdir(exist_ok=True)
    (data_root / "datasets" / "plans.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = abtests.create_abtest(
        federation_a=a, federation_b=b, dataset_path="datasets/plans.jsonl", max_new_tokens=8
    )
    assert test.prompt_source == "dataset" and len(test.prompts) == 3
    assert all(p["reference"] == texts.task_answer for p in test.prompts)
    tasks.run_abtest(test.pk)
    test.refresh_from_db()
    assert test.status == "completed" and test.results["scored_prompts"] == 3


def test_abtest_on_a_suite_runs_the_eval_path(retailer_vs_task, texts):
    """One code path: each side is an eval run on the suite, scored by the suite's own metrics."""
    from federation.evaluation import services as eval_services
    from federation.evaluation import suites
    from federation.evaluation.models import EvalCaseResult

    a, b = retailer_vs_task
    needle = texts.task_answer.split()[0]
    suite = suites.create_suite(
        name="plans-contain",
        cases=[{"prompt": f"Plan a {c} budget for walmart.", "reference": texts.task_answer} for c in "abcd"],
        metrics=[{"name": "contains", "needles": [needle]}, {"name": "token_f1"}],
        max_new_tokens=24,
    )
    test = abtests.create_abtest(federation_a=a, federation_b=b, suite=suite.label, seed=1)
    assert test.prompt_source == "suite" and test.max_new_tokens == 24 and len(test.prompts) == 4
    tasks.run_abtest(test.pk)
    test.refresh_from_db()
    assert test.status == "completed", test.error
    assert {test.run_a.status, test.run_b.status} == {"completed"}
    assert [m["name"] for m in test.results["metrics"]] == ["contains", "token_f1"]
    scores_b = [r.scores["contains"] for r in EvalCaseResult.objects.filter(run=test.run_b)]
    assert [row["b"]["contains"] for row in test.results["rows"]] == scores_b
    assert test.results["differences"]["contains"]["mean_b"] == pytest.approx(test.run_b.score)
    assert test.verdict.startswith("B (task-only) is better") and "(Contains A " in test.verdict
    board = {row["run"].pk for row in eval_services.leaderboard(suite)}
    assert board == {test.run_a_id, test.run_b_id}


def test_abtest_refuses_bad_input(retailer_vs_task):
    a, b = retailer_vs_task
    with pytest.raises(ServiceError, match="two different federations"):
        abtests.create_abtest(federation_a=a, federation_b=a, prompts_text="x")
    with pytest.raises(ServiceError, match="at least one prompt"):
        abtests.create_abtest(federation_a=a, federation_b=b, prompts_text="  \n ")
    with pytest.raises(ServiceError, match="outside"):
        abtests.create_abtest(federation_a=a, federation_b=b, dataset_path="/etc/passwd")
    with pytest.raises(ServiceError, match="Unknown eval suite"):
        abtests.create_abtest(federation_a=a, federation_b=b, suite="no-such-suite")
    with pytest.raises(ServiceError, match="one prompt set"):
        abtests.create_abtest(federation_a=a, federation_b=b, suite="x", prompts_text="p || r")
    assert not ABTest.objects.exists()


def test_guide_snippets_work_as_written(fed, texts):
    from rmnconsole.console import compose_federation, test_federation

    federation = compose_federation(
        base_model="tiny-llama",
        retailer_adapter="amazon_schema",
        task_adapter="planning",
        method="sequential",
    )
    result = test_federation(federation, texts.retailer_prompt, max_new_tokens=12)
    assert result["status"] == "completed" and result["response"]
    assert [s["adapter"] for s in result["stages"]] == ["amazon_schema v1", "planning v1"]
    assert result["generated_tokens"] > 0 and result["latency_ms"] > 0

    fed_a = compose_federation(base="tiny-llama", retailer="amazon_schema", task="planning")
    results_a = fed_a.infer(texts.task_prompt, max_new_tokens=8)
    assert results_a["adapters_used"][0] == {"adapter": "amazon_schema v1", "role": "retailer", "weight": 1.0}
    assert fed_a.infer(texts.task_prompt, max_new_tokens=8)["cache_hit"] is True

    gated = compose_federation(
        base_model="tiny-llama",
        retailer_adapter="amazon_schema",
        task_adapter="planning",
        method="gated",
        options={"gate_steps": 4},
    )
    assert gated.refresh().status == Federation.Status.READY
    shares = [a["share"] for a in gated.infer(texts.task_prompt, max_new_tokens=4)["adapters_used"]]
    assert sum(shares) == pytest.approx(1.0, abs=1e-4)
