"""Running the validation engine for the library: inline in a request or as the RQ job, and writing results back."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datasets_app.library.validation import DatasetFileError, validate_file
from datasets_app.models import Dataset, DatasetValidation
from rmnconsole.core import live, providers
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat, worker_id
from rmnconsole.core.paths import UnsafeFile, open_inside, opened_path, relative_to_root
from rmnconsole.core.queues import DEFAULT
from rmnconsole.core.users import signed_in

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5


def load_tokenizer(base_model: str | None):
    """The tokenizer of a registered base model (training provides it through the core: a later app)."""
    if not base_model:
        return None
    location = providers.tokenizer_folder(base_model)
    if location is None:
        raise ServiceError(f"Unknown base model {base_model!r}.", field="base_model")
    try:
        return providers.load_tokenizer(location)
    except (OSError, ValueError) as exc:
        raise ServiceError(
            f"The tokenizer of {base_model} cannot be loaded: {exc}", field="base_model"
        ) from exc


def run_engine(
    file: Path,
    dataset_type: str | None,
    *,
    base_model: str | None = None,
    max_seq_len: int | None = None,
    progress=None,
) -> dict[str, Any]:
    tokenizer = load_tokenizer(base_model)
    if max_seq_len is not None and max_seq_len < 1:
        raise ServiceError("max_seq_len must be a positive number of tokens.", field="max_seq_len")
    try:
        handle = open_inside(file)
    except FileNotFoundError:
        raise ServiceError("The dataset file is gone from the data root.", field="path") from None
    except UnsafeFile as exc:
        raise ServiceError(str(exc), field="path") from None
    try:
        with handle:
            # The engine reads by path: hand it the file this process holds open, not the name (which can change).
            report = validate_file(
                opened_path(handle),
                dataset_type=dataset_type,
                tokenizer=tokenizer,
                max_seq_len=max_seq_len if tokenizer else None,
                progress=progress,
                display_path=relative_to_root(file),
                max_line_bytes=int(settings.RMN_DATASET_MAX_LINE_MB * 1024 * 1024),
            ).to_dict()
    except DatasetFileError as exc:
        raise ServiceError(exc.message, field="file", details={"line": exc.line}) from exc
    report["validated_with"] = {
        "base_model": base_model or "",
        "max_seq_len": max_seq_len if tokenizer else None,
    }
    report["declared_type"] = dataset_type
    return report


def _jsonb_safe(report: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL's jsonb refuses U+0000; example text quoted in a report (labels, findings) may contain it."""
    raw = orjson.dumps(report)
    return orjson.loads(raw.replace(b"\\u0000", b"\\ufffd")) if b"\\u0000" in raw else report


def report_fields(report: dict[str, Any], declared_type: str | None) -> dict[str, Any]:
    report = _jsonb_safe(report)
    return {
        "format": report["format"],
        "dataset_type": declared_type or report["dataset_type"] or Dataset.Type.SFT,
        "num_examples": report["examples"],
        "sha256": report["sha256"],
        "size_bytes": report["size_bytes"],
        "quality_score": report["quality_score"],
        "band": report["band"],
        "report": report,
        "status": Dataset.Status.READY,
        "status_reason": "",
        "validated_at": timezone.now(),
    }


def enqueue_validation(
    dataset: Dataset, base_model: str | None = None, max_seq_len: int | None = None, *, user=None
) -> DatasetValidation:
    """A validation row for the dataset, put on the `default` queue when the surrounding transaction commits."""
    validation = DatasetValidation.objects.create(
        dataset=dataset,
        options={"base_model": base_model, "max_seq_len": max_seq_len},
        created_by=signed_in(user),
    )
    validation.enqueue_on_commit()
    return validation


def active_validation(dataset: Dataset) -> DatasetValidation | None:
    return (
        dataset.validations.filter(status__in=DatasetValidation.ACTIVE).order_by("-created_at", "-pk").first()
    )


def run_dataset_validation(dataset_id: int) -> str:
    """Run the dataset's waiting validation in this process (the facade and tests: this process is the worker)."""
    validation = (
        DatasetValidation.objects.filter(dataset_id=dataset_id, status=DatasetValidation.Status.QUEUED)
        .order_by("-created_at", "-pk")
        .first()
    )
    if validation is None:
        return "skipped: no validation is waiting for this dataset"
    return run_validation(validation.pk)


def run_validation(validation_id: int) -> str:
    """The background validation (RQ task body): claim the row, stream the file, write the report back."""
    validation = DatasetValidation.objects.filter(pk=validation_id).first()
    if validation is None or not validation.claim(worker_id()):
        return "skipped: the validation is gone or not queued"
    dataset_id = validation.dataset_id
    Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.PENDING).update(
        status=Dataset.Status.VALIDATING
    )
    _tell_dataset(dataset_id, "status", status=validation.status)
    dataset = Dataset.objects.get(pk=dataset_id)
    declared = declared_type(dataset)
    options = validation.options or {}
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS and total:
            last[0] = now
            # Reading is ~90 % of the work; near-duplicate verification and scoring follow it.
            pct = round(90.0 * done / total, 1)
            if DatasetValidation.objects.filter(
                pk=validation_id, status=DatasetValidation.Status.RUNNING
            ).update(progress_pct=pct):
                _tell_dataset(dataset_id, "progress", progress_pct=pct)

    try:
        with Heartbeat(DatasetValidation, validation_id):
            report = run_engine(
                dataset.abs_path(),
                declared,
                base_model=options.get("base_model"),
                max_seq_len=options.get("max_seq_len"),
                progress=progress,
            )
    except ServiceError as exc:
        fail(validation, exc.message)
        return f"failed: {exc.message}"
    except Exception as exc:
        log.exception("validation %s of dataset %s crashed", validation_id, dataset_id)
        fail(validation, f"Validation crashed: {type(exc).__name__}: {exc}")
        raise
    fields = report_fields(report, declared)
    with transaction.atomic():
        if validation.finish(
            DatasetValidation.Status.COMPLETED,
            progress_pct=100.0,
            quality_score=fields["quality_score"],
            summary={
                "quality_score": fields["quality_score"],
                "band": fields["band"],
                "examples": fields["num_examples"],
            },
        ):
            Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.VALIDATING).update(**fields)
            _tell_dataset(dataset_id, "status", status=DatasetValidation.Status.COMPLETED, flush=True)
    return f"ready: {report['quality_score']}"


def _tell_dataset(dataset_id: int, kind: str, *, flush: bool = False, **data) -> None:
    """The dataset pages watch the dataset (they know no validation id): its validation's news goes there too."""
    live.publish_on_commit(live.group_for(Dataset, dataset_id), {"kind": kind, **data}, flush=flush)


def declared_type(dataset: Dataset) -> str | None:
    """The type the user declared when registering (None: detected from the lines each time)."""
    return (dataset.report or {}).get("declared_type")


def job_in_progress(job_id: str) -> bool:
    """Whether a validation job is still queued or running in RQ (a lost job must not block re-validation forever)."""
    from rmnconsole.core.queues import get_queue
    from rmnconsole.core.recovery import rq_status

    return rq_status(get_queue(DEFAULT).connection, job_id) in ("queued", "started", "deferred", "scheduled")


def fail(validation: DatasetValidation, reason: str) -> bool:
    """End the validation failed (once) and show the reason on its dataset (a ready dataset keeps its score)."""
    if not validation.finish(DatasetValidation.Status.FAILED, reason, progress_pct=100.0):
        return False
    Dataset.objects.filter(pk=validation.dataset_id).exclude(status=Dataset.Status.READY).update(
        status=Dataset.Status.FAILED, status_reason=reason
    )
    _tell_dataset(validation.dataset_id, "status", status=DatasetValidation.Status.FAILED, flush=True)
    return True
