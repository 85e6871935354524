"""Dataset library API: /datasets (list, upload), /datasets/register, /datasets/{id} (detail, delete), validate, export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from django.http import FileResponse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from pydantic import Field

from datasets_app.library import services
from datasets_app.library.export import CONTENT_TYPES, FORMATS, export_dataset, open_export
from datasets_app.library.upload import UploadTooLarge, capped_upload, too_large_message, upload_was_too_large
from datasets_app.models import Dataset
from rmnconsole.api_schemas import ERRORS, ErrorOut, StrictInt

router = Router(tags=["datasets"])

TypeName = Literal["sft", "dpo"]
SortName = Literal[
    "name",
    "-name",
    "created_at",
    "-created_at",
    "quality_score",
    "-quality_score",
    "num_examples",
    "-num_examples",
    "size_bytes",
    "-size_bytes",
]
ExportFormat = Literal["jsonl", "csv", "parquet", "hf"]
FILE_RESPONSE = {
    "description": "The file",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


class DatasetOut(Schema):
    id: int
    name: str
    version: int
    label: str
    dataset_type: str
    format: str
    path: str
    size_bytes: int
    num_examples: int
    sha256: str
    quality_score: float | None
    band: str
    status: str
    status_reason: str
    progress_pct: float
    created_at: datetime
    validated_at: datetime | None
    created_by: str | None = None
    failing_checks: list[str] = Field(default_factory=list)

    @staticmethod
    def resolve_created_by(obj: Dataset) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None

    @staticmethod
    def resolve_failing_checks(obj: Dataset) -> list[str]:
        return [c["name"] for c in obj.failing_checks]


class DatasetDetailOut(DatasetOut):
    report: dict[str, Any]


class RegisterIn(Schema):
    path: str = Field(
        ..., description="A .jsonl file under the data root's datasets/ folder, e.g. datasets/amazon.jsonl."
    )
    name: str | None = Field(None, description="Library name; the file name when omitted.")
    dataset_type: TypeName | None = Field(
        None, description="sft or dpo; detected from the lines when omitted."
    )
    background: bool | None = Field(None, description="Force background (true) or inline (false) validation.")


class ValidateIn(Schema):
    base_model: str | None = Field(
        None, description="Registered base model whose tokenizer measures token lengths."
    )
    max_seq_len: StrictInt | None = Field(
        None, ge=1, le=1_000_000, description="Examples longer than this (tokens) are flagged."
    )
    background: bool | None = None


@router.get("", response={200: list[DatasetOut], **ERRORS})
def list_datasets(request, dataset_type: TypeName | None = None, sort: SortName = "-created_at"):
    """Every dataset in the library, newest first unless sorted otherwise."""
    qs = Dataset.objects.select_related("created_by").order_by(sort, "-id")
    if dataset_type:
        qs = qs.filter(dataset_type=dataset_type)
    return list(qs[:1000])


@router.post("", response={201: DatasetOut, 413: ErrorOut, **ERRORS})
@decorate_view(capped_upload)
def upload_dataset(
    request,
    file: File[UploadedFile] = None,
    name: Form[str] = None,
    dataset_type: Form[TypeName] = None,
):
    """Upload a .jsonl (multipart field `file`, at most RMN_MAX_UPLOAD_MB); small files are validated at once."""
    request.FILES  # noqa: B018 - already parsed by ninja; kept explicit because the check below depends on it
    if upload_was_too_large(request):
        raise UploadTooLarge(too_large_message(), field="file")
    dataset = services.save_upload(file, name=name, dataset_type=dataset_type, user=request.user)
    return Status(201, dataset)


@router.post("/register", response={201: DatasetOut, **ERRORS})
def register_dataset(request, payload: RegisterIn):
    """Add an existing file under datasets/ to the library (`../`, absolute paths elsewhere and symlinks out are refused)."""
    dataset = services.register_dataset_file(
        payload.path,
        name=payload.name,
        dataset_type=payload.dataset_type,
        user=request.user,
        background=payload.background,
    )
    return Status(201, dataset)


@router.get("/{dataset_id}", response={200: DatasetDetailOut, **ERRORS})
def get_dataset(request, dataset_id: int):
    """One dataset with its full validation report (per-check scores, counts, example lines, weights, caps)."""
    return services.get_dataset(dataset_id)


@router.post("/{dataset_id}/validate", response={200: DatasetDetailOut, 202: DatasetOut, **ERRORS})
def validate_dataset(request, dataset_id: int, payload: ValidateIn | None = None):
    """Re-run validation: inline for small files (200 with the report), as a background job for large ones (202)."""
    payload = payload or ValidateIn()
    dataset = services.validate_dataset(
        services.get_dataset(dataset_id),
        user=request.user,
        background=payload.background,
        base_model=payload.base_model,
        max_seq_len=payload.max_seq_len,
    )
    if dataset.is_finished:
        return dataset
    return Status(202, dataset)


@router.get(
    "/{dataset_id}/export", response={200: None, **ERRORS}, openapi_extra={"responses": {200: FILE_RESPONSE}}
)
def export(request, dataset_id: int, format: Query[ExportFormat] = "jsonl"):
    """Download the dataset as JSONL, CSV, Parquet, or a `datasets` save_to_disk folder (zip): format=jsonl|csv|parquet|hf."""
    dataset = services.get_dataset(dataset_id)
    path = export_dataset(dataset, format, user=request.user)
    return FileResponse(
        open_export(path), as_attachment=True, filename=path.name, content_type=CONTENT_TYPES[format]
    )


@router.get(
    "/{dataset_id}/download",
    response={200: None, **ERRORS},
    openapi_extra={"responses": {200: FILE_RESPONSE}},
)
def download(request, dataset_id: int):
    """The original file."""
    dataset = services.get_dataset(dataset_id)
    return FileResponse(
        services.open_dataset_file(dataset),
        as_attachment=True,
        filename=Path(dataset.path).name,
        content_type=CONTENT_TYPES["jsonl"],
    )


@router.delete("/{dataset_id}", response={204: None, **ERRORS})
def delete(request, dataset_id: int):
    """Staff only. Training jobs that used the dataset keep its path and sha256."""
    services.delete_dataset(services.get_dataset(dataset_id), user=request.user)
    return Status(204, None)


__all__ = ["FORMATS", "router"]
