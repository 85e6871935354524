"""/api/deployments: list, create, set a stage, promote, roll back, canary, delete, serving figures (thin)."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Router, Schema, Status
from pydantic import Field

from federation.serving import broker, services, stats
from rmnconsole.api_schemas import ERRORS, StrictInt

router = Router(tags=["serving"])

StageName = Literal["production", "staging"]


class TargetIn(Schema):
    federation: str | None = Field(None, description="Federation id or name.")
    adapter: str | None = Field(None, description="Adapter id, name (latest version) or 'name v3'.")


class DeploymentIn(TargetIn):
    name: str
    stage: StageName = "production"
    description: str = ""


class CanaryIn(TargetIn):
    percent: StrictInt = Field(..., description="Share of the stage's requests sent to the canary (0 = off).")


class PromoteIn(Schema):
    source: StageName = "staging"
    to: StageName = "production"


class RollbackIn(Schema):
    stage: StageName = "production"


def _out(name: str) -> dict[str, Any]:
    return next(row for row in services.deployment_rows() if row["name"] == name)


@router.get("", response={200: list[dict[str, Any]], **ERRORS})
def list_deployments(request):
    """Every deployment with each stage's target and canary."""
    return services.deployment_rows()


@router.post("", response={201: dict[str, Any], **ERRORS})
def create_deployment(request, payload: DeploymentIn):
    deployment = services.create_deployment(
        payload.name,
        request.user,
        federation=payload.federation,
        adapter=payload.adapter,
        stage=payload.stage,
        description=payload.description,
    )
    return Status(201, _out(deployment.name))


@router.get("/serving", response={200: dict[str, Any], **ERRORS})
def serving_state(request):
    """Live serving workers, batch sizes run, and per-deployment/target requests, tokens, latency, errors."""
    return {
        "workers": broker.live_workers(),
        "batch_sizes": broker.batch_sizes(),
        "targets": stats.snapshot(),
    }


@router.get("/{name}", response={200: dict[str, Any], **ERRORS})
def get_deployment(request, name: str):
    return _out(services.get_deployment(name).name)


@router.put("/{name}/stages/{stage}", response={200: dict[str, Any], **ERRORS})
def set_stage(request, name: str, stage: str, payload: TargetIn):
    services.set_target(name, stage, request.user, federation=payload.federation, adapter=payload.adapter)
    return _out(services.get_deployment(name).name)


@router.post("/{name}/promote", response={200: dict[str, Any], **ERRORS})
def promote(request, name: str, payload: PromoteIn):
    """One call: `to` gets `source`'s target (audited; roll back with /rollback)."""
    services.promote(name, request.user, source=payload.source, to=payload.to)
    return _out(services.get_deployment(name).name)


@router.post("/{name}/rollback", response={200: dict[str, Any], **ERRORS})
def rollback(request, name: str, payload: RollbackIn):
    services.rollback(name, request.user, stage=payload.stage)
    return _out(services.get_deployment(name).name)


@router.put("/{name}/stages/{stage}/canary", response={200: dict[str, Any], **ERRORS})
def canary(request, name: str, stage: str, payload: CanaryIn):
    services.set_canary(
        name,
        stage,
        request.user,
        percent=payload.percent,
        federation=payload.federation,
        adapter=payload.adapter,
    )
    return _out(services.get_deployment(name).name)


@router.post("/{name}/export", response={200: None, **ERRORS})
def export(
    request, name: str, format: Literal["peft", "gguf", "merged"] = "peft", stage: StageName = "production"
):
    """Download a bundle (zip + README with the exact serve command): peft (vLLM/LoRAX), gguf (llama.cpp/Ollama)
    or merged (full model; as large as the base)."""
    from django.http import FileResponse

    from federation.serving.exports import export_deployment

    archive = export_deployment(name, format, request.user, stage=stage)
    return FileResponse(archive.open("rb"), as_attachment=True, filename=archive.name)


@router.delete("/{name}", response={204: None, **ERRORS})
def delete_deployment(request, name: str):
    services.delete_deployment(name, request.user)
    return Status(204, None)
