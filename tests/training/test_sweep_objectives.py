"""A sweep that optimises an eval-suite score with generation latency as its second objective: evaluation provides
both (training never imports it); each trial's adapter is evaluated by a real inference worker, and the trial is
told its values when that eval run ends."""

from __future__ import annotations

import pytest

from federation.evaluation import suites
from federation.evaluation.models import EvalRun
from training.sweeps import services
from training.sweeps.models import Sweep

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_trials_are_scored_on_the_eval_suite_and_the_best_score_is_registered(
    rq_worker, write_dataset, rows, tiny_llama, user
):
    suite = suites.create_suite(
        name="sweep-suite",
        cases=[{"prompt": f"Which placement is sp {i}?", "reference": "sponsored product"} for i in range(3)],
        metrics=[{"name": "token_f1"}],
        max_new_tokens=4,
    )
    spec = {
        "adapter_type": "retailer",
        "adapter_name": "suite_sweep",
        "base_model": tiny_llama.name,
        "dataset_path": write_dataset("sft/suite_sweep.jsonl", rows.messages(20)),
        "fixed": {"max_steps": 2, "batch_size": 4, "eval_steps": 2, "checkpoint_steps": 2},
        "search_space": {"lora_r": {"type": "choice", "choices": [4, 8]}},
        "sampler": "grid",
        "objective": "eval_suite",
        "objective_suite": suite.label,
        "second_objective": "latency",
        "max_trials": 2,
        "max_parallel": 2,
        "keep_trial_adapters": True,  # a discarded adapter takes its eval run with it
    }
    sweep = services.start_sweep(spec, user)
    assert sweep.direction == "maximize" and sweep.objective_options["suite"] == suite.pk

    trained = rq_worker.run_burst("training")
    sweep.refresh_from_db()
    jobs = list(sweep.trials.order_by("sweep_trial"))
    assert [j.status for j in jobs] == ["completed", "completed"], trained.stderr[-3000:]
    # Trained, not yet measured: each adapter's eval run is queued, the trials wait in the study.
    runs = EvalRun.objects.filter(suite=suite)
    assert sorted(r.training_job_id for r in runs) == [j.pk for j in jobs]
    assert sweep.status == "running"
    assert services.sweep_summary(sweep)["counts"]["RUNNING"] == 2

    evaluated = rq_worker.run_burst("inference", simple=True)
    sweep = Sweep.objects.get(pk=sweep.pk)
    assert sweep.status == "completed", (
        sweep.status_reason, [(r.status, r.status_reason) for r in runs.all()],
        [line for line in evaluated.stderr.splitlines() if "sweep" in line or "Error" in line][-20:],
    )  # fmt: skip
    summary = services.sweep_summary(sweep)
    measured = {r.training_job_id: r for r in runs.all()}
    for row in summary["trials"]:
        run = measured[row["job_id"]]
        assert run.status == "completed"
        assert row["values"] == pytest.approx([run.score, run.latency_p50_ms])
    assert summary["objective"] == "eval-suite score" and summary["pareto"]["x_label"].startswith(
        "generation"
    )
    top = max(r["values"][0] for r in summary["trials"])
    assert sweep.best_value == pytest.approx(top)
    assert sweep.best_adapter.source_job_id in {
        r["job_id"] for r in summary["trials"] if r["values"][0] == top
    }
