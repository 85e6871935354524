"""Data-source pages: the source list with registration, and the DuckDB data browser (filters, stats, preview, export)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from datasets_app.mappings import services as svc
from datasets_app.mappings import sources
from datasets_app.mappings.forms import SourceRegisterForm
from datasets_app.mappings.harmonize.browser import OPS, to_jsonable
from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, show_refusal

OP_LABELS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "contains": "contains",
             "startswith": "starts with", "in": "in (a,b,…)", "is_null": "is empty", "not_null": "is not empty"}  # fmt: skip


def _source(source_id: int) -> DataSource:
    with not_found_as_404():
        return sources.get_source(source_id)


def source_list(request):
    form = SourceRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = sources.register_source(user=request.user, **form.cleaned_data)
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            messages.success(request, f"Data source {source.name} registered ({source.row_count} rows).")
            return redirect("datasets_app:source_browse", source_id=source.pk)
    return render(
        request, "datasets_app/mappings/source_list.html", {"sources": DataSource.objects.all(), "form": form}
    )


def _filter_rows(request) -> list[dict]:
    rows = [
        {"column": c, "op": o, "value": v}
        for c, o, v in zip(
            request.GET.getlist("fcol"), request.GET.getlist("fop"), request.GET.getlist("fval"), strict=False
        )
        if c
    ]
    return rows or [{"column": "", "op": "eq", "value": ""}]


def _distinct(source: DataSource, column: str) -> list[str]:
    if not column:
        return []
    try:
        return [v for v, _n in sources.source_distinct(source, column, 100)]
    except ServiceError:
        return []


def source_browse(request, source_id: int):
    """The browser page; an HTMX request gets only the results table."""
    source = _source(source_id)
    error, page = None, None
    try:
        query = sources.parse_query(request.GET, multi=request.GET)
        page = sources.browse_source(source, query)
    except ServiceError as exc:
        error = exc.message
    context = {
        "source": source,
        "page": page,
        "rows": to_jsonable(page.rows) if page else [],
        "headers": list(zip(page.columns, page.types, strict=True)) if page else [],
        "error": error,
        "params": request.GET,
        "sort": request.GET.get("sort", ""),
        "desc": request.GET.get("desc", "") in ("1", "true", "on"),
        "querystring": _querystring(request, drop=("page", "sort", "desc")),
    }
    if request.htmx and request.GET.get("partial") == "results":
        return render(request, "datasets_app/mappings/browser_results.html", context)
    context.update(
        {
            "filter_rows": _filter_rows(request),
            "ops": [(op, OP_LABELS[op]) for op in OPS],
            "retailers": _distinct(source, source.retailer_column),
            "types": _distinct(source, source.type_column),
            "mappings": SchemaMapping.objects.filter(source=source).order_by("-status", "-version"),
        }
    )
    return render(request, "datasets_app/mappings/source_browse.html", context)


def _mapping_for(source: DataSource, raw: str | None) -> SchemaMapping | None:
    if not raw or not str(raw).isdigit():
        return None
    return SchemaMapping.objects.filter(source=source, pk=int(raw)).first()


def _querystring(request, drop=()) -> str:
    params = request.GET.copy()
    for key in (*drop, "partial"):
        params.pop(key, None)
    return params.urlencode()


@require_GET
def source_stats(request, source_id: int):
    source = _source(source_id)
    try:
        stats, error = sources.source_stats(source, sources.parse_query(request.GET, multi=request.GET)), None
    except ServiceError as exc:
        stats, error = [], exc.message
    return render(
        request, "datasets_app/mappings/browser_stats.html", {"stats": to_jsonable(stats), "error": error}
    )


@require_GET
def source_harmonized(request, source_id: int):
    """ "Preview harmonized": the chosen mapping applied to the filtered rows (first 20)."""
    source = _source(source_id)
    mapping = _mapping_for(source, request.GET.get("mapping_id"))
    if mapping is None:
        return render(
            request,
            "datasets_app/mappings/browser_harmonized.html",
            {"error": "Choose a mapping of this source."},
        )
    try:
        result = svc.preview_mapping(mapping, query=sources.parse_query(request.GET, multi=request.GET))
    except ServiceError as exc:
        return render(request, "datasets_app/mappings/browser_harmonized.html", {"error": exc.message})
    result["rows"] = to_jsonable(result["rows"])
    return render(
        request, "datasets_app/mappings/browser_harmonized.html", {"result": result, "mapping": mapping}
    )


@require_GET
def source_export(request, source_id: int):
    """Streamed download of the filtered rows, raw or harmonized (`mapping_id`), as CSV / JSONL / Parquet."""
    source = _source(source_id)
    fmt = request.GET.get("format", "csv")
    mapping = None
    if request.GET.get("mapping_id"):
        mapping = _mapping_for(source, request.GET["mapping_id"])
        if mapping is None:
            raise Http404("no such mapping for this source")
    try:
        path = svc.export_source(
            source, sources.parse_query(request.GET, multi=request.GET), fmt, mapping=mapping
        )
    except ServiceError as exc:
        messages.error(request, f"Export failed: {exc.message}")
        return redirect("datasets_app:source_browse", source_id=source.pk)
    response = StreamingHttpResponse(
        sources.stream_file(path), content_type=sources.EXPORT_CONTENT_TYPES[fmt]
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{sources.export_filename(source, fmt, mapping is not None)}"'
    )
    return response
