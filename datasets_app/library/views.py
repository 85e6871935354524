"""Dataset library pages: the library table, upload (HTMX, with progress), register by path, report, actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from datasets_app.library import services
from datasets_app.library.export import CONTENT_TYPES, FORMATS, export_dataset, open_export
from datasets_app.library.forms import RegisterForm, UploadForm, ValidateForm
from datasets_app.library.services import open_dataset_file
from datasets_app.library.upload import (
    install_upload_cap,
    max_upload_bytes,
    too_large_message,
    upload_was_too_large,
)
from datasets_app.library.validation.scoring import BANDS, CHECKS
from datasets_app.models import Dataset
from rmnconsole.core import providers
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, stop_polling_when

SORTS = {
    "name": "name",
    "type": "dataset_type",
    "format": "format",
    "examples": "num_examples",
    "size": "size_bytes",
    "score": "quality_score",
    "status": "status",
    "created": "created_at",
}


def _get(dataset_id: int) -> Dataset:
    with not_found_as_404():
        return services.get_dataset(dataset_id)


def _sorted(request) -> tuple[list[Dataset], str]:
    sort = request.GET.get("sort", "-created")
    key = sort.lstrip("-")
    if key not in SORTS:
        sort, key = "-created", "created"
    field = SORTS[key]
    order = f"-{field}" if sort.startswith("-") else field
    return list(Dataset.objects.select_related("created_by").order_by(order, "-id")), sort


def index(request):
    """The library: every dataset with its score bar, plus the upload and register forms."""
    datasets, sort = _sorted(request)
    columns = []
    for key, title in (
        ("name", "Name"),
        ("type", "Type"),
        ("format", "Format"),
        ("examples", "Examples"),
        ("size", "Size"),
        ("score", "Quality score"),
        ("status", "Status"),
        ("created", "Created"),
    ):
        active = sort.lstrip("-") == key
        descending = sort.startswith("-")
        columns.append(
            {
                "key": key,
                "title": title,
                "active": active,
                "next": f"-{key}" if active and not descending else key,
                "arrow": ("▼" if descending else "▲") if active else "",
            }
        )
    context = {
        "datasets": datasets,
        "sort": sort,
        "columns": columns,
        "upload_form": UploadForm(),
        "register_form": RegisterForm(),
        "bands": BANDS,
        "inline_mb": services.inline_limit_bytes() // (1024 * 1024),
        "max_upload_bytes": max_upload_bytes(),
    }
    if request.htmx and request.GET.get("partial") == "table":
        return render(request, "datasets_app/library/table.html", context)
    return render(request, "datasets_app/library/index.html", context)


def _result(request, *, dataset: Dataset | None = None, error: str = "", form=None, status: int = 200):
    """The upload / register outcome: an HTMX partial, or a redirect with a message for a plain form post."""
    if request.htmx:
        return render(
            request,
            "datasets_app/library/result.html",
            {"dataset": dataset, "error": error, "form": form},
            status=status,
        )
    if error:
        messages.error(request, error)
        return redirect("datasets_app:index")
    messages.success(request, f"{dataset.label} added to the library.")
    return redirect("datasets_app:detail", dataset.pk)


@csrf_exempt
@require_POST
def upload(request):
    """Multipart upload with the streaming cap installed before the body is parsed (hence csrf_exempt outside)."""
    install_upload_cap(request)
    return _upload(request)


@csrf_protect
def _upload(request):
    files = (
        request.FILES
    )  # parse the body now, through the capped handlers, before asking whether it was too large
    if upload_was_too_large(request):
        return _result(request, error=too_large_message(), status=413)
    form = UploadForm(request.POST, files)
    if not form.is_valid():
        return _result(request, error="Choose a .jsonl file to upload.", form=form, status=400)
    return _add(request, form, services.save_upload, form.cleaned_data["file"])


@require_POST
def register(request):
    form = RegisterForm(request.POST)
    if not form.is_valid():
        return _result(
            request, error="Give the path of a .jsonl file under datasets/.", form=form, status=400
        )
    return _add(request, form, services.register_dataset_file, form.cleaned_data["path"])


def _add(request, form, add: Callable[..., Dataset], source: Any):
    """Add `source` to the library with the form's name and type: 201 with the new row, or the service's refusal."""
    try:
        dataset = add(
            source,
            name=form.cleaned_data["name"],
            dataset_type=form.cleaned_data["dataset_type"],
            user=request.user,
        )
    except ServiceError as exc:
        return _result(request, error=exc.message, form=form, status=exc.status)
    return _result(request, dataset=dataset, status=201)


@require_GET
def detail(request, dataset_id: int):
    dataset = _get(dataset_id)
    report = dataset.report or {}
    checks = sorted(report.get("checks", {}).values(), key=lambda c: -c.get("weight", 0))
    stats = report.get("stats", {})
    return render(
        request,
        "datasets_app/library/detail.html",
        {
            "dataset": dataset,
            "report": report,
            "checks": checks,
            "stats": stats,
            "histograms": {
                "length": _bars(stats.get("length_histogram")),
                "turns": _bars(stats.get("turns_histogram")),
                "labels": _bars(stats.get("labels")),
            },
            "validate_form": ValidateForm(),
            "formats": FORMATS,
            "check_specs": CHECKS,
            "bands": BANDS,
            "version_lineage": providers.lineage(
                "dataset", dataset
            ),  # a pipeline's build (federation fills it)
        },
    )


def _bars(histogram: dict | None) -> list[tuple[str, int, int]]:
    if not histogram:
        return []
    top = max(histogram.values()) or 1
    return [(label, count, round(100 * count / top)) for label, count in histogram.items()]


@require_GET
def status(request, dataset_id: int):
    """Validation progress for HTMX polling; 286 (stop polling) once the dataset is ready or failed."""
    dataset = _get(dataset_id)
    response = render(request, "datasets_app/library/status.html", {"dataset": dataset})
    # ?refresh: the detail page reloads to show the finished report.
    refresh = {"HX-Refresh": "true"} if request.GET.get("refresh") else None
    return stop_polling_when(dataset.is_finished and request.htmx, response, refresh)


@require_POST
def validate(request, dataset_id: int):
    dataset = _get(dataset_id)
    form = ValidateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(e for errs in form.errors.values() for e in errs))
        return redirect("datasets_app:detail", dataset.pk)
    try:
        dataset = services.validate_dataset(
            dataset,
            user=request.user,
            base_model=form.cleaned_data["base_model"] or None,
            max_seq_len=form.cleaned_data["max_seq_len"],
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("datasets_app:detail", dataset.pk)
    if dataset.is_finished:
        messages.success(request, f"Validated: {dataset.quality_score:g} / 100.")
    else:
        messages.info(request, "Validation queued; this page follows its progress.")
    return redirect("datasets_app:detail", dataset.pk)


@require_GET
def export(request, dataset_id: int):
    dataset = _get(dataset_id)
    fmt = request.GET.get("format", "jsonl")
    try:
        path = export_dataset(dataset, fmt, user=request.user)
        handle = open_export(path)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("datasets_app:detail", dataset.pk)
    return FileResponse(handle, as_attachment=True, filename=path.name, content_type=CONTENT_TYPES[fmt])


@require_GET
def download(request, dataset_id: int):
    dataset = _get(dataset_id)
    try:
        handle = open_dataset_file(dataset)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("datasets_app:detail", dataset.pk)
    return FileResponse(
        handle, as_attachment=True, filename=Path(dataset.path).name, content_type=CONTENT_TYPES["jsonl"]
    )


@require_http_methods(["GET", "POST"])
def delete(request, dataset_id: int):
    """Confirmation page (GET), then the delete itself (POST, staff only)."""
    dataset = _get(dataset_id)
    if not request.user.is_staff:
        messages.error(request, "Only staff can delete datasets.")
        return redirect("datasets_app:detail", dataset.pk)
    if request.method == "GET":
        return render(request, "datasets_app/library/confirm_delete.html", {"dataset": dataset})
    if request.POST.get("confirm") != dataset.name:
        messages.error(request, f"Type the dataset name ({dataset.name}) to confirm the delete.")
        return redirect("datasets_app:delete", dataset.pk)
    label = dataset.label
    try:
        services.delete_dataset(dataset, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("datasets_app:detail", dataset.pk)
    messages.success(request, f"Deleted {label}.")
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("datasets_app:index")
        return response
    return redirect("datasets_app:index")
