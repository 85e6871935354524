"""/api/pipelines: list, create, one pipeline, trigger a run, a run with its steps, cancel, retry, approve, reject."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Router, Schema, Status
from pydantic import Field

from federation.pipelines import services
from federation.pipelines.models import Pipeline, PipelineRun
from rmnconsole.api_schemas import ERRORS

router = Router(tags=["pipelines"])


class PipelineIn(Schema):
    name: str
    suite: str = Field(..., description="Eval suite id or name (its newest version).")
    deployment: str = Field(..., description="Deployment id or name.")
    adapter_name: str
    base_model: str | None = None
    watch_path: str = Field("", description="Watched folder under the data root (with a mapping).")
    mapping: str | None = Field(None, description="Active mapping id or name, for a watched folder.")
    dataset_name: str = Field(
        "", description="The dataset it builds versions of, or the library dataset it follows."
    )
    examples_per_file: int = Field(200, ge=1, le=100_000)
    adapter_type: str = "retailer"
    training_config: dict[str, Any] = {}
    continue_from_production: bool = False
    stage: Literal["production", "staging"] = "production"
    margin: float = Field(0.0, ge=-1.0, le=1.0)
    on_worse: Literal["hold", "reject"] = "hold"
    schedule: str = Field("", description="Cron expression (UTC); empty: no schedule.")
    description: str = ""


def pipeline_out(p: Pipeline) -> dict[str, Any]:
    last = p.last_run
    return {
        "id": p.pk,
        "name": p.name,
        "source_kind": p.source_kind,
        "watch_path": p.watch_path,
        "dataset_name": p.dataset_name,
        "suite": p.suite.label,
        "deployment": p.deployment.name,
        "stage": p.stage,
        "margin": p.margin,
        "on_worse": p.on_worse,
        "continue_from_production": p.continue_from_production,
        "schedule": p.schedule,
        "next_run_at": p.next_run_at,
        "enabled": p.enabled,
        "last_run": run_out(last, steps=False) if last else None,
    }


def run_out(r: PipelineRun, *, steps: bool = True) -> dict[str, Any]:
    out = {
        "id": r.pk,
        "pipeline": r.pipeline.name,
        "number": r.number,
        "status": r.status,
        "status_reason": r.status_reason,
        "trigger": r.trigger,
        "source_files": r.source_files,
        "dataset": r.dataset.label if r.dataset_id else None,
        "training_job": r.training_job_id,
        "candidate": r.candidate.label if r.candidate_id else None,
        "candidate_eval": r.candidate_eval_id,
        "production_eval": r.production_eval_id,
        "production_target": r.production_target or None,
        "comparison": r.comparison or None,
        "decision": r.decision or None,
        "decision_reason": r.decision_reason,
        "decided_by": r.decided_by.username if r.decided_by_id else None,
        "deployment_event": r.deployment_event_id,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
    }
    if steps:
        out["steps"] = [
            {
                "kind": s.kind,
                "attempt": s.attempt,
                "status": s.status,
                "reason": s.status_reason,
                "waiting_on": s.waiting_on,
                "detail": s.detail,
            }
            for s in r.steps.order_by("id")
        ]
    return out


@router.get("", response={200: list[dict[str, Any]], **ERRORS})
def list_pipelines(request):
    return [pipeline_out(p) for p in Pipeline.objects.select_related("suite", "deployment").order_by("name")]


@router.post("", response={201: dict[str, Any], **ERRORS})
def create_pipeline(request, payload: PipelineIn):
    data = payload.dict()
    pipeline = services.create_pipeline(data.pop("name"), request.user, **data)
    return Status(201, pipeline_out(pipeline))


@router.get("/runs/{run_id}", response={200: dict[str, Any], **ERRORS})
def get_run(request, run_id: int):
    return run_out(services.get_run(run_id))


@router.post("/runs/{run_id}/cancel", response={200: dict[str, Any], **ERRORS})
def cancel_run(request, run_id: int):
    return run_out(services.cancel_run(services.get_run(run_id), request.user))


@router.post("/runs/{run_id}/retry", response={200: dict[str, Any], **ERRORS})
def retry_run(request, run_id: int):
    return run_out(services.retry_run(services.get_run(run_id), request.user))


@router.post("/runs/{run_id}/approve", response={200: dict[str, Any], **ERRORS})
def approve_run(request, run_id: int):
    """Deploy a held candidate (a person overrides the eval gate; recorded as who approved)."""
    return run_out(services.approve_run(services.get_run(run_id), request.user))


@router.post("/runs/{run_id}/reject", response={200: dict[str, Any], **ERRORS})
def reject_run(request, run_id: int):
    return run_out(services.reject_run(services.get_run(run_id), request.user))


@router.get("/{name}", response={200: dict[str, Any], **ERRORS})
def get_pipeline(request, name: str):
    pipeline = services.get_pipeline(name)
    return {
        **pipeline_out(pipeline),
        "runs": [run_out(r, steps=False) for r in pipeline.runs.order_by("-number")[:50]],
    }


@router.post("/{name}/runs", response={201: dict[str, Any], **ERRORS})
def trigger(request, name: str):
    """Start a run (or queue it behind the running one; a run already queued absorbs this trigger)."""
    pipeline = services.get_pipeline(name)
    run = services.trigger_run(pipeline, trigger=PipelineRun.Trigger.API, user=request.user)
    return Status(201, run_out(run))


class EnabledIn(Schema):
    enabled: bool


@router.put("/{name}/enabled", response={200: dict[str, Any], **ERRORS})
def set_enabled(request, name: str, payload: EnabledIn):
    """Disable (no trigger starts a run) or enable the pipeline."""
    return pipeline_out(services.set_enabled(services.get_pipeline(name), payload.enabled, request.user))


@router.delete("/{name}", response={204: None, **ERRORS})
def delete_pipeline(request, name: str):
    services.delete_pipeline(services.get_pipeline(name), request.user)
    return Status(204, None)
