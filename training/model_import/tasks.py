"""RQ entry point for a base-model import: claim the row, run the engine with progress, record the model."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from pathlib import Path

from django.db import close_old_connections, transaction
from django.utils import timezone

from rmnconsole.core.errors import ServiceError
from rmnconsole.core.heartbeat import Heartbeat, worker_id
from rmnconsole.core.paths import PathOutsideDataRoot
from training.engine.model_import import ImportFailed, import_model, register_in_place
from training.model_import.models import ModelImport
from training.model_import.services import engine_source, models_dir, record_imported_model

log = logging.getLogger(__name__)
PROGRESS_EVERY = 0.5  # seconds between progress writes: the engine may report many small steps


class _ProgressWriter:
    def __init__(self, job: ModelImport):
        self.job = job
        self.last = 0.0

    def __call__(self, stage: str, pct: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and stage not in ("done", "publish"):
            return
        self.last = now
        pct, message = round(pct, 1), message[:300]
        if ModelImport.objects.filter(pk=self.job.pk, status=ModelImport.Status.RUNNING).update(
            stage=stage, progress_pct=pct, message=message, heartbeat_at=timezone.now()
        ):
            self.job.publish_live("progress", stage=stage, progress_pct=pct, message=message)


def run_model_import(job_id: int) -> str:
    close_old_connections()
    job = ModelImport.objects.filter(pk=job_id).first()
    if job is None:
        log.info("model import %s is gone; nothing to do", job_id)
        return "missing"
    if not job.claim(worker_id(), stage="start", message="starting"):
        return job.status
    try:
        # Dequantizing is one long call with no progress of its own: the heartbeat thread keeps the row alive.
        with Heartbeat(ModelImport, job.pk):
            if job.in_place:
                result = register_in_place(
                    Path(engine_source(job)), name=job.name, progress=_ProgressWriter(job)
                )
            else:
                result = import_model(
                    engine_source(job),
                    name=job.name,
                    models_dir=models_dir(),
                    dtype=job.dtype,
                    progress=_ProgressWriter(job),
                )
    except ImportFailed as exc:
        job.finish(ModelImport.Status.FAILED, reason=str(exc), message="failed")
        return job.status
    except PathOutsideDataRoot:
        job.finish(ModelImport.Status.FAILED, reason="the source is outside the data root", message="failed")
        return job.status
    except Exception as exc:
        log.exception("model import %s failed", job_id)
        job.finish(
            ModelImport.Status.FAILED,
            reason=f"unexpected error: {type(exc).__name__} (the worker log has the traceback)",
            message="failed",
            result={"traceback": traceback.format_exc()[-4000:]},
        )
        return job.status
    try:
        with transaction.atomic():
            record_imported_model(job, result)
            job.finish(
                ModelImport.Status.COMPLETED, message="imported", progress_pct=100.0, result=_summary(result)
            )
    except ServiceError as exc:
        if not job.in_place:  # a folder registered in place is the user's own: never removed
            shutil.rmtree(result.folder, ignore_errors=True)
        job.finish(ModelImport.Status.FAILED, reason=exc.message, message="failed")
    return job.status


def _summary(result) -> dict:
    data = result.as_dict()
    data.pop("folder", None)
    data["licence"] = data["licence"][:500]
    return data
