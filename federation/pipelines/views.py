"""Pipeline pages: the list (last run, status badges, create, run now), a run (the step chain, live), the approval
of a held candidate (both evals side by side), and a dataset version's lineage and row diff."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from datasets_app.models import Dataset, SchemaMapping
from federation.evaluation.models import EvalSuite
from federation.evaluation.services import diff_runs
from federation.pipelines import build, services
from federation.pipelines.models import DatasetLineage, Pipeline, PipelineRun
from federation.serving.models import Deployment
from rmnconsole.core.errors import NotFound, ServiceError
from rmnconsole.core.pages import not_found_as_404, stop_polling_when
from training.models import FoundationModel

FORM_FIELDS = ("name", "watch_path", "mapping", "dataset_name", "suite", "deployment", "base_model", "adapter_name",
               "schedule", "margin", "on_worse", "training_config")  # fmt: skip


def _create(request) -> Pipeline:
    data = {k: request.POST.get(k, "").strip() for k in FORM_FIELDS}
    try:
        margin = float(data["margin"] or 0)
    except ValueError:
        raise ServiceError("The margin is a number (e.g. 0.02).", field="margin") from None
    try:
        config = json.loads(data["training_config"] or "{}")
    except ValueError:
        raise ServiceError("Training settings are a JSON object.", field="training_config") from None
    if not isinstance(config, dict):
        raise ServiceError("Training settings are a JSON object.", field="training_config")
    return services.create_pipeline(
        data["name"], request.user, suite=data["suite"], deployment=data["deployment"],
        adapter_name=data["adapter_name"], base_model=data["base_model"] or None, dataset_name=data["dataset_name"],
        watch_path=data["watch_path"], mapping=data["mapping"] or None, training_config=config,
        margin=margin, on_worse=data["on_worse"] or "hold", schedule=data["schedule"],
        continue_from_production=request.POST.get("continue_from_production") == "on",
    )  # fmt: skip


def pipeline_list(request):
    error, values = None, {}
    if request.method == "POST":
        try:
            pipeline = _create(request)
        except ServiceError as exc:
            error, values = exc, request.POST
        else:
            messages.success(request, f"Pipeline {pipeline.name} created.")
            return redirect("federation:pipelines")
    pipelines = Pipeline.objects.select_related("suite", "deployment").order_by("name")
    rows = [{"pipeline": p, "last": p.last_run} for p in pipelines]
    return render(
        request,
        "pipelines/list.html",
        {
            "rows": rows,
            "error": error,
            "values": values,
            "suites": EvalSuite.objects.order_by("name", "-version")[:200],
            "deployments": Deployment.objects.order_by("name"),
            "mappings": SchemaMapping.objects.filter(status="active").order_by("name"),
            "base_models": FoundationModel.objects.filter(is_available=True).order_by("name"),
        },
    )


def _run(run_id: int) -> PipelineRun:
    with not_found_as_404():
        return services.get_run(run_id)


def pipeline_detail(request, name: str):
    with not_found_as_404():
        pipeline = services.get_pipeline(name)
    return render(
        request,
        "pipelines/detail.html",
        {"pipeline": pipeline, "runs": pipeline.runs.order_by("-number")[:50]},
    )


@require_POST
def pipeline_trigger(request, name: str):
    with not_found_as_404():
        pipeline = services.get_pipeline(name)
    try:
        run = services.trigger_run(pipeline, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("federation:pipelines")
    return redirect("federation:pipeline_run", run_id=run.pk)


def run_detail(request, run_id: int):
    run = _run(run_id)
    context = {"run": run, "steps": run.steps_in_order, "attempts": run.steps.order_by("id")}
    template = "pipelines/run_body.html" if request.htmx else "pipelines/run.html"
    response = render(request, template, context)
    return stop_polling_when(
        bool(request.htmx) and run.status not in PipelineRun.ACTIVE, response, {"HX-Refresh": "true"}
    )


def _act(request, run_id: int, action, done: str):
    run = _run(run_id)
    try:
        action(run)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("federation:pipeline_run", run_id=run.pk)


@require_POST
def run_cancel(request, run_id: int):
    return _act(request, run_id, lambda r: services.cancel_run(r, request.user), "Run cancelled.")


@require_POST
def run_retry(request, run_id: int):
    return _act(
        request, run_id, lambda r: services.retry_run(r, request.user), "Retrying from the failed step."
    )


@require_POST
def run_approve(request, run_id: int):
    return _act(
        request,
        run_id,
        lambda r: services.approve_run(r, request.user),
        "Approved: the candidate is deployed.",
    )


@require_POST
def run_reject(request, run_id: int):
    return _act(
        request, run_id, lambda r: services.reject_run(r, request.user), "Rejected: production is unchanged."
    )


def run_approval(request, run_id: int):
    """The held candidate next to production on the same suite, case by case."""
    run = _run(run_id)
    rows = []
    if run.candidate_eval_id and run.production_eval_id:
        rows = diff_runs(run.production_eval, run.candidate_eval)
    return render(request, "pipelines/approval.html", {"run": run, "rows": rows})


def dataset_lineage(request, dataset_id: int):
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        with not_found_as_404():
            raise NotFound(f"Dataset {dataset_id} does not exist.")
    lineage = (
        DatasetLineage.objects.filter(dataset=dataset)
        .select_related("previous", "mapping", "run__pipeline")
        .first()
    )
    try:
        diff = build.row_diff(dataset)
    except (OSError, ServiceError, ValueError):
        diff = None  # a version whose file is gone: the lineage still shows
    return render(request, "pipelines/dataset.html", {"dataset": dataset, "lineage": lineage, "diff": diff})
