"""Running the validation engine for the library: inline in a request or as the RQ job, and writing results back."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datasets_app.library.validation import DatasetFileError, validate_file
from datasets_app.models import Dataset
from rmnconsole.core import providers
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat, worker_id
from rmnconsole.core.paths import UnsafeFile, open_inside, opened_path, relative_to_root
from rmnconsole.core.queues import DEFAULT, enqueue

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
        "progress_pct": 100.0,
        "validated_at": timezone.now(),
    }


def enqueue_validation(
    dataset: Dataset, base_model: str | None = None, max_seq_len: int | None = None
) -> None:
    job_id = f"dataset-validate-{dataset.pk}-{uuid.uuid4().hex[:8]}"
    options = {"base_model": base_model, "max_seq_len": max_seq_len}
    Dataset.objects.filter(pk=dataset.pk).update(rq_job_id=job_id, validation_options=options)
    dataset.rq_job_id, dataset.validation_options = job_id, options
    transaction.on_commit(lambda: enqueue_validation_job(dataset))


def enqueue_validation_job(dataset: Dataset) -> None:
    """Put the row's validation on the queue under its job id, with the options it was asked for."""
    options = dataset.validation_options or {}
    enqueue(
        DEFAULT,
        "datasets_app.library.tasks.validate_dataset_task",
        dataset.pk,
        options.get("base_model"),
        options.get("max_seq_len"),
        job_id=dataset.rq_job_id,
    )


def run_validation(dataset_id: int, base_model: str | None = None, max_seq_len: int | None = None) -> str:
    """The background validation (RQ task body): claim the row, stream the file, write the report back."""
    claimed = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.PENDING).update(
        status=Dataset.Status.VALIDATING, progress_pct=0.0, heartbeat_at=timezone.now(), worker=worker_id()
    )
    if not claimed:
        return "skipped: the dataset is gone or not pending"
    dataset = Dataset.objects.get(pk=dataset_id)
    declared = declared_type(dataset)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS and total:
            last[0] = now
            # Reading is ~90 % of the work; near-duplicate verification and scoring follow it.
            Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.VALIDATING).update(
                progress_pct=round(90.0 * done / total, 1)
            )

    try:
        with Heartbeat(Dataset, dataset_id, status=Dataset.Status.VALIDATING):
            report = run_engine(
                dataset.abs_path(),
                declared,
                base_model=base_model,
                max_seq_len=max_seq_len,
                progress=progress,
            )
    except ServiceError as exc:
        fail(dataset_id, exc.message)
        return f"failed: {exc.message}"
    except Exception as exc:
        log.exception("validation of dataset %s crashed", dataset_id)
        fail(dataset_id, f"Validation crashed: {type(exc).__name__}: {exc}")
        raise
    fields = report_fields(report, declared)
    Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.VALIDATING).update(**fields)
    return f"ready: {report['quality_score']}"


def declared_type(dataset: Dataset) -> str | None:
    """The type the user declared when registering (None: detected from the lines each time)."""
    return (dataset.report or {}).get("declared_type")


def job_in_progress(job_id: str) -> bool:
    """Whether a validation job is still queued or running in RQ (a lost job must not block re-validation forever)."""
    if not job_id:
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from rmnconsole.core.queues import get_queue

    try:
        job = Job.fetch(job_id, connection=get_queue(DEFAULT).connection)
    except NoSuchJobError:
        return False
    status = job.get_status()
    return status is not None and status.value in ("queued", "started", "deferred", "scheduled")


def fail(dataset_id: int, reason: str) -> None:
    Dataset.objects.filter(pk=dataset_id).exclude(status=Dataset.Status.READY).update(
        status=Dataset.Status.FAILED, status_reason=reason, progress_pct=100.0
    )
