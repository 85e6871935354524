"""Training use cases: submit, cancel, resume, status — the one place the four doors (UI, API, CLI, facade) call."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from datasets_app.library import services as dataset_services
from datasets_app.models import Dataset
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, Forbidden, NotFound, ServiceError
from rmnconsole.core.hashing import file_sha256
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import (
    PathOutsideDataRoot,
    relative_to_root,
    resolve_inside,
)
from rmnconsole.core.users import signed_in
from training import scaleout
from training.engine.config import PARAMS, ConfigError, build_config
from training.engine.data import DatasetRowError, line_byte_cap, prompt_token_lengths, read_rows
from training.models import Adapter, AdapterType, FoundationModel, TrainingJob, TrainingMetric, TrainingType
from training.runtime import CANCEL_KEY, existing_checkpoint, training_redis
from training.sweeper import sweep_training_jobs  # noqa: F401 - train_batch --wait recovers its own jobs

log = logging.getLogger(__name__)

DATASET_PREVIEW_ROWS = 2000  # rows checked at submit time; the worker checks every row


def get_job(job_id: int | str) -> TrainingJob:
    try:
        return TrainingJob.objects.select_related("base_model", "created_by", "resumed_from").get(
            pk=int(job_id)
        )
    except (TrainingJob.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"Training job {job_id} does not exist") from None


def resolve_base_model(base_model: FoundationModel | int | str | None) -> FoundationModel:
    """A registered, available base model by name or id; the first available one when none is given."""
    if isinstance(base_model, FoundationModel):
        model = base_model
    elif base_model in (None, ""):
        model = FoundationModel.objects.filter(is_available=True).first()
        if model is None:
            raise ServiceError(
                "No base model is available on this host: register one or run manage.py build_tiny_models",
                field="base_model",
            )
    else:
        query = Q(name=str(base_model))
        if isinstance(base_model, int) or str(base_model).isdigit():
            query |= Q(pk=int(base_model))
        model = FoundationModel.objects.filter(query).first()
        if model is None:
            known = (
                ", ".join(FoundationModel.objects.values_list("name", flat=True)[:10]) or "none registered"
            )
            raise ServiceError(f"Unknown base model {base_model!r} (known: {known})", field="base_model")
    if not model.is_available:
        raise ServiceError(
            f"Base model {model.name} is not available on this host: {model.availability_note or 'no local weights'}",
            field="base_model",
        )
    return model


def _resolve_dataset(dataset: Any, dataset_path: str | None, user, override: bool):
    """(Dataset row or None, absolute file) for a dataset id/row or a path under the data root; gate applied."""
    row = None
    if dataset not in (None, ""):
        if not hasattr(dataset, "path"):
            row = Dataset.objects.filter(pk=dataset).first() if str(dataset).isdigit() else None
            if row is None:
                row = Dataset.objects.filter(name=str(dataset)).order_by("-version").first()
            if row is None:
                raise ServiceError(f"Unknown dataset {dataset!r}", field="dataset")
        else:
            row = dataset
        dataset_path = row.path
    if not dataset_path:
        raise ServiceError("Choose a dataset from the library or give a dataset path", field="dataset_path")
    try:
        file = resolve_inside(dataset_path)
        exists = file.is_file()
    except PathOutsideDataRoot as exc:
        raise ServiceError(f"Dataset path rejected: {exc}", field="dataset_path") from exc
    except OSError as exc:  # e.g. a name longer than the filesystem allows
        raise ServiceError(f"Dataset path rejected: {exc.strerror}", field="dataset_path") from exc
    if not exists:
        raise ServiceError(
            f"Dataset file {dataset_path} does not exist under the data root", field="dataset_path"
        )
    if file.suffix.lower() not in (".jsonl", ".json"):
        raise ServiceError("Training data must be a JSONL file (.jsonl)", field="dataset_path")
    if row is None:
        row = dataset_services.get_or_register_by_path(relative_to_root(file), user)
    dataset_services.check_quality_gate(row, override=override)
    return row, file


def _check_rows(file: Path, training_type: str, max_seq_length: int | None = None, model=None) -> None:
    dropped: list[int] = []
    try:
        fmt, rows = read_rows(
            file,
            training_type,
            limit=DATASET_PREVIEW_ROWS,
            max_line_bytes=line_byte_cap(max_seq_length),
            dropped=dropped,
        )
    except DatasetRowError as exc:
        raise ServiceError(str(exc), field="dataset_path", details={"rows": exc.bad_rows}) from exc
    if max_seq_length and model is not None and getattr(model, "local_path", ""):
        _check_room_to_learn(rows, fmt, max_seq_length, model)


def _check_room_to_learn(rows: list[dict], fmt: str, max_seq_length: int, model: FoundationModel) -> None:
    """Refuse a max_seq_length at which every example is truncated before the part it teaches."""
    from training.engine.model_files import load_tokenizer

    try:
        tokenizer = load_tokenizer(model.local_path)
    except (OSError, ValueError) as exc:  # the worker reports an unloadable model with its own reason
        log.info("no tokenizer for the max_seq_length check of %s: %s", model.name, exc)
        return
    lengths = prompt_token_lengths(rows, fmt, tokenizer)
    if lengths and min(lengths) >= max_seq_length:
        raise ServiceError(
            f"max_seq_length {max_seq_length} leaves no example to learn from: every prompt fills it (the shortest "
            f"is {min(lengths)} tokens with {model.name}'s tokenizer). Raise max_seq_length above {min(lengths)} "
            "or shorten the prompts.",
            field="max_seq_length",
            details={"shortest_prompt_tokens": min(lengths), "max_seq_length": max_seq_length},
        )


def validate_request(
    *,
    adapter_type: str,
    adapter_name: str,
    training_type: str = "sft",
    base_model: Any = None,
    config: dict | None = None,
) -> tuple[FoundationModel, dict]:
    """Everything that can be checked without the dataset; raises ServiceError with the field at fault."""
    if adapter_type not in AdapterType.values:
        raise ServiceError(
            f"adapter_type must be one of {', '.join(AdapterType.values)}", field="adapter_type"
        )
    try:
        # Stricter than the common name rule: the name is a SlugField and the adapter's folder name.
        validate_slug(adapter_name or "")
    except Exception:
        raise ServiceError(
            "adapter_name must be a slug: letters, digits, '_' or '-' (e.g. amazon_schema_v2)",
            field="adapter_name",
        ) from None
    validate_name(adapter_name, field="adapter_name", what="The adapter name")
    if len(adapter_name) > 100:
        raise ServiceError("adapter_name is longer than 100 characters", field="adapter_name")
    if training_type not in TrainingType.values:
        raise ServiceError(
            f"training_type must be one of {', '.join(TrainingType.values)}", field="training_type"
        )
    try:
        cfg = build_config(training_type, config)
    except ConfigError as exc:
        name, message = next(iter(exc.errors.items()))
        raise ServiceError(f"Invalid {name}: {message}", field=name, details=exc.errors) from exc
    model = resolve_base_model(base_model)
    _check_target_modules(model, cfg.to_dict().get("target_modules") or [])
    return model, cfg.to_dict()


def _check_target_modules(model: FoundationModel, targets: list[str]) -> None:
    """Refuse target modules the base model does not have, read from its weight headers (no weights loaded)."""
    from training.engine.module_names import leaf_names, linear_module_paths, unknown_target_modules

    if not targets or not model.local_path:
        return
    try:
        paths = linear_module_paths(model.local_path)
    except (OSError, ValueError):
        return  # unreadable headers: the worker's load reports the real problem
    unknown = unknown_target_modules(targets, paths)
    if unknown:
        raise ServiceError(
            f"{model.name} has no module named {', '.join(unknown)}; "
            f"its linear layers are {', '.join(leaf_names(paths))} (or use all-linear).",
            field="target_modules",
        )


def _check_init_adapter(
    adapter: Adapter | None, model: FoundationModel, training_type: str, config: dict
) -> None:
    if adapter is None:
        return
    if adapter.base_model_id != model.pk:
        raise ServiceError(
            f"Adapter {adapter.label} belongs to {adapter.base_model.name}, not {model.name}: it cannot be continued.",
            field="init_adapter",
        )
    if (
        training_type == "qlora"
        or config.get("quantization", "none") != "none"
        or int(config.get("num_gpus") or 0) > 1
    ):
        raise ServiceError(
            "Continuing from an adapter works for unquantized single-device training only.",
            field="init_adapter",
        )


# --- verbs ----------------------------------------------------------------------------------------------
def submit_training_job(
    *,
    adapter_type: str,
    adapter_name: str,
    training_type: str = "sft",
    base_model: Any = None,
    dataset: Any = None,
    dataset_path: str | None = None,
    config: dict | None = None,
    user=None,
    quality_override: bool = False,
    allow_waiting: bool = False,
    init_adapter: Adapter | None = None,
) -> TrainingJob:
    """Validate, save a queued TrainingJob and enqueue it on its capability queue when the transaction commits.

    `init_adapter`: continue from that adapter's weights (same base model; not QLoRA or multi-GPU) instead of a
    fresh LoRA — what a continuous-training pipeline does with the adapter in production."""
    model, full_config = validate_request(
        adapter_type=adapter_type,
        adapter_name=adapter_name,
        training_type=training_type,
        base_model=base_model,
        config=config,
    )
    _check_init_adapter(init_adapter, model, training_type, full_config)
    routing = scaleout.route(model, training_type, full_config)
    scaleout.check_capacity(routing, training_redis(), allow_waiting=allow_waiting)
    with transaction.atomic():
        row, file = _resolve_dataset(dataset, dataset_path, user, quality_override)
        _check_rows(file, training_type, full_config.get("max_seq_length"), model)
        job = TrainingJob.objects.create(
            adapter_type=adapter_type,
            adapter_name=adapter_name,
            base_model=model,
            training_type=training_type,
            dataset_path=relative_to_root(file),
            dataset_sha256=getattr(row, "sha256", "") or file_sha256(file),
            config=full_config,
            total_steps=full_config.get("max_steps") or 0,
            created_by=signed_in(user),
            quality_override=quality_override,
            dataset=row,
            queue_name=routing.queue_name,
            memory_estimate=routing.estimate.as_dict() if routing.estimate else {},
            init_adapter=init_adapter,
        )
        job.enqueue_on_commit()
        audit.record(
            user,
            "training.start",
            job,
            f"{adapter_name} ({training_type}) on {model.name}",
            dataset=job.dataset_path,
        )
    return job


def _authorise(job: TrainingJob, user) -> None:
    if user is None:
        return  # the Python facade and the CLI run with the operator's own rights
    if not (
        getattr(user, "is_staff", False)
        or (job.created_by_id and job.created_by_id == getattr(user, "pk", None))
    ):
        raise Forbidden("Only staff or the job's creator can cancel or resume it")


def cancel_training_job(job_id: int | str, user=None) -> TrainingJob:
    """Queued: leaves the queue now. Running: the callback stops it within a step; a hard stop follows after a grace period."""
    job = get_job(job_id)
    _authorise(job, user)
    now = timezone.now()
    if job.status == TrainingJob.Status.QUEUED and job.transition(
        TrainingJob.Status.QUEUED,
        TrainingJob.Status.CANCELLED,
        finished_at=now,
        cancel_requested=True,
        cancel_requested_at=now,
        status_reason="Cancelled before it started",
    ):
        _remove_from_queue(job)
        audit.record(user, "training.cancel", job, f"cancelled queued job {job.adapter_name}")
        return job
    job.refresh_from_db()
    if job.status != TrainingJob.Status.RUNNING:
        raise Conflict(
            f"Training job {job.pk} is already {job.status}; only queued or running jobs can be cancelled"
        )
    # Compare-and-set: of two simultaneous cancels one wins and audits; the other learns it was already asked.
    won = TrainingJob.objects.filter(
        pk=job.pk, status=TrainingJob.Status.RUNNING, cancel_requested=False
    ).update(cancel_requested=True, cancel_requested_at=now)
    if not won:
        raise Conflict(f"Training job {job.pk} is already being cancelled")
    job.cancel_requested, job.cancel_requested_at = True, now
    try:
        training_redis().set(CANCEL_KEY.format(job.pk), "1", ex=7 * 24 * 3600)
    except Exception as exc:  # the DB flag is still read by the worker's heartbeat thread
        log.warning("could not set the cancel key of job %s in Redis: %s", job.pk, exc)
    audit.record(user, "training.cancel", job, f"cancel requested for running job {job.adapter_name}")
    return job


def _remove_from_queue(job: TrainingJob) -> None:
    try:
        from rq.job import Job

        rq_job = Job.fetch(job.rq_job_id, connection=training_redis())
        rq_job.cancel()
    except (
        Exception
    ) as exc:  # gone already, or Redis down: the worker's claim fails anyway (status is cancelled)
        log.info("RQ job %s not cancelled in Redis: %s", job.rq_job_id, exc)


def resume_training_job(job_id: int | str, user=None) -> TrainingJob:
    """A new job that continues a failed or cancelled one from its last checkpoint (same steps, same curve)."""
    old = get_job(job_id)
    _authorise(old, user)
    if old.status not in (TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED):
        raise Conflict(f"Training job {old.pk} is {old.status}; only failed or cancelled jobs can be resumed")
    checkpoint = existing_checkpoint(old)
    if checkpoint is None:
        raise Conflict(f"Training job {old.pk} has no checkpoint to resume from; start it again as a new job")
    model = resolve_base_model(old.base_model)
    file = resolve_inside(old.dataset_path)
    if not file.is_file():
        raise ServiceError(f"Dataset file {old.dataset_path} is gone; cannot resume", field="dataset_path")
    if old.dataset_sha256 and file_sha256(file) != old.dataset_sha256:
        raise Conflict(f"Dataset {old.dataset_path} changed since job {old.pk} ran; start a new job instead")
    step = int(checkpoint.name.rsplit("-", 1)[-1])
    with transaction.atomic():
        # The old row's lock serialises resumes: the second one waits here, then sees the first's new job.
        locked = TrainingJob.objects.select_for_update().filter(pk=old.pk).first()
        if locked is None or locked.status not in (TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED):
            raise Conflict(f"Training job {old.pk} changed while resuming; reload and try again")
        if locked.resumed_by.filter(status__in=TrainingJob.ACTIVE).exists():
            raise Conflict(f"Training job {old.pk} is already being resumed")
        job = TrainingJob.objects.create(
            adapter_type=old.adapter_type,
            adapter_name=old.adapter_name,
            base_model=model,
            training_type=old.training_type,
            dataset_path=old.dataset_path,
            dataset_sha256=old.dataset_sha256,
            config=old.config,
            current_step=step,
            total_steps=old.total_steps,
            epoch=old.epoch,
            progress_pct=round(100.0 * step / old.total_steps, 1) if old.total_steps else 0.0,
            created_by=user if getattr(user, "is_authenticated", False) else old.created_by,
            resumed_from=old,
            quality_override=old.quality_override,
            last_checkpoint=relative_to_root(checkpoint),
            dataset_id=old.dataset_id,
            queue_name=old.queue_name,
            memory_estimate=old.memory_estimate,
            init_adapter_id=old.init_adapter_id,  # the checkpoint holds that adapter's structure
        )
        job.enqueue_on_commit()
        # The loss curve continues: carry the points up to the checkpoint over to the new job.
        TrainingMetric.objects.bulk_create(
            TrainingMetric(
                job=job,
                step=m.step,
                epoch=m.epoch,
                loss=m.loss,
                eval_loss=m.eval_loss,
                learning_rate=m.learning_rate,
                grad_norm=m.grad_norm,
                tokens_per_second=m.tokens_per_second,
                created_at=m.created_at,
            )
            for m in old.metrics.filter(step__lte=step).order_by("step", "id")
        )
        audit.record(
            user, "training.resume", job, f"resume of job {old.pk} from step {step}", resumed_from=old.pk
        )
    return job


def delete_adapter(adapter_id: int | str, user) -> None:
    """Staff only. The row goes now, its folder when the transaction commits; refused while a federation uses it."""
    import shutil

    from django.db.models import ProtectedError

    from training.queries import get_adapter

    if not getattr(user, "is_staff", False):
        raise Forbidden("Only staff can delete adapters.")
    adapter = get_adapter(adapter_id)
    folder, label = adapter.abs_path(), adapter.label
    try:
        with transaction.atomic():
            if not type(adapter).objects.select_for_update().filter(pk=adapter.pk).exists():
                raise Conflict(f"{label} was deleted at the same moment by another request.")
            audit.record(
                user, "adapter.delete", adapter, f"Deleted {label} ({adapter.path})", sha256=adapter.sha256
            )
            adapter.delete()
            transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
    except ProtectedError as exc:
        # Federation members name their federation; anything else that protects an adapter (a deployment
        # serving it) names itself.
        members = [o for o in exc.protected_objects if type(o).__name__ == "FederationMember"]
        others = sorted({str(o) for o in exc.protected_objects if o not in members})
        users = sorted({str(o.federation) for o in members})
        parts = ([f"part of federation(s) {', '.join(users)}"] if users else []) + (
            [f"used by {', '.join(others)}"] if others else []
        )
        raise Conflict(f"{label} is {' and '.join(parts)}: delete or change those first.") from None


def clone_as_form_data(job_id: int | str) -> dict[str, Any]:
    """The fields of a job, for the Start Training form to start a new one like it."""
    job = get_job(job_id)
    data = {
        "adapter_type": job.adapter_type,
        "adapter_name": job.adapter_name,
        "base_model": job.base_model_id,
        "training_type": job.training_type,
        "dataset_path": job.dataset_path,
    }
    for name, value in job.config.items():
        if name in PARAMS:
            data[name] = ", ".join(value) if isinstance(value, list) else value
    return data


def get_job_status(job_id: int | str) -> str:
    """'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'pruned' (a read: the recovery loop ends jobs whose worker
    died)."""
    return get_job(job_id).status
