"""Federated learning API (/api/federated/...): silos (register, online/offline), jobs (submit, follow, cancel)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from rmnconsole.api_schemas import ERRORS, StrictFloat, StrictInt
from training.federated import services
from training.federated.models import FederatedTrainingJob, Silo

router = Router(tags=["federated"])


class SiloIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    retailer: str = Field(..., min_length=1, max_length=100)
    supernode_host: str = Field(
        ..., min_length=1, max_length=200, description="Where the silo's SuperNode runs."
    )
    node_config: dict[str, str] | str = Field(
        ..., description="flower-supernode --node-config: must name dataset-path (a path on the silo host)."
    )
    public_key: str = Field(
        ..., max_length=2000, description="The SuperNode's EC public key (OpenSSH format)."
    )


class SiloOut(Schema):
    id: int
    name: str
    retailer: str
    supernode_host: str
    node_config: dict
    node_id: str
    status: str
    last_checked_at: datetime | None = None

    @staticmethod
    def resolve_status(obj: Silo) -> str:
        return obj.last_status or "unknown"


class SiloListOut(Schema):
    silos: list[SiloOut]
    superlink_problem: str = ""


class JobIn(Schema):
    adapter_name: str = Field(..., max_length=100)
    base_model: str | int
    silos: list[str] = Field(..., min_length=1, max_length=1000)
    training_type: Literal["sft", "dpo"] = "sft"
    config: dict = Field(default_factory=dict, description="LoRA/optimiser settings, as for a training job.")
    num_rounds: StrictInt = 3
    local_steps: StrictInt = 10
    fraction_train: StrictFloat = 1.0
    min_silos: StrictInt = 2
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    proximal_mu: StrictFloat = 0.0
    server_learning_rate: StrictFloat = Field(
        1.0,
        description="FedAvg: the server's step along the example-weighted average update (1 = plain FedAvg).",
    )
    privacy: Literal["off", "client-fixed"] = "off"
    dp_noise_multiplier: StrictFloat = 1.0
    dp_clipping_norm: StrictFloat = 1.0
    dp_delta: StrictFloat = 1e-5
    secagg: bool = False
    evaluate_each_round: bool = True
    record_silo_adapters: bool = False
    round_timeout: StrictFloat = 3600.0


class JobOut(Schema):
    id: int
    adapter_name: str
    base_model: str
    training_type: str
    silos: list[str]
    num_rounds: int
    local_steps: int
    min_silos: int
    strategy: str
    server_learning_rate: float
    privacy: str
    status: str
    status_reason: str
    message: str
    current_round: int
    progress_pct: float
    flower_run_id: str
    epsilon: float | None = None
    adapter: str | None = None
    lineage: dict
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @staticmethod
    def resolve_base_model(obj: FederatedTrainingJob) -> str:
        return obj.base_model.name

    @staticmethod
    def resolve_silos(obj: FederatedTrainingJob) -> list[str]:
        return [s.name for s in obj.silos.all()]

    @staticmethod
    def resolve_adapter(obj: FederatedTrainingJob) -> str | None:
        return obj.adapter.label if obj.adapter_id else None

    @staticmethod
    def resolve_lineage(obj: FederatedTrainingJob) -> dict:
        return {k: v for k, v in (obj.lineage or {}).items() if k != "traceback"}


class RoundOut(Schema):
    round: int
    phase: str
    silo: str
    ok: bool
    loss: float | None = None
    examples: int | None = None
    reason: str


@router.get("/silos", response={200: SiloListOut, **ERRORS})
def list_silos(request):
    """Every silo with its status from the SuperLink's node list (online / offline / unknown)."""
    silos, problem = services.refresh_silo_status()
    return {"silos": silos, "superlink_problem": problem}


@router.post("/silos", response={201: SiloOut, **ERRORS})
def create_silo(request, payload: SiloIn):
    """Register the silo's SuperNode key with the SuperLink and save the silo."""
    return Status(201, services.register_silo(**payload.dict(), user=request.user))


@router.get("/silos/{silo}", response={200: SiloOut, **ERRORS})
def get_silo(request, silo: str):
    return services.get_silo(silo)


@router.post("/jobs", response={201: JobOut, **ERRORS})
def create_job(request, payload: JobIn):
    """Queue a federated training job (same checks as the page, the CLI and the facade)."""
    return Status(201, services.submit_federated_job(**payload.dict(), user=request.user))


@router.get("/jobs", response={200: list[JobOut], **ERRORS})
def list_jobs(request, limit: int = 50):
    return list(
        FederatedTrainingJob.objects.select_related("base_model", "adapter")[: max(1, min(limit, 500))]
    )


@router.get("/jobs/{job_id}", response={200: JobOut, **ERRORS})
def get_job(request, job_id: int):
    return services.get_federated_job(job_id)


@router.get("/jobs/{job_id}/rounds", response={200: list[RoundOut], **ERRORS})
def get_rounds(request, job_id: int):
    """Per round and silo: training loss and examples, the aggregate's eval loss, or why the silo failed."""
    return services.job_rounds(services.get_federated_job(job_id))


@router.post("/jobs/{job_id}/cancel", response={200: JobOut, **ERRORS})
def cancel_job(request, job_id: int):
    return services.cancel_federated_job(job_id, user=request.user)
