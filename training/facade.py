"""The user guide's Python functions for training, over the same services as the UI, API and CLI."""

from __future__ import annotations

from typing import Any

from rmnconsole.core.users import resolve_user
from training import services
from training.batch import normalize_job_spec
from training.batch import submit_training_batch as _submit_batch


def submit_training_job(spec: dict[str, Any] | None = None, /, *, user=None, **fields: Any) -> int:
    """Queue a training job and return its id.

    submit_training_job(adapter_type='retailer', adapter_name='amazon_v3', dataset_path='datasets/amazon_v3.jsonl',
                        config={'lora_r': 16, 'lora_alpha': 32, 'batch_size': 4, 'learning_rate': 0.0002})
    submit_training_job({'name': 'amazon_v2', 'dataset': 'datasets/amazon.jsonl'})   # the guide's batch shape
    """
    kwargs = normalize_job_spec({**(spec or {}), **fields})
    return services.submit_training_job(user=resolve_user(user), **kwargs).pk


def submit_training_batch(jobs: list[dict[str, Any]] | dict[str, Any], *, user=None) -> list[int]:
    """Queue many jobs at once, all or none (the guide's batch: a list, or {'defaults': {...}, 'jobs': [...]})."""
    return [job.pk for job in _submit_batch(jobs, user=resolve_user(user))]


def get_job_status(job_id: int) -> str:
    """'queued' | 'running' | 'completed' | 'failed' | 'cancelled'."""
    return services.get_job_status(job_id)


def cancel_training_job(job_id: int) -> str:
    return services.cancel_training_job(job_id).status


def resume_training_job(job_id: int) -> int:
    return services.resume_training_job(job_id).pk
