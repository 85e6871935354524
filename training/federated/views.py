"""Federated pages: silos (online/offline from the SuperLink), the job form, and a job page with live rounds."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rmnconsole.core.errors import NotFound, ServiceError
from rmnconsole.core.pages import show_refusal, stop_polling_when
from training.federated import services
from training.federated.forms import FederatedJobForm, SiloForm
from training.federated.models import FederatedTrainingJob

SILO_FIELDS = ("name", "retailer", "supernode_host", "node_config", "public_key")


def _not_found(request, exc: NotFound) -> HttpResponse:
    return render(request, "training/federated/missing.html", {"message": exc.message}, status=404)


def federated_index(request):
    jobs = FederatedTrainingJob.objects.select_related("base_model", "adapter")[:50]
    return render(request, "training/federated/index.html", {"jobs": jobs, "section": "federated"})


def _silos_page(request, form: SiloForm, status: int = 200) -> HttpResponse:
    silos, problem = services.refresh_silo_status()
    context = {"form": form, "silos": silos, "problem": problem, "section": "federated"}
    return render(request, "training/federated/silos.html", context, status=status)


def silos(request):
    if request.method != "POST":
        return _silos_page(request, SiloForm())
    form = SiloForm(request.POST)
    if not form.is_valid():
        return _silos_page(request, form, status=400)
    try:
        silo = services.register_silo(**form.cleaned_data, user=request.user)
    except ServiceError as exc:
        form.add_error(exc.field if exc.field in SILO_FIELDS else None, exc.message)
        return _silos_page(request, form, status=exc.status)
    messages.success(request, f"Silo {silo.name} registered with the SuperLink (node {silo.node_id}).")
    return redirect("training:federated_silos")


def _form_page(request, form: FederatedJobForm, status: int = 200) -> HttpResponse:
    return render(
        request, "training/federated/new.html", {"form": form, "section": "federated"}, status=status
    )


def new_job(request):
    if request.method != "POST":
        return _form_page(request, FederatedJobForm())
    form = FederatedJobForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        job = services.submit_federated_job(**form.service_kwargs(), user=request.user)
    except ServiceError as exc:
        show_refusal(form, exc)
        return _form_page(request, form, status=exc.status)
    messages.success(request, f"Federated job #{job.pk} queued.")
    return redirect(reverse("training:federated_job", args=[job.pk]))


def _job_context(job: FederatedTrainingJob) -> dict:
    rounds: dict[int, dict] = {}
    for row in job.silo_rounds.all():
        entry = rounds.setdefault(row.round, {"round": row.round, "train": [], "evaluate": []})
        entry[row.phase].append(row)
    return {
        "job": job,
        "rounds": [rounds[k] for k in sorted(rounds)],
        "round_label": f"round {job.current_round} / {job.num_rounds}",
        "section": "federated",
    }


def job_detail(request, job_id: int):
    try:
        job = services.get_federated_job(job_id)
    except NotFound as exc:
        return _not_found(request, exc)
    context = _job_context(job)
    context["rounds_url"] = f"/api/federated/jobs/{job.pk}/rounds"
    return render(request, "training/federated/job.html", context)


def job_progress(request, job_id: int):
    """HTMX polling partial; answers 286 once the job has ended, which stops the polling."""
    try:
        job = services.get_federated_job(job_id)
    except NotFound as exc:
        return _not_found(request, exc)
    response = render(request, "training/federated/_progress.html", _job_context(job))
    return stop_polling_when(job.is_finished, response)


@require_POST
def job_cancel(request, job_id: int):
    try:
        job = services.cancel_federated_job(job_id, user=request.user)
    except NotFound as exc:
        return _not_found(request, exc)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("training:federated_job", args=[job_id]))
    messages.success(request, f"Federated job #{job.pk}: {job.message or job.status}.")
    return redirect(reverse("training:federated_job", args=[job.pk]))
