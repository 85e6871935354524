"""Lineage read back for other pages (registered as core providers): for an adapter, the data, dataset version, job,
evals and decision that made it; for a deployment, each pipeline run that changed it and who or what approved."""

from __future__ import annotations

from django.urls import reverse

from federation.pipelines import chain
from federation.pipelines.models import DatasetLineage, PipelineRun, PipelineStep
from rmnconsole.core import providers


def on_training_completed(sender, job, adapter, **kwargs) -> None:
    """A pipeline's train step moves on the moment its job ends (the upkeep would find it a little later) and the
    pipeline evaluates the adapter on its own suite; any other job gets the automatic evaluation."""
    from federation.evaluation import automatic

    waiting = PipelineStep.objects.filter(kind="train", waiting_on__training=job.pk)
    if not waiting.exists():
        automatic.on_training_completed(sender, job=job, adapter=adapter, **kwargs)
        return
    chain.advance_waiting(kind="train", waiting_on__training=job.pk)


def _approver(run: PipelineRun) -> str:
    if run.decided_by_id:
        return f"{run.decided_by.username} (approved a held candidate)"
    return f"pipeline {run.pipeline.name} (eval gate)"


def adapter_lineage(adapter) -> list[dict]:
    run = (
        PipelineRun.objects.filter(candidate=adapter)
        .select_related(
            "pipeline", "dataset", "training_job", "candidate_eval", "production_eval", "decided_by"
        )
        .first()
    )
    if run is None:
        return []
    rows = [
        {"label": "Pipeline run", "value": f"{run.pipeline.name} #{run.number}",
         "url": reverse("federation:pipeline_run", args=[run.pk])},
    ]  # fmt: skip
    if run.dataset_id:
        rows.append({"label": "Dataset version", "value": run.dataset.label,
                     "url": reverse("federation:pipeline_dataset", args=[run.dataset_id])})  # fmt: skip
        rows += [row for row in dataset_lineage(run.dataset) if row["label"] != "Built by"]
    if run.training_job_id:
        rows.append({"label": "Training job", "value": f"#{run.training_job_id}",
                     "url": reverse("training:job_detail", args=[run.training_job_id])})  # fmt: skip
    if run.candidate_eval_id:
        rows.append({"label": "Eval", "value": f"run {run.candidate_eval_id}: {run.candidate_eval.score}"})
    if run.decision:
        rows.append({"label": "Decision", "value": f"{run.decision} — {run.decision_reason}"})
    if run.deployment_event_id:
        rows.append({"label": "Approved by", "value": _approver(run)})
    return rows


def deployment_lineage(deployment) -> list[dict]:
    runs = (
        PipelineRun.objects.filter(deployment_event__deployment=deployment)
        .select_related("pipeline", "candidate", "dataset", "decided_by", "deployment_event")
        .order_by("-deployment_event__at")[:20]
    )
    return [
        {
            "at": run.deployment_event.at,
            "stage": run.deployment_event.stage,
            "adapter": run.candidate.label if run.candidate_id else "",
            "dataset": run.dataset.label if run.dataset_id else "",
            "job": run.training_job_id,
            "eval": run.candidate_eval_id,
            "approved_by": _approver(run),
            "run_url": reverse("federation:pipeline_run", args=[run.pk]),
            "run": f"{run.pipeline.name} #{run.number}",
        }
        for run in runs
    ]


def dataset_lineage(dataset) -> list[dict]:
    info = (
        DatasetLineage.objects.filter(dataset=dataset)
        .select_related("previous", "mapping", "run__pipeline")
        .first()
    )
    if info is None:
        return []
    previous = info.previous.label if info.previous_id else "nothing before"
    rows = [
        {"label": "Changes", "value": f"{info.rows} rows, +{info.rows_added} / −{info.rows_removed} vs {previous}",
         "url": reverse("federation:pipeline_dataset", args=[dataset.pk])},
        {"label": "Source files", "value": ", ".join(f"{f['path']} ({f['sha256'][:12]})" for f in info.source_files)},
    ]  # fmt: skip
    if info.mapping_id:
        rows.append({"label": "Mapping", "value": f"{info.mapping.name} v{info.mapping_version}"})
    if info.run_id:
        rows.append(
            {
                "label": "Built by",
                "value": str(info.run),
                "url": reverse("federation:pipeline_run", args=[info.run_id]),
            }
        )
    return rows


def register() -> None:
    providers.register_lineage("dataset", dataset_lineage)
    providers.register_lineage("adapter", adapter_lineage)
    providers.register_lineage("deployment", deployment_lineage)
