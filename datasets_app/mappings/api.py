"""API for schema mappings, data sources (browse / stats / export) and the RMIS schemas: thin over the services."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status

from datasets_app.mappings import services as svc
from datasets_app.mappings import sources
from datasets_app.mappings.harmonize.browser import ColumnFilter, to_jsonable
from datasets_app.mappings.harmonize.rules import Rule
from datasets_app.mappings.rmis import all_schemas
from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.api_schemas import ERRORS, StrictInt
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.filters import filter_given

# Mounted by rmnconsole/api.py under the owner's prefix: /api/mappings, /api/sources, /api/rmis.
mappings_router = Router()
sources_router = Router()
rmis_router = Router()


class MappingOut(Schema):
    id: int
    name: str
    retailer: str
    source_id: int
    source_name: str
    target_schema: str
    target_version: int
    version: int
    status: str
    rules: list[dict[str, Any]]
    notes: str
    parent_id: int | None
    coverage_pct: float
    required_coverage_pct: float
    validation_status: str
    validated_at: dt.datetime | None
    created_at: dt.datetime
    activated_at: dt.datetime | None


class MappingDetailOut(MappingOut):
    coverage: dict[str, Any]
    validation: dict[str, Any]
    versions: list[dict[str, Any]]


class MappingIn(Schema):
    name: str = Field(min_length=1, max_length=120)
    retailer: str = Field(min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    source_id: StrictInt
    target_schema: str = Field("rmis.ad_event", max_length=60)
    target_version: StrictInt = 1
    rules: list[Rule] = Field(default_factory=list, max_length=200)
    notes: str = Field("", max_length=5000)


class MappingUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    rules: list[Rule] | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=5000)


class ActivateIn(Schema):
    force: bool = False


class PreviewIn(Schema):
    rules: list[Rule] | None = Field(None, max_length=200)
    filters: list[ColumnFilter] = Field(default_factory=list, max_length=50)
    limit: int = Field(20, ge=1, le=500)


class PreviewOut(Schema):
    columns: list[str]
    rows: list[list[Any]]
    coverage: dict[str, Any]
    errors: list[dict[str, Any]]


class BuildIn(Schema):
    examples: int = Field(500, ge=1, le=100_000)
    name: str = Field("", max_length=120)
    seed: int = Field(0, ge=0, le=2**31)


class BuildOut(Schema):
    dataset_id: int
    name: str
    path: str
    examples: int
    skipped_incomplete: int
    status: str
    quality_score: float | None


class SourceOut(Schema):
    id: int
    name: str
    retailer: str
    kind: str
    file_format: str
    path: str
    description: str
    size_bytes: int
    row_count: int | None
    columns: list[list[str]]
    time_column: str
    time_format: str
    time_zone: str
    retailer_column: str
    type_column: str
    is_demo: bool
    created_at: dt.datetime


class SourceIn(Schema):
    path: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=120)
    retailer: str = Field("", max_length=60, pattern=r"^[-a-zA-Z0-9_]*$")
    kind: Literal["events", "catalog", "priors", "metrics", "other"] = "events"
    description: str = Field("", max_length=5000)
    time_column: str = Field("", max_length=255)
    time_format: Literal["iso", "epoch_s", "epoch_ms", "date"] = "iso"
    time_zone: str = Field("UTC", max_length=64)
    retailer_column: str = Field("", max_length=255)
    type_column: str = Field("", max_length=255)


class RowsQuery(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    tz: str = Field(
        "UTC", max_length=64, description="The time zone date_from/date_to are days of (IANA name)."
    )
    retailer: str | None = Field(None, max_length=200)
    type: str | None = Field(None, max_length=200)
    filters: str | None = Field(
        None, max_length=10_000, description='JSON list: [{"column": "adType", "op": "eq", "value": "sp"}]'
    )
    sort: str | None = Field(None, max_length=255)
    desc: bool = False
    page: int = Field(1, ge=1, le=10_000_000)
    page_size: int = Field(50, ge=1, le=500)


class ExportQuery(RowsQuery):
    format: Literal["csv", "jsonl", "parquet"] = "csv"
    mapping_id: int | None = Field(
        None, ge=1, description="Export harmonized by this mapping instead of raw rows."
    )


class RowsOut(Schema):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    total: int
    page: int
    page_size: int
    pages: int


class StatOut(Schema):
    column: str
    type: str
    count: int
    nulls: int
    null_pct: float
    distinct: int
    min: str | None
    max: str | None


def _out(m: SchemaMapping) -> dict:
    data = {f: getattr(m, f) for f in MappingOut.model_fields if hasattr(m, f)}
    data["source_name"] = m.source.name
    return data


def _detail(m: SchemaMapping) -> dict:
    versions = [
        {"id": v.id, "version": v.version, "status": v.status, "created_at": v.created_at}
        for v in svc.mapping_versions(m)
    ]
    return {**_out(m), "coverage": svc.coverage_of(m), "validation": m.validation, "versions": versions}


def _rules(rules: list[Rule] | None) -> list[dict] | None:
    return None if rules is None else [r.model_dump(mode="json") for r in rules]


@mappings_router.get("", response={200: list[MappingOut], **ERRORS}, tags=["mappings"])
def list_mappings(
    request,
    retailer: str | None = None,
    status: Literal["draft", "active", "deprecated"] | None = None,
    source_id: int | None = None,
):
    """Every mapping version, newest first within each retailer."""
    qs = filter_given(
        SchemaMapping.objects.select_related("source"), retailer=retailer, status=status, source_id=source_id
    )
    return [_out(m) for m in qs]


@mappings_router.post("", response={201: MappingDetailOut, **ERRORS}, tags=["mappings"])
def create_mapping(request, payload: MappingIn):
    """Create a Draft mapping (next version number for its retailer + source + target)."""
    m = svc.create_mapping(
        name=payload.name, retailer=payload.retailer, source=sources.get_source(payload.source_id),
        target_schema=payload.target_schema, target_version=payload.target_version, rules=_rules(payload.rules),
        notes=payload.notes, user=request.user,
    )  # fmt: skip
    return Status(201, _detail(m))


@mappings_router.get("/{mapping_id}", response={200: MappingDetailOut, **ERRORS}, tags=["mappings"])
def get_mapping(request, mapping_id: int):
    return _detail(svc.get_mapping(mapping_id))


@mappings_router.put("/{mapping_id}", response={200: MappingDetailOut, **ERRORS}, tags=["mappings"])
def update_mapping(request, mapping_id: int, payload: MappingUpdate):
    """Update a Draft (Active and Deprecated versions are immutable: 409)."""
    m = svc.update_draft(
        svc.get_mapping(mapping_id),
        rules=_rules(payload.rules),
        notes=payload.notes,
        name=payload.name,
        user=request.user,
    )
    return _detail(m)


@mappings_router.delete("/{mapping_id}", response={204: None, **ERRORS}, tags=["mappings"])
def delete_mapping(request, mapping_id: int):
    """Delete a Draft (staff only)."""
    svc.delete_draft(svc.get_mapping(mapping_id), user=request.user)
    return Status(204, None)


@mappings_router.post("/{mapping_id}/draft", response={201: MappingDetailOut, **ERRORS}, tags=["mappings"])
def new_draft(request, mapping_id: int):
    """The Draft to edit for this mapping: an existing one, or a new copy of this version."""
    return Status(201, _detail(svc.edit_mapping(svc.get_mapping(mapping_id), user=request.user)))


@mappings_router.post("/{mapping_id}/activate", response={200: MappingDetailOut, **ERRORS}, tags=["mappings"])
def activate(request, mapping_id: int, payload: ActivateIn | None = None):
    """Activate a Draft; the previous Active version of the same key becomes Deprecated."""
    force = bool(payload and payload.force)
    return _detail(svc.activate_mapping(svc.get_mapping(mapping_id), user=request.user, force=force))


@mappings_router.post("/{mapping_id}/validate", response={200: dict[str, Any], **ERRORS}, tags=["mappings"])
def validate(request, mapping_id: int):
    """Apply the mapping to its source: nulls in required fields, unmapped enums, cast failures, out-of-range values."""
    return to_jsonable(svc.validate_mapping(svc.get_mapping(mapping_id)))


@mappings_router.post("/{mapping_id}/preview", response={200: PreviewOut, **ERRORS}, tags=["mappings"])
def preview(request, mapping_id: int, payload: PreviewIn | None = None):
    """Harmonized rows and coverage — of the saved rules, or of `rules` sent in the body (nothing is saved)."""
    payload = payload or PreviewIn()
    query = sources.Query(filters=payload.filters) if payload.filters else None
    result = svc.preview_mapping(
        svc.get_mapping(mapping_id), rules=_rules(payload.rules), query=query, limit=payload.limit
    )
    return to_jsonable(result)


@mappings_router.post("/{mapping_id}/build-dataset", response={201: BuildOut, **ERRORS}, tags=["mappings"])
def build_dataset(request, mapping_id: int, payload: BuildIn | None = None):
    """Sample source records and write prompt → harmonized-record SFT JSONL into the dataset library."""
    payload = payload or BuildIn()
    dataset, stats = svc.build_training_dataset(
        svc.get_mapping(mapping_id),
        examples=payload.examples,
        name=payload.name,
        seed=payload.seed,
        user=request.user,
    )
    return Status(
        201,
        {
            "dataset_id": dataset.pk, "name": dataset.name, "path": dataset.path, "examples": stats["written"],
            "skipped_incomplete": stats["skipped_incomplete"], "status": getattr(dataset, "status", ""),
            "quality_score": getattr(dataset, "quality_score", None),
        },
    )  # fmt: skip


@mappings_router.get(
    "/{mapping_id}/diff/{other_id}",
    response={200: list[dict[str, Any]], **ERRORS},
    tags=["mappings"],
)
def diff(request, mapping_id: int, other_id: int):
    """Rule differences from version `mapping_id` to version `other_id`."""
    return to_jsonable(svc.diff_mappings(svc.get_mapping(mapping_id), svc.get_mapping(other_id)))


@sources_router.get("", response={200: list[SourceOut], **ERRORS}, tags=["sources"])
def list_sources(request):
    return list(DataSource.objects.all())


@sources_router.post("", response={201: SourceOut, **ERRORS}, tags=["sources"])
def register_source(request, payload: SourceIn):
    """Register a CSV / JSONL / Parquet file that lies under the data root's sources/ folder."""
    return Status(201, sources.register_source(user=request.user, **payload.dict()))


@sources_router.get("/{source_id}", response={200: SourceOut, **ERRORS}, tags=["sources"])
def get_source(request, source_id: int):
    return sources.refresh_source(sources.get_source(source_id))


def _query(params: RowsQuery) -> sources.Query:
    return sources.parse_query(params.dict())


@sources_router.get("/{source_id}/rows", response={200: RowsOut, **ERRORS}, tags=["sources"])
def rows(request, source_id: int, params: Query[RowsQuery]):
    """One page of rows, filtered and sorted by DuckDB."""
    page = sources.browse_source(sources.get_source(source_id), _query(params))
    return to_jsonable(
        {"columns": page.columns, "types": page.types, "rows": page.rows, "total": page.total, "page": page.page,
         "page_size": page.page_size, "pages": page.pages}
    )  # fmt: skip


@sources_router.get("/{source_id}/stats", response={200: list[StatOut], **ERRORS}, tags=["sources"])
def stats(request, source_id: int, params: Query[RowsQuery]):
    """Per column: nulls, approximate distinct values, min and max over the filtered rows."""
    return to_jsonable(sources.source_stats(sources.get_source(source_id), _query(params)))


@sources_router.get(
    "/{source_id}/export",
    response={200: None, **ERRORS},
    tags=["sources"],
    openapi_extra={
        "responses": {
            200: {
                "description": "The filtered rows as a streamed file",
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in sources.EXPORT_CONTENT_TYPES.values()
                },
            }
        }
    },
)
def export(request, source_id: int, params: Query[ExportQuery]):
    """Stream the filtered rows (raw, or harmonized with `mapping_id`) as CSV, JSONL or Parquet."""
    source = sources.get_source(source_id)
    mapping = svc.get_mapping(params.mapping_id) if params.mapping_id else None
    if mapping is not None and mapping.source_id != source.pk:
        raise ServiceError(f"mapping {mapping.pk} reads another source", field="mapping_id")
    path = svc.export_source(source, _query(params), params.format, mapping=mapping)
    response = StreamingHttpResponse(
        sources.stream_file(path), content_type=sources.EXPORT_CONTENT_TYPES[params.format]
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{sources.export_filename(source, params.format, mapping is not None)}"'
    )
    return response


@rmis_router.get("/schemas", response={200: list[dict[str, Any]], **ERRORS}, tags=["mappings"])
def rmis_schemas(request):
    """The versioned RMIS target schemas with every field's type, required flag and allowed values."""
    return [
        {
            "name": s.name,
            "version": s.version,
            "description": s.description,
            "fields": [f.as_dict() for f in s.fields],
        }
        for s in all_schemas()
    ]
