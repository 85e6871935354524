"""Evaluation pages: suites (list, create, detail + leaderboard), a run (live progress), the diff of two runs."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from federation.evaluation import mapping_suites, services, suites
from federation.evaluation.forms import RunForm, SuiteForm
from federation.evaluation.models import EvalCaseResult, EvalRun, EvalSuite
from federation.models import Federation
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, show_refusal, stop_polling_when
from training.models import Adapter, FoundationModel


def subject_choices() -> list[tuple[str, str]]:
    """Every subject the console can evaluate, as 'kind:name' values."""
    return (
        [(f"federation:{f.name}", f"Federation {f.name}") for f in Federation.objects.filter(status="ready")]
        + [
            (f"adapter:{a.label}", f"Adapter {a.label}")
            for a in Adapter.objects.order_by("name", "-version")[:200]
        ]
        + [(f"base:{b.name}", f"Base {b.name}") for b in FoundationModel.objects.all()]
    )


def suite_list(request):
    form = SuiteForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        common = {
            "name": data["name"],
            "metrics": form.metric_specs(),
            "user": request.user,
            "max_new_tokens": data["max_new_tokens"],
        }
        try:
            if data["source"] == "dataset":
                if data.get("dataset") is None:
                    raise ServiceError("Choose a dataset.", field="dataset")
                suite = suites.create_suite_from_dataset(dataset=data["dataset"], **common)
            elif data["source"] == "mapping":
                if data.get("mapping") is None:
                    raise ServiceError("Choose a mapping.", field="mapping")
                suite = mapping_suites.create_suite_from_mapping(
                    mapping=data["mapping"], examples=data["examples"], **common
                )
            else:
                if not data.get("file"):
                    raise ServiceError("Choose a JSONL file to upload.", field="file")
                suite = suites.create_suite_from_jsonl(
                    content=data["file"].read(suites.MAX_JSONL_BYTES + 1), **common
                )
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            messages.success(request, f"Suite {suite.label} created with {suite.cases.count()} cases.")
            return redirect("federation:eval_suite", suite_id=suite.pk)
    context = {"form": form, "suites": EvalSuite.objects.prefetch_related("runs")[:200]}
    return render(request, "evaluation/suites.html", context, status=400 if form.errors else 200)


def _suite(suite_id: int) -> EvalSuite:
    with not_found_as_404():
        return suites.get_suite(suite_id)


def suite_detail(request, suite_id: int):
    suite = _suite(suite_id)
    form = RunForm(request.POST or None, initial={"suite": suite})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = services.submit_eval(
                data["subject"], suite, seed=data["seed"], batch_size=data["batch_size"], user=request.user
            )
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            return redirect("federation:eval_run", run_id=run.pk)
    runs = suite.runs.select_related("adapter", "federation", "base_model")[:100]
    context = {
        "suite": suite,
        "cases": suite.cases.all()[:50],
        "case_count": suite.cases.count(),
        "board": services.leaderboard(suite),
        "runs": runs,
        "form": form,
        "subjects": subject_choices(),
    }
    return render(request, "evaluation/suite_detail.html", context, status=400 if form.errors else 200)


@require_POST
def evaluate_federation(request, federation_id: int):
    """The federation page's "Evaluate on a suite" form."""
    with not_found_as_404():
        from federation.services import get_federation

        federation = get_federation(federation_id)
    try:
        run = services.submit_eval(federation, request.POST.get("suite") or "", user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("federation:detail", federation_id=federation.pk)
    return redirect("federation:eval_run", run_id=run.pk)


def run_detail(request, run_id: int):
    with not_found_as_404():
        run = services.get_eval_run(run_id)
    results = (
        EvalCaseResult.objects.filter(run=run).select_related("case") if run.status == "completed" else []
    )
    others = (
        run.suite.runs.filter(status=EvalRun.Status.COMPLETED)
        .exclude(pk=run.pk)
        .select_related("adapter", "federation", "base_model")[:50]
    )
    template = "evaluation/run_body.html" if request.htmx else "evaluation/run_detail.html"
    response = render(request, template, {"run": run, "results": results, "others": others})
    return stop_polling_when(bool(request.htmx) and run.is_finished, response, {"HX-Refresh": "true"})


@require_POST
def run_cancel(request, run_id: int):
    with not_found_as_404():
        run = services.get_eval_run(run_id)
    try:
        services.cancel_eval(run, user=request.user)
        messages.success(request, f"Eval run {run.pk} cancelled.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("federation:eval_run", run_id=run.pk)


def run_diff(request, run_id: int, other_id: int):
    with not_found_as_404():
        a, b = services.get_eval_run(run_id), services.get_eval_run(other_id)
    try:
        rows = services.diff_runs(a, b)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("federation:eval_run", run_id=a.pk)
    changed = [r for r in rows if r["changed"]] if request.GET.get("changed") else rows
    return render(
        request,
        "evaluation/run_diff.html",
        {"a": a, "b": b, "rows": changed, "total": len(rows), "differing": sum(r["changed"] for r in rows)},
    )
