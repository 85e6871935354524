"""Automatic post-training evaluation through real workers: two versions of one adapter train, each is evaluated on
the suite made from the job's validation split, the base once; the registry row and the adapter page show the deltas."""

from __future__ import annotations

import json
import random

import pytest

from federation.evaluation.models import EvalRun, EvalSuite
from rmnconsole.core import providers
from training.models import Adapter
from training.services import submit_training_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FAST = {"max_steps": 4, "batch_size": 4, "checkpoint_steps": 4, "eval_steps": 4, "lora_r": 8, "lora_alpha": 16,
        "validation_split": 0.2}  # fmt: skip


def write_rows(data_root, count: int = 30) -> str:
    rng = random.Random(3)
    lines = []
    for i in range(count):
        code = rng.choice(["sp", "sd", "instore"])
        lines.append(
            {
                "prompt": f"Map adType={code} campaign C{1000 + i} to RMIS.",
                "completion": f"placement_type: {code}",
            }
        )
    path = data_root / "datasets" / "sft" / "auto_eval.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return "datasets/sft/auto_eval.jsonl"


def test_each_trained_version_is_evaluated_and_the_base_only_once(
    settings, rq_worker, tiny_base_models, data_root, client_logged_in
):
    settings.RMN_AUTO_EVALUATE = True
    dataset_path = write_rows(data_root)
    for _ in range(2):
        submit_training_job(
            adapter_type="retailer", adapter_name="auto_alpha", base_model="tiny-llama", dataset_path=dataset_path,
            config=FAST,
        )  # fmt: skip
    trained = rq_worker.run_burst("training")
    assert Adapter.objects.filter(name="auto_alpha").count() == 2, trained.stderr[-3000:]
    suite = EvalSuite.objects.get()
    assert suite.name == "auto_eval-validation" and suite.source == "training" and suite.cases.count() == 6
    assert EvalRun.objects.filter(subject_kind="base").count() == 1, "the base is measured once per suite"
    v1, v2 = Adapter.objects.filter(name="auto_alpha").order_by("version")
    assert providers.adapter_figures(v2) == {"pending": True}

    evaluated = rq_worker.run_burst("inference", simple=True)
    runs = EvalRun.objects.all()
    assert len(runs) == 3 and all(r.status == "completed" for r in runs), (
        [(r.subject_label, r.status, r.error) for r in runs], evaluated.stderr[-3000:],
    )  # fmt: skip
    base = runs.get(subject_kind="base")
    first, second = runs.get(adapter=v1), runs.get(adapter=v2)
    assert first.training_job_id == v1.source_job_id and second.training_job_id == v2.source_job_id
    figures = providers.adapter_figures(v2)
    assert figures["score"] == second.score and figures["base_score"] == base.score
    assert figures["delta_base"] == pytest.approx(second.score - base.score)
    assert (
        figures["delta_previous"] == pytest.approx(second.score - first.score)
        and figures["previous"] == v1.label
    )

    page = client_logged_in.get(f"/training/adapters/{v2.pk}/")
    assert b"data-delta-base" in page.content and b"data-delta-previous" in page.content
    registry = client_logged_in.get("/training/adapters/")
    assert registry.content.count(b"data-eval-score") == 2

    charts = client_logged_in.get("/monitoring/charts/", HTTP_HX_REQUEST="true").content.decode()
    evals = json.loads(charts[charts.index(">") + 1 : charts.index("</script>")])["evals"]
    assert [a["label"] for a in evals["by_adapter"]] == [v1.label, v2.label]
    assert evals["versions"] == [
        {"name": "auto_alpha", "points": [{"x": 1, "y": first.score}, {"x": 2, "y": second.score}]}
    ]
