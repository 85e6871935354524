"""The Base models page: the registry table, the Import form, and a live progress partial per import."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import show_refusal, stop_polling_when
from training.model_import import services
from training.model_import.forms import ImportBaseModelForm
from training.model_import.models import ModelImport
from training.models import FoundationModel


def _page(request, form: ImportBaseModelForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "base_models": FoundationModel.objects.all(),
        "imports": ModelImport.objects.all()[:10],
    }
    return render(request, "training/base_models.html", context, status=status)


def base_models(request):
    if request.method != "POST":
        return _page(request, ImportBaseModelForm())
    form = ImportBaseModelForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        source = data["source"]
        if data.get("upload"):
            source = services.store_upload(data["upload"])
        job = services.submit_model_import(
            source, name=data["name"], dtype=data["dtype"], in_place=data["in_place"], user=request.user
        )
    except ServiceError as exc:
        # A refused upload is named "source" by the service: the message belongs next to the file the user chose.
        show_refusal(form, exc, "upload" if exc.field == "source" and data.get("upload") else None)
        return _page(request, form, status=exc.status)
    messages.success(request, f"Import of {job.name} queued.")
    return redirect(reverse("training:base_models") + f"#import-{job.pk}")


def import_progress(request, job_id: int):
    """HTMX polling partial: answers 286 once the import has ended, which stops the polling."""
    job = ModelImport.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import")
    response = render(request, "training/base_model_import_progress.html", {"job": job})
    return stop_polling_when(job.is_finished, response)
