"""Submit-time scale-out decisions: a job's memory estimate, the queue it is routed to, and why it waits."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import data_root
from training.engine.memory import GIB, MemoryEstimate, ModelShape, estimate_training_memory
from training.models import FoundationModel, TrainingJob
from training.routing import (
    Requirements,
    bucket_for,
    largest_online_gpu,
    online_queues,
    queue_for,
    waiting_reason,
)

log = logging.getLogger(__name__)
HEADROOM = 0.9  # same as engine.memory.fits: leave room for allocator fragmentation


@dataclass
class Routing:
    queue_name: str
    requirements: Requirements
    estimate: MemoryEstimate | None


def model_config(model: FoundationModel) -> dict | None:
    """The base model's config.json (from its local folder), or None when it is not readable here."""
    folders = [model.local_path] if model.local_path else []
    if model.source and not model.source.startswith(("http:", "https:")):
        folders.append(str(data_root() / model.source))
    for folder in folders:
        try:
            return json.loads((Path(folder) / "config.json").read_text())
        except (OSError, ValueError):
            continue
    return None


def estimate_for(model: FoundationModel, training_type: str, config: dict, *, on_gpu: bool = True):
    """The per-device memory estimate of a job, or None when the model's shape is unknown."""
    raw = model_config(model)
    if raw is None:
        return None
    try:
        shape = ModelShape.from_config(raw, model.parameter_count or 0)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return estimate_training_memory(
        shape,
        dtype=model.dtype if model.dtype in ("float32", "bfloat16", "float16") else "bfloat16",
        quantization=config.get("quantization", "none"),
        lora_r=int(config.get("lora_r", 16)),
        target_modules=config.get("target_modules") or ("q_proj", "v_proj"),
        batch_size=int(config.get("batch_size", 4)),
        max_seq_length=int(config.get("max_seq_length", 1024)),
        gradient_checkpointing=bool(config.get("gradient_checkpointing", False)),
        dpo=training_type == "dpo",
        on_gpu=on_gpu,
    )


def route(model: FoundationModel, training_type: str, config: dict) -> Routing:
    """The queue a job goes to: `training` for CPU-or-anything jobs, a GPU queue sized by the estimate otherwise."""
    gpus = int(config.get("num_gpus") or 0)
    estimate = estimate_for(model, training_type, config, on_gpu=gpus > 0)
    min_gib = estimate.total / GIB / HEADROOM if (estimate and gpus) else 0.0
    quantized = training_type == "qlora" or config.get("quantization", "none") != "none"
    req = Requirements(gpus=gpus, min_gpu_memory_gib=round(min_gib, 2), bitsandbytes=bool(gpus) and quantized)
    return Routing(queue_for(req), req, estimate)


def check_capacity(routing: Routing, connection, *, allow_waiting: bool) -> None:
    """Refuse a GPU job no online worker can take (naming the estimate and the largest GPU online)."""
    if not routing.requirements.gpus or allow_waiting:
        return
    try:
        serving = online_queues(connection).get(routing.queue_name)
        gpus, gib = largest_online_gpu(connection)
    except Exception as exc:  # Redis down: the enqueue will fail loudly anyway; do not guess here
        log.warning("capacity check skipped: %s", exc)
        return
    if serving:
        return
    need = routing.requirements
    estimate = (
        f"estimated {routing.estimate.total_gib:.1f} GiB per GPU (needs a ≥ {bucket_for(need.min_gpu_memory_gib)} GiB card)"
        if routing.estimate
        else "memory not estimated (model config.json not readable)"
    )
    largest = f"{gpus} × {gib} GiB" if gpus else "none (no GPU worker online)"
    raise ServiceError(
        f"No online worker can run this job: it needs {need.gpus} GPU{'s' if need.gpus > 1 else ''}"
        f"{' with bitsandbytes (4/8-bit weights)' if need.bitsandbytes else ''}, "
        f"{estimate}; largest GPU worker online: {largest}. "
        "Lower batch size / sequence length, use 4-bit quantization, or submit with allow_waiting to queue it anyway.",
        field="num_gpus",
        details={
            "queue": routing.queue_name,
            "estimate": routing.estimate.as_dict() if routing.estimate else None,
            "largest_online_gpu": {"gpus": gpus, "gib": gib},
        },
    )


def job_waiting_reason(job: TrainingJob, connection=None) -> str:
    """ "waiting: no worker with 2 GPUs online" for a queued job nobody can take; '' otherwise."""
    if job.status != TrainingJob.Status.QUEUED:
        return ""
    try:
        if connection is None:
            from training.runtime import training_redis

            connection = training_redis()
        return waiting_reason(job.queue_name or "training", connection)
    except Exception:
        return ""


def record_peak(job_id: int, measured: int | None) -> None:
    """Store the measured peak on the job (at its end), to show next to the estimate; None: nothing was measured
    (a distributed run that failed: its ranks never reported one)."""
    if measured is None:
        return
    try:
        TrainingJob.objects.filter(pk=job_id).update(peak_memory_bytes=measured)
    except Exception as exc:  # measuring must never change how the job ends
        log.warning("peak memory of job %s not recorded: %s", job_id, exc)


def _gib(value_bytes: int | None) -> str:
    return "—" if value_bytes is None else f"{value_bytes / GIB:.2f} GiB"


def job_context(job: TrainingJob) -> dict:
    """What the job page shows: where it is routed, why it waits, the estimate next to the measured peak."""
    estimate = job.memory_estimate or {}
    config = job.config or {}
    gpus = int(config.get("num_gpus") or 0)
    return {
        "queue_name": job.queue_name or "training",
        "num_gpus": gpus,
        "global_batch": _global_batch(config, gpus),
        "waiting_reason": job_waiting_reason(job),
        "estimate": f"{estimate['total']:.2f} GiB" if "total" in estimate else "—",
        "estimate_parts": {k: v for k, v in estimate.items() if k not in ("total", "lora_parameters")},
        "estimate_kind": "per GPU" if gpus else "on CPU (no CUDA context)",
        "peak": _gib(job.peak_memory_bytes),
        "peak_kind": _peak_kind(job.device or "", gpus),
    }


def _global_batch(config: dict, gpus: int) -> int | None:
    """DDP: every rank takes batch_size × accumulation examples per optimizer step."""
    if gpus < 2:
        return None
    return int(config.get("batch_size", 4)) * int(config.get("gradient_accumulation_steps", 1)) * gpus


def _peak_kind(device: str, gpus: int) -> str:
    kind = "CUDA max allocated" if "cuda" in device else "peak RSS"
    return f"{kind} of rank 0 (every rank holds a full replica)" if gpus > 1 else f"{kind} of the work horse"


def form_estimate(model: FoundationModel, training_type: str, config: dict, connection=None) -> dict:
    """The Start Training form's live estimate: the numbers, the queue, and whether an online worker can take it."""
    routing = route(model, training_type, config)
    out = {"routing": routing, "estimate": routing.estimate, "verdict": "", "ok": True}
    if routing.estimate is None:
        out["verdict"] = f"No estimate: {model.name}'s config.json is not readable on this host."
        return out
    out["parts"] = [
        (name.replace("_", " "), gib)
        for name, gib in routing.estimate.as_dict().items()
        if name not in ("total", "lora_parameters")
    ]
    if not routing.requirements.gpus:
        out["verdict"] = "Runs on any training worker (CPU included)."
        return out
    try:
        if connection is None:
            from training.runtime import training_redis

            connection = training_redis()
        check_capacity(routing, connection, allow_waiting=False)
        out["verdict"] = f"An online worker serves {routing.queue_name}."
    except ServiceError as exc:
        out["verdict"], out["ok"] = exc.message, False
    return out
