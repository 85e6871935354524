"""Sweep API: POST /sweeps starts one, GET /sweeps/{id} follows it (trials, best, chart series), cancel ends it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Router, Schema, Status
from pydantic import Field

from rmnconsole.api_schemas import ERRORS
from training.sweeps import services
from training.sweeps.models import Sweep

router = Router(tags=["sweeps"])


class SweepIn(Schema):
    name: str | None = Field(None, max_length=200)
    adapter_type: Literal["retailer", "task", "domain"]
    adapter_name: str = Field(..., min_length=1, max_length=80, examples=["amazon_sweep"])
    base_model: str | int | None = None
    training_type: Literal["sft", "dpo", "qlora"] = "sft"
    dataset: str | int | None = None
    dataset_path: str | None = Field(None, max_length=500)
    quality_override: bool = False
    fixed: dict[str, Any] = Field(default_factory=dict, description="Hyperparameters every trial shares.")
    search_space: dict[str, dict[str, Any]] = Field(
        ...,
        description="Per hyperparameter: {type: log_float|float|int, low, high[, step]} or {type: choice, choices}.",
        examples=[
            {
                "learning_rate": {"type": "log_float", "low": 1e-5, "high": 1e-3},
                "lora_r": {"type": "choice", "choices": [8, 16, 32]},
            }
        ],
    )
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    objective: str = Field(
        "eval_loss",
        max_length=40,
        description="eval_loss; eval_suite (the suite's primary metric) when evaluation is installed.",
    )
    direction: Literal["minimize", "maximize"] | None = None
    second_objective: str = Field(
        "",
        max_length=40,
        description="Pareto front: '', adapter_size, or latency (eval-suite generation p50).",
    )
    objective_suite: str | int | None = Field(
        None,
        description="Eval suite (id or name[ vN]) of a measured objective; default: the dataset's suite.",
    )
    pruner: Literal["none", "median", "hyperband", "threshold"] = "none"
    pruner_threshold: float | None = None
    max_trials: int = Field(..., description="Budget: trials in all (at least 1).")
    max_parallel: int = 1
    wall_clock_minutes: float | None = None
    keep_trial_adapters: bool = False


class SweepOut(Schema):
    id: int
    name: str
    status: str
    status_reason: str
    stopping: str
    adapter_name: str
    base_model: str
    dataset_path: str
    search_space: dict
    fixed_config: dict
    sampler: str
    objective: str
    direction: str
    second_objective: str
    objective_options: dict
    pruner: str
    max_trials: int
    max_parallel: int
    wall_clock_minutes: float | None = None
    best_trial: int | None = None
    best_value: float | None = None
    best_job_id: int | None = None
    best_adapter: str | None = None
    trial_job_ids: list[int]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @staticmethod
    def resolve_base_model(obj: Sweep) -> str:
        return obj.base_model.name

    @staticmethod
    def resolve_best_adapter(obj: Sweep) -> str | None:
        return obj.best_adapter.label if obj.best_adapter_id else None

    @staticmethod
    def resolve_trial_job_ids(obj: Sweep) -> list[int]:
        return list(obj.trials.order_by("sweep_trial").values_list("pk", flat=True))


class SweepDetailOut(SweepOut):
    summary: dict


@router.post("", response={201: SweepOut, **ERRORS})
def start_sweep(request, payload: SweepIn):
    """Check the request (every bad input refused with its reason) and submit the first trials."""
    spec = payload.dict(exclude_none=True)
    return Status(201, services.start_sweep(spec, request.user))


@router.get("", response={200: list[SweepOut], **ERRORS})
def list_sweeps(request, limit: int = 50):
    return list(Sweep.objects.select_related("base_model", "best_adapter")[: max(1, min(limit, 200))])


@router.get("/{sweep_id}", response={200: SweepDetailOut, **ERRORS})
def get_sweep(request, sweep_id: int):
    sweep = services.get_sweep(sweep_id)
    sweep.summary = services.sweep_summary(sweep)
    return sweep


@router.post("/{sweep_id}/cancel", response={200: SweepOut, **ERRORS})
def cancel_sweep(request, sweep_id: int):
    """End the sweep and cancel its queued and running trials."""
    return services.cancel_sweep(sweep_id, request.user)
