"""Federation API: /federations, /inference, /abtests (thin: parse → service → schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Body, Router, Schema, Status
from pydantic import Field

from federation import abtests, config_io, gates, runs, services
from federation import inference_worker as worker
from federation import performance as metrics
from federation.engine.types import COMBINATIONS
from federation.models import ABTest, Federation
from rmnconsole.api_schemas import ERRORS, StrictFloat, StrictInt

# Mounted by rmnconsole/api.py under the owner's prefix: /api/federations, /api/inference, /api/abtests.
federations_router = Router(tags=["federation"])
inference_router = Router(tags=["federation"])
abtests_router = Router(tags=["federation"])

RoleName = Literal["retailer", "task", "domain"]


class MemberIn(Schema):
    adapter: str | None = Field(None, description="Adapter name (latest version) or 'name v3'.")
    adapter_id: StrictInt | None = None
    version: StrictInt | None = None
    weight: StrictFloat = 1.0
    role: RoleName | None = None
    prompt_template: str = Field("", description="Sequential: {input} and {previous} placeholders.")


class OptionsIn(Schema):
    combination: Literal[COMBINATIONS] = "cat"  # type: ignore[valid-type]
    merged: bool = False
    density: StrictFloat = 0.5
    svd_rank: StrictInt | None = None
    gate_steps: StrictInt = 60
    gate_learning_rate: StrictFloat = 1e-3
    gate_batch_size: StrictInt = 4
    gate_examples_per_adapter: StrictInt = 200
    gate_dataset_path: str = ""


class FederationIn(Schema):
    name: str
    base_model: str
    method: Literal["additive", "gated", "sequential"] = "additive"
    retailer_adapter: str | None = None
    task_adapter: str | None = None
    members: list[MemberIn] = []
    options: OptionsIn = OptionsIn()
    subtract: bool = False  # required to accept a negative member weight (it subtracts that adapter)


class MemberOut(Schema):
    position: int
    adapter_id: int
    adapter: str
    role: str
    weight: float
    rank: int
    size_bytes: int
    prompt_template: str


class GateTrainingOut(Schema):
    id: int
    status: str
    current_step: int
    total_steps: int
    progress_pct: float
    loss: float | None
    status_reason: str


class FederationOut(Schema):
    id: int
    name: str
    base_model: str
    method: str
    status: str
    status_reason: str
    version: int
    options: dict[str, Any]
    fidelity: dict[str, Any]
    members: list[MemberOut]
    gate_training: GateTrainingOut | None
    created_by: str | None
    created_at: datetime
    metrics: dict[str, Any] | None = None


class InferIn(Schema):
    prompt: str
    max_new_tokens: StrictInt = 64
    temperature: StrictFloat = 0.0
    seed: StrictInt = 0


class InferAccepted(Schema):
    run_id: int
    federation_id: int
    status: str


class RunOut(Schema):
    id: int
    federation_id: int
    federation_version: int
    status: str
    prompt: str
    response: str
    max_new_tokens: int
    temperature: float
    seed: int
    prompt_tokens: int | None
    generated_tokens: int | None
    latency_ms: float | None
    ttft_ms: float | None
    tokens_per_second: float | None
    adapters_used: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    cache_hit: bool | None
    load_ms: float | None
    worker: str
    error: str
    created_at: datetime
    finished_at: datetime | None


class PromptIn(Schema):
    prompt: str
    reference: str | None = None


class ABTestIn(Schema):
    federation_a: StrictInt
    federation_b: StrictInt
    name: str = ""
    prompts: list[PromptIn] = []
    prompts_text: str = Field("", description="One prompt per line; 'prompt || reference' adds a reference.")
    dataset_path: str = Field(
        "", description="A dataset under datasets/: its validation split is the prompt set."
    )
    suite: str = Field("", description="An eval suite (id, 'name' or 'name vN') as the prompt set.")
    limit: StrictInt = 20
    max_new_tokens: StrictInt | None = Field(None, description="Default: the suite's, else 64.")
    temperature: StrictFloat = Field(0.0, description="Must be 0: A/B tests generate greedily.")
    seed: StrictInt = 0


class FederationRef(Schema):
    id: int
    name: str


class ABTestOut(Schema):
    id: int
    name: str
    federation_a: FederationRef
    federation_b: FederationRef
    status: str
    suite_id: int | None
    run_a_id: int | None
    run_b_id: int | None
    prompt_source: str
    dataset_path: str
    prompts: list[dict[str, Any]]
    max_new_tokens: int
    temperature: float
    seed: int
    progress_done: int
    progress_total: int
    results: dict[str, Any]
    verdict: str
    error: str
    created_at: datetime
    finished_at: datetime | None


class CacheClearOut(Schema):
    epoch: int
    workers: list[dict[str, Any]]


def federation_out(federation: Federation, *, with_metrics: bool = False) -> dict:
    training = federation.gate_trainings.order_by("-pk").first()
    return {
        "id": federation.pk,
        "name": federation.name,
        "base_model": federation.base_model.name,
        "method": federation.method,
        "status": federation.status,
        "status_reason": federation.status_reason,
        "version": federation.version,
        "options": federation.options,
        "fidelity": federation.fidelity,
        "members": [
            {
                "position": m.position,
                "adapter_id": m.adapter_id,
                "adapter": m.adapter.label,
                "role": m.role,
                "weight": m.weight,
                "rank": m.adapter.rank,
                "size_bytes": metrics.adapter_size_bytes(m.adapter),
                "prompt_template": m.prompt_template,
            }
            for m in federation.ordered_members()
        ],
        "gate_training": training,
        "created_by": federation.created_by.get_username() if federation.created_by else None,
        "created_at": federation.created_at,
        "metrics": metrics.federation_metrics(federation) if with_metrics else None,
    }


def abtest_out(test: ABTest) -> dict:
    return {
        **{
            f: getattr(test, f)
            for f in (
                "id",
                "name",
                "status",
                "suite_id",
                "run_a_id",
                "run_b_id",
                "prompt_source",
                "dataset_path",
                "prompts",
                "max_new_tokens",
                "temperature",
                "seed",
                "progress_done",
                "results",
                "verdict",
                "error",
                "created_at",
                "finished_at",
            )
        },
        "federation_a": {"id": test.federation_a_id, "name": test.federation_a.name},
        "federation_b": {"id": test.federation_b_id, "name": test.federation_b.name},
        "progress_total": test.progress_total,
    }


def _members(payload: FederationIn) -> list[services.MemberInput]:
    return services.assemble_members(
        retailer=payload.retailer_adapter,
        task=payload.task_adapter,
        listed=[item.model_dump() for item in payload.members],
    )


@federations_router.post("", response={201: FederationOut, **ERRORS})
def create_federation(request, payload: FederationIn):
    """Compose a federation; a gated one starts training its gate (status draft until it is ready)."""
    federation = services.create_federation(
        name=payload.name,
        base_model=payload.base_model,
        members=_members(payload),
        method=payload.method,
        options=payload.options.model_dump(),
        user=request.user,
        subtract=payload.subtract,
    )
    return Status(201, federation_out(federation))


@federations_router.get("", response={200: list[FederationOut], **ERRORS})
def list_federations(request):
    return [federation_out(f) for f in Federation.objects.select_related("base_model", "created_by")]


@federations_router.post("/import", response={201: FederationOut, **ERRORS})
def import_federation(request, payload: Body[dict[str, Any]], name: str | None = None):
    """Create a federation from an exported config (the body, at most RMN_MAX_FEDERATION_CONFIG_MB); ?name= renames it."""
    # `payload` documents the body; the raw bytes go to the service, which owns the size cap and the parsing.
    federation = config_io.import_config_file(request.body, user=request.user, name=name)
    return Status(201, federation_out(federation))


@federations_router.get("/{federation_id}", response={200: FederationOut, **ERRORS})
def get_federation(request, federation_id: int):
    return federation_out(services.get_federation(federation_id), with_metrics=True)


@federations_router.delete("/{federation_id}", response={204: None, **ERRORS})
def delete_federation(request, federation_id: int):
    services.delete_federation(services.get_federation(federation_id), request.user)
    return Status(204, None)


@federations_router.get("/{federation_id}/export", response={200: dict[str, Any], **ERRORS})
def export_federation(request, federation_id: int):
    """The federation's config as JSON (import it back with POST /federations/import)."""
    return config_io.export_config(services.get_federation(federation_id))


@federations_router.post("/{federation_id}/infer", response={202: InferAccepted, **ERRORS})
def infer(request, federation_id: int, payload: InferIn):
    """Queue a test prompt on the inference worker; poll GET /inference/{run_id}."""
    run = runs.submit_inference(
        services.get_federation(federation_id),
        payload.prompt,
        max_new_tokens=payload.max_new_tokens,
        temperature=payload.temperature,
        seed=payload.seed,
        user=request.user,
    )
    return Status(202, {"run_id": run.pk, "federation_id": federation_id, "status": run.status})


@federations_router.post("/{federation_id}/gate/train", response={202: GateTrainingOut, **ERRORS})
def retrain_gate(request, federation_id: int):
    """Retrain a gated federation's gate (the federation gets a new version)."""
    training = gates.start_gate_training(services.get_federation(federation_id), user=request.user)
    return Status(202, training)


@inference_router.get("/{run_id}", response={200: RunOut, **ERRORS})
def get_inference(request, run_id: int):
    return runs.get_run(run_id)


@inference_router.post("/cache/clear", response={200: CacheClearOut, **ERRORS})
def clear_cache(request):
    """Admins: every inference worker drops its cached composed models."""
    epoch = runs.request_cache_clear(request.user)
    return {"epoch": epoch, "workers": worker.cache_states()}


@abtests_router.post("", response={201: ABTestOut, **ERRORS})
def create_abtest(request, payload: ABTestIn):
    test = abtests.create_abtest(
        federation_a=services.get_federation(payload.federation_a),
        federation_b=services.get_federation(payload.federation_b),
        name=payload.name,
        prompts=[p.model_dump() for p in payload.prompts],
        prompts_text=payload.prompts_text,
        dataset_path=payload.dataset_path,
        suite=payload.suite or None,
        limit=payload.limit,
        max_new_tokens=payload.max_new_tokens,
        temperature=payload.temperature,
        seed=payload.seed,
        user=request.user,
    )
    return Status(201, abtest_out(test))


@abtests_router.get("", response={200: list[ABTestOut], **ERRORS})
def list_abtests(request):
    return [abtest_out(t) for t in ABTest.objects.select_related("federation_a", "federation_b")]


@abtests_router.get("/{abtest_id}", response={200: ABTestOut, **ERRORS})
def get_abtest(request, abtest_id: int):
    return abtest_out(abtests.get_abtest(abtest_id))
