"""Training pages (HTMX): jobs with tabs, Start Training, job detail with live progress, history, adapters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from datasets_app.models import Dataset
from rmnconsole.core import providers
from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.pages import not_found_as_404, show_refusal, stop_polling_when
from training import batch, queries, scaleout, services
from training.forms import StartTrainingForm, demo_preset_initial
from training.models import AdapterType, FoundationModel, TrainingJob

TABS = {
    "queued": ("queued",),
    "running": ("running",),
    "finished": TrainingJob.FINISHED,
}


def _fmt(value, digits: int) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "—"


def metric_numbers(metrics: dict) -> dict[str, str]:
    """Final metrics formatted for cards; a missing metric shows as a dash."""
    return {
        "eval_loss": _fmt(metrics.get("eval_loss"), 4),
        "train_loss": _fmt(metrics.get("train_loss"), 4),
        "perplexity": _fmt(metrics.get("perplexity"), 2),
        "token_accuracy": _fmt(metrics.get("token_accuracy"), 3),
        "reward_accuracy": _fmt(metrics.get("reward_accuracy"), 3),
        "tokens_per_second": _fmt(metrics.get("tokens_per_second"), 0),
    }


def job_tokens_per_second(job: TrainingJob) -> tuple[float | None, str]:
    """One number for a job's speed on every page: the whole-run average once it ended, the last window while it runs.

    The two differ several-fold (warm-up, evaluation pauses), which is why the job page and history once disagreed."""
    final = (job.final_metrics or {}).get("tokens_per_second")
    if job.is_finished and final not in (None, ""):
        return final, "average over the whole run"
    return job.tokens_per_second, "last logging window"


def _job_context(job: TrainingJob) -> dict:
    tps, tps_basis = job_tokens_per_second(job)
    live = {
        "step": f"{job.current_step} / {job.total_steps or '?'}",
        "epoch": f"epoch {job.epoch:.2f}",
        "tokens_per_second": _fmt(tps, 0),
        "tokens_per_second_basis": tps_basis,
        "eta": "—" if job.eta_seconds is None else f"{job.eta_seconds:.0f} s",
    }
    return {
        "job": job,
        "adapter": job.adapters.order_by("-version").first(),
        "numbers": metric_numbers(job.final_metrics or {}),
        "live": live,
        "scaleout": scaleout.job_context(job),
    }


def metrics_url(job_id: int) -> str:
    from rmnconsole.api import api

    return reverse(f"{api.urls_namespace}:job_metrics", args=[job_id])


def _job_or_404(job_id: int) -> TrainingJob:
    with not_found_as_404():
        return services.get_job(job_id)


def _tab_jobs(tab: str):
    return TrainingJob.objects.select_related("base_model", "created_by").filter(status__in=TABS[tab])[:200]


def index(request):
    """The training landing page: jobs by tab, with the base models they can use."""
    tab = request.GET.get("tab", "running")
    if tab not in TABS:
        tab = "running"
    tabs = [
        (name, TrainingJob.objects.filter(status__in=statuses).count()) for name, statuses in TABS.items()
    ]
    context = {"tab": tab, "tabs": tabs, "jobs": _tab_jobs(tab), "base_models": FoundationModel.objects.all()}
    return render(request, "training/index.html", context)


def jobs_table(request):
    """The jobs table partial; stops polling (286) when no job in the tab is still active."""
    tab = request.GET.get("tab", "running")
    if tab not in TABS:
        raise Http404("unknown tab")
    jobs = _tab_jobs(tab)
    response = render(request, "training/job_rows.html", {"jobs": jobs, "tab": tab})
    return stop_polling_when(not any(job.is_active for job in jobs), response)


def new_job(request):
    """Start Training: the form; on POST the same service as the API, then the job's page."""
    if request.method == "POST":
        form = StartTrainingForm(request.POST)
        if form.is_valid() and form.cleaned_data.get("more_jobs", "").strip():
            batch_response = _submit_batch_from_form(request, form)
            if batch_response is not None:
                return batch_response
        elif form.is_valid():
            data = form.cleaned_data
            try:
                job = services.submit_training_job(
                    adapter_type=data["adapter_type"],
                    adapter_name=data["adapter_name"],
                    training_type=data["training_type"],
                    base_model=data["base_model"],
                    dataset=data["dataset"] or None,
                    dataset_path=data["dataset_path"] or None,
                    config=form.config(),
                    user=request.user,
                    quality_override=data["quality_override"],
                    allow_waiting=data.get("allow_waiting", False),
                )
            except ServiceError as exc:
                field = exc.field
                if field == "dataset_path" and data["dataset"] and not data["dataset_path"]:
                    field = "dataset"  # the user picked from the library: the message belongs on that choice
                show_refusal(form, exc, field)
                for name, message in (exc.details or {}).items():
                    if name in form.fields and name != exc.field:
                        form.add_error(name, message)
            else:
                # No status in the flash: it would still say "queued" on the page after the job completed.
                messages.success(request, f"Training job #{job.pk} ({job.adapter_name}) submitted.")
                return redirect("training:job_detail", job_id=job.pk)
    else:
        initial = {}
        if request.GET.get("preset") == "demo":
            initial = demo_preset_initial()
        if request.GET.get("clone"):
            with not_found_as_404():
                initial = services.clone_as_form_data(request.GET["clone"])
        form = StartTrainingForm(initial=initial)
    context = {
        "form": form,
        "cloned_from": request.GET.get("clone"),
        "demo_preset": request.GET.get("preset") == "demo",
        "has_datasets": Dataset.objects.exists(),
    }
    return render(request, "training/new_job.html", context)


def _submit_batch_from_form(request, form: StartTrainingForm):
    """The guide's "add multiple jobs": the form's job plus one job per 'More jobs' line, all with the form's settings,
    queued through the batch service (all or none). Returns the redirect, or None after putting errors on the form."""
    data = form.cleaned_data
    try:
        extra = form.extra_jobs()
    except django_forms.ValidationError as exc:
        form.add_error("more_jobs", exc)
        return None
    first = {"name": data["adapter_name"]}
    first["dataset"] = int(data["dataset"]) if data["dataset"] else data["dataset_path"]
    defaults = {
        "adapter_type": data["adapter_type"],
        "training_type": data["training_type"],
        "quality_override": data["quality_override"],
        "config": form.config(),
    }
    if data["base_model"] is not None:
        defaults["base_model"] = data["base_model"].name
    try:
        jobs = batch.submit_training_batch({"defaults": defaults, "jobs": [first, *extra]}, user=request.user)
    except ServiceError as exc:
        form.add_error("more_jobs" if extra else None, exc.message)
        return None
    listed = ", ".join(f"#{j.pk} {j.adapter_name}" for j in jobs)
    messages.success(request, f"{len(jobs)} training jobs submitted: {listed}.")
    return redirect(reverse("training:index") + "?tab=queued")


def job_detail(request, job_id: int):
    job = _job_or_404(job_id)
    context = {
        **_job_context(job),
        "metrics_url": metrics_url(job.pk),
        "live_updates": settings.RMN_LIVE_UPDATES,
    }
    return render(request, "training/job_detail.html", context)


def job_progress(request, job_id: int):
    """Live progress partial for HTMX polling: answers 286 once the job has ended, which stops the polling."""
    job = _job_or_404(job_id)
    response = render(request, "training/job_progress.html", {**_job_context(job), "oob": True})
    return stop_polling_when(job.is_finished, response)


def _after_action(request, job: TrainingJob) -> HttpResponse:
    target = reverse("training:job_detail", args=[job.pk])
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        target = back
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _job_action(
    request, job_id: int, action: Callable[[int, Any], TrainingJob], done: Callable[[TrainingJob], str]
) -> HttpResponse:
    """Run a service action on a job; a refusal is a red banner, success the line `done` writes."""
    try:
        job = action(job_id, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _after_action(request, _job_or_404(job_id))
    messages.success(request, done(job))
    return _after_action(request, job)


@require_POST
def job_cancel(request, job_id: int):
    return _job_action(
        request,
        job_id,
        services.cancel_training_job,
        lambda job: f"Cancel requested for job #{job.pk}." if job.is_active else f"Job #{job.pk} cancelled.",
    )


@require_POST
def job_resume(request, job_id: int):
    return _job_action(
        request,
        job_id,
        services.resume_training_job,
        lambda job: f"Job #{job.pk} resumes job #{job_id} from step {job.current_step}.",
    )


def history(request):
    """All finished jobs with their final metrics, sortable; pick several to overlay their loss curves."""
    sort = request.GET.get("sort", "finished")
    try:
        jobs = queries.filter_jobs(status="finished", sort=sort)
    except ServiceError:
        sort, jobs = "finished", queries.filter_jobs(status="finished", sort="finished")
    columns = [
        ("name", "Job"),
        ("eval_loss", "Eval loss"),
        ("train_loss", "Train loss"),
        ("perplexity", "Perplexity"),
        ("tokens_per_second", "Tokens/s"),
        ("finished", "Finished"),
    ]
    context = {
        "jobs": jobs[:500],
        "sort": sort,
        "columns": columns,
        "metrics_url_template": metrics_url(0).replace("/0/", "/{id}/"),
    }
    return render(request, "training/history.html", context)


def adapters(request):
    filters = {k: request.GET.get(k) or None for k in ("adapter_type", "name", "base_model")}
    rows = queries.filter_adapters(**filters)
    shown = list(rows[:500])
    for row in shown:
        row.eval_figures = providers.adapter_figures(row)  # filled by evaluation (a later app)
    context = {
        "adapters": shown,
        "filters": filters,
        "adapter_types": AdapterType.choices,
        "base_models": FoundationModel.objects.filter(adapters__isnull=False).distinct(),
    }
    return render(request, "training/adapters.html", context)


def _adapter_or_404(adapter_id: int):
    with not_found_as_404():
        return queries.get_adapter(adapter_id)


def adapter_detail(request, adapter_id: int):
    adapter = _adapter_or_404(adapter_id)
    lineage = []
    job = adapter.source_job
    while job is not None and len(lineage) < 20:
        lineage.append(job)
        job = job.resumed_from
    siblings = adapter.__class__.objects.filter(name=adapter.name).exclude(pk=adapter.pk).order_by("-version")
    context = {
        "adapter": adapter,
        "numbers": metric_numbers(adapter.metrics or {}),
        "model_card": queries.model_card(adapter),
        "eval_figures": providers.adapter_figures(adapter),
        "pipeline_lineage": providers.lineage("adapter", adapter),  # filled by federation's pipelines
        "lineage": lineage,
        "siblings": siblings,
        "metrics_url": metrics_url(adapter.source_job_id) if adapter.source_job_id else "",
    }
    return render(request, "training/adapter_detail.html", context)


@require_POST
def adapter_delete(request, adapter_id: int):
    """Staff only (the service says so); back to the registry, or to the adapter with the reason it stays."""
    adapter = _adapter_or_404(adapter_id)
    try:
        services.delete_adapter(adapter.pk, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("training:adapter_detail", adapter_id=adapter.pk)
    messages.success(request, f"Deleted {adapter.label}.")
    return redirect("training:adapters")


def adapter_download(request, adapter_id: int):
    adapter = _adapter_or_404(adapter_id)
    try:
        archive = queries.adapter_zip(adapter)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Conflict as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    return FileResponse(archive, as_attachment=True, filename=f"{adapter.name}-v{adapter.version}.zip")
