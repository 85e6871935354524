"""Training API: /training/jobs (create, batch, list, detail, metrics, cancel, resume) and /adapters (list, detail, zip)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from rmnconsole.api_schemas import ERRORS, StrictInt
from training import queries, services
from training.batch import submit_training_batch
from training.models import Adapter, TrainingJob

router = Router(tags=["training"])
adapters_router = Router(tags=["adapters"])

AdapterTypeName = Literal["retailer", "task", "domain"]
TrainingTypeName = Literal["sft", "dpo", "qlora"]


class JobIn(Schema):
    adapter_type: AdapterTypeName
    adapter_name: str = Field(..., description="Slug, e.g. amazon_schema_v2.")
    training_type: TrainingTypeName = "sft"
    base_model: str | None = Field(None, description="Base model name; the first available one when omitted.")
    dataset: StrictInt | None = Field(None, description="Dataset id from the dataset library.")
    dataset_path: str | None = Field(None, description="Or a JSONL path relative to the data root.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="Hyperparameters (see GET /training/config)."
    )
    quality_override: bool = False
    allow_waiting: bool = Field(False, description="Queue a GPU job even if no online worker can run it now.")


class JobOut(Schema):
    id: int
    adapter_type: str
    adapter_name: str
    base_model: str
    training_type: str
    dataset_path: str
    status: str
    status_reason: str
    device: str
    current_step: int
    total_steps: int
    epoch: float
    progress_pct: float
    eta_seconds: float | None
    tokens_per_second: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    resumed_from: int | None
    cancel_requested: bool
    can_resume: bool
    final_metrics: dict[str, Any]
    config: dict[str, Any]
    adapter_id: int | None = None
    queue_name: str
    memory_estimate: dict[str, Any]
    peak_memory_bytes: int | None
    waiting_reason: str = ""

    @staticmethod
    def resolve_waiting_reason(obj: TrainingJob) -> str:
        from training.scaleout import job_waiting_reason

        return job_waiting_reason(obj)

    @staticmethod
    def resolve_base_model(obj: TrainingJob) -> str:
        return obj.base_model.name

    @staticmethod
    def resolve_resumed_from(obj: TrainingJob) -> int | None:
        return obj.resumed_from_id

    @staticmethod
    def resolve_adapter_id(obj: TrainingJob) -> int | None:
        adapter = obj.adapters.order_by("-version").first()
        return adapter.pk if adapter else None


class JobDetailOut(JobOut):
    log: str
    worker_host: str
    last_checkpoint: str


class MetricPointOut(Schema):
    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    grad_norm: float | None
    tokens_per_second: float | None


class MetricsOut(Schema):
    job_id: int
    status: str
    finished: bool
    current_step: int
    total_steps: int
    points: list[MetricPointOut]


class ParamOut(Schema):
    name: str
    type: str
    default: Any
    minimum: float | None
    maximum: float | None
    choices: list[str]
    help: str
    only_for: list[str]


class AdapterOut(Schema):
    id: int
    adapter_type: str
    name: str
    version: int
    label: str
    base_model: str
    rank: int
    alpha: int
    target_modules: list[str]
    path: str
    size_bytes: int
    sha256: str
    metrics: dict[str, Any]
    source_job: int | None
    training_dataset_path: str
    created_at: datetime

    @staticmethod
    def resolve_base_model(obj: Adapter) -> str:
        return obj.base_model.name

    @staticmethod
    def resolve_source_job(obj: Adapter) -> int | None:
        return obj.source_job_id


class AdapterDetailOut(AdapterOut):
    model_card: str

    @staticmethod
    def resolve_model_card(obj: Adapter) -> str:
        return queries.model_card(obj)


class JobFilters(Schema):
    status: str | None = Field(
        None,
        description="queued, running, completed, failed, cancelled, pruned (sweep trials), active or finished",
    )
    adapter_type: AdapterTypeName | None = None
    training_type: TrainingTypeName | None = None
    adapter_name: str | None = None
    base_model: str | None = None
    sort: str | None = Field(
        None, description="created, name, eval_loss, train_loss, perplexity, finished (- to reverse)"
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=2**31 - 1)  # PostgreSQL OFFSET is a bigint: huge values would be a 500


@router.get("/config", response={200: list[ParamOut], **ERRORS})
def config_schema(request):
    """Every hyperparameter with its default, range and help (the form and the CLI use the same table)."""
    from training.engine.config import PARAMS, TrainingConfig

    defaults = TrainingConfig().to_dict()
    return [
        {
            "name": name,
            "type": param.kind.__name__,
            "default": defaults[name],
            "minimum": param.minimum,
            "maximum": param.maximum,
            "choices": list(param.choices),
            "help": param.help,
            "only_for": list(param.only_for),
        }
        for name, param in PARAMS.items()
    ]


@router.post("/jobs", response={201: JobOut, **ERRORS})
def create_job(request, payload: JobIn):
    """Validate and queue a training job (same checks as the form, the CLI and the facade)."""
    job = services.submit_training_job(user=request.user, **payload.dict())
    return Status(201, job)


class BatchIn(Schema):
    defaults: dict[str, Any] = Field(default_factory=dict, description="Fields and config every job shares.")
    jobs: list[dict[str, Any]] = Field(
        ...,
        description="The guide's shape per job, e.g. {'name': 'amazon_v2', 'dataset': 'datasets/amazon.jsonl'}.",
    )


@router.post("/jobs/batch", response={201: list[JobOut], **ERRORS})
def create_batch(request, payload: BatchIn):
    """Validate every job, then queue all of them or none (same rule as `manage.py train_batch` and the facade)."""
    return Status(201, submit_training_batch(payload.dict(), user=request.user))


@router.get("/jobs", response={200: list[JobOut], **ERRORS})
def list_jobs(request, filters: Query[JobFilters]):
    jobs = queries.filter_jobs(**filters.dict(exclude={"limit", "offset"}))
    return list(jobs[filters.offset : filters.offset + filters.limit])


@router.get("/jobs/{job_id}", response={200: JobDetailOut, **ERRORS})
def get_job(request, job_id: int):
    return services.get_job(job_id)


@router.get("/jobs/{job_id}/metrics", response={200: MetricsOut, **ERRORS})
def job_metrics(request, job_id: int, after: int | None = None):
    """Loss-curve points with step > after (all when omitted): the chart polls this with its last step."""
    job = services.get_job(job_id)
    return {
        "job_id": job.pk,
        "status": job.status,
        "finished": job.is_finished,
        "current_step": job.current_step,
        "total_steps": job.total_steps,
        "points": queries.metric_points(job, after),
    }


@router.post("/jobs/{job_id}/cancel", response={200: JobOut, **ERRORS})
def cancel_job(request, job_id: int):
    return services.cancel_training_job(job_id, request.user)


@router.post("/jobs/{job_id}/resume", response={201: JobOut, **ERRORS})
def resume_job(request, job_id: int):
    return Status(201, services.resume_training_job(job_id, request.user))


@adapters_router.get("", response={200: list[AdapterOut], **ERRORS})
def list_adapters(
    request,
    adapter_type: AdapterTypeName | None = None,
    name: str | None = None,
    base_model: str | None = None,
):
    return list(queries.filter_adapters(adapter_type=adapter_type, name=name, base_model=base_model)[:1000])


@adapters_router.get("/{adapter_id}", response={200: AdapterDetailOut, **ERRORS})
def get_adapter(request, adapter_id: int):
    return queries.get_adapter(adapter_id)


@adapters_router.delete("/{adapter_id}", response={204: None, **ERRORS})
def delete_adapter(request, adapter_id: int):
    """Staff only; refused (409) while a federation uses the adapter."""
    services.delete_adapter(adapter_id, request.user)
    return Status(204, None)


@adapters_router.get("/{adapter_id}/download", response={200: None, **ERRORS})
def download_adapter(request, adapter_id: int):
    """The adapter folder (PEFT files + model card) as a zip."""
    adapter = queries.get_adapter(adapter_id)
    return FileResponse(
        queries.adapter_zip(adapter), as_attachment=True, filename=f"{adapter.name}-v{adapter.version}.zip"
    )
