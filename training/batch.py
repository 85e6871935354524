"""The batch use case: many training jobs, validated together and queued all or none (every door calls this)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from rmnconsole.core.errors import ServiceError
from training import services
from training.engine.config import PARAMS
from training.models import TrainingJob

MAX_BATCH_JOBS = 200

_ALIASES = {
    "name": "adapter_name",
    "dataset": "dataset_path",
    "type": "adapter_type",
    "base": "base_model",
    "method": "training_type",
}
_TOP_LEVEL = {
    "adapter_type",
    "adapter_name",
    "training_type",
    "base_model",
    "dataset_path",
    "config",
    "quality_override",
}


def normalize_job_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The guide's batch shape ({'name', 'dataset', ...}) → submit_training_job's keywords.

    Hyperparameters may sit at the top level or under 'config'; adapter_type defaults to 'retailer'
    (the guide's batch example trains retailer adapters and names no type).
    """
    if not isinstance(spec, dict):
        raise ServiceError(
            "each job must be a mapping like {'name': 'amazon_v2', 'dataset': 'datasets/amazon.jsonl'}"
        )
    out: dict[str, Any] = {"adapter_type": "retailer", "config": {}}
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ServiceError("'config' must be a mapping of hyperparameters", field="config")
    for key, value in spec.items():
        key = _ALIASES.get(key, key)
        if key == "config":
            continue
        if key == "dataset_path" and isinstance(value, int) and not isinstance(value, bool):
            out["dataset"] = value  # a dataset-library id rather than a path
        elif key in _TOP_LEVEL:
            out[key] = value
        elif key in PARAMS:
            out["config"][key] = value
        else:
            raise ServiceError(f"Unknown job field {key!r}", field=key)
    out["config"].update(config)
    if not out.get("adapter_name"):
        raise ServiceError("Each job needs a name (adapter_name)", field="adapter_name")
    return out


def expand_batch(data: Any) -> list[dict[str, Any]]:
    """A list of jobs, or {'defaults': {...}, 'jobs': [...]} where defaults (and their config) apply to every job."""
    defaults: Any = {}
    if isinstance(data, dict):
        defaults = data.get("defaults") or {}
        data = data.get("jobs")
    if not isinstance(data, list) or not data:
        raise ServiceError(
            "A batch is a non-empty list of jobs (or a mapping with a 'jobs' list).", field="jobs"
        )
    if len(data) > MAX_BATCH_JOBS:
        raise ServiceError(
            f"A batch holds at most {MAX_BATCH_JOBS} jobs; this one has {len(data)}.", field="jobs"
        )
    if not isinstance(defaults, dict):
        raise ServiceError("'defaults' must be a mapping.", field="defaults")
    jobs = []
    for number, spec in enumerate(data, start=1):
        if not isinstance(spec, dict):
            raise ServiceError(f"Job {number} must be a mapping of fields.", field="jobs")
        merged = {**defaults, **spec}
        merged["config"] = {**(defaults.get("config") or {}), **(spec.get("config") or {})}
        jobs.append(merged)
    return jobs


def submit_training_batch(data: Any, *, user=None) -> list[TrainingJob]:
    """Validate every job, then queue all of them, or none: one invalid job refuses the whole batch."""
    specs = expand_batch(data)
    jobs: list[TrainingJob] = []
    problems: list[dict[str, Any]] = []
    with transaction.atomic():
        for number, spec in enumerate(specs, start=1):
            label = str(spec.get("name") or spec.get("adapter_name") or "?")
            try:
                with transaction.atomic():
                    jobs.append(services.submit_training_job(user=user, **normalize_job_spec(spec)))
            except ServiceError as exc:
                problems.append({"job": number, "name": label, "field": exc.field, "detail": exc.message})
        if problems:
            transaction.set_rollback(True)  # nothing was saved: the on_commit enqueues never run
    if problems:
        listed = "; ".join(f"job {p['job']} ({p['name']}): {p['detail']}" for p in problems)
        raise ServiceError(
            f"{len(problems)} of {len(specs)} jobs are invalid, none queued: {listed}",
            field="jobs",
            details={"jobs": problems},
        )
    return jobs
