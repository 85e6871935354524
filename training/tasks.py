"""RQ entry points for training: claim the job, run the engine, write progress and the result back."""

from __future__ import annotations

import gc
import logging
import time
import traceback
import uuid
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from rmnconsole.core.heartbeat import beat_interval, worker_id
from rmnconsole.core.paths import ADAPTERS, data_dir, data_root, relative_to_root, resolve_inside
from rmnconsole.core.recovery import LOST
from training.adapter_store import ATTEMPTS, store_new_version
from training.engine.checkpoints import latest_checkpoint
from training.engine.config import build_config
from training.engine.distributed import run_distributed
from training.engine.errors import Failure, classify
from training.engine.export import ModelCard, remove_quietly
from training.engine.loading import resolve_model_folder
from training.engine.process import peak_memory_bytes
from training.engine.runner import TrainingResult, TrainingRun, run_training
from training.models import Adapter, TrainingJob
from training.runtime import CANCEL_KEY, DDP_FOLDER, checkpoint_dir, training_redis
from training.scaleout import record_peak
from training.signals import eval_hook, job_ended, training_completed
from training.sweeper import end_lost_job
from training.worker_sync import JobSync, append_log

log = logging.getLogger(__name__)
RUNNING = TrainingJob.Status.RUNNING


def _redis_or_none():
    try:
        return training_redis()
    except Exception:
        return None


def run_training_job(job_id: int) -> str:
    """Claim a queued job (compare-and-set), train it, and record completed / cancelled / failed."""
    close_old_connections()
    job = (
        TrainingJob.objects.select_related("base_model", "resumed_from", "init_adapter")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        log.info("training job %s is gone; nothing to do", job_id)
        return "missing"
    from rq import get_current_job

    current = get_current_job()
    if not job.claim(worker_id(), **({"rq_job_id": current.id} if current else {})):
        log.info("training job %s is %s; not claimed", job_id, job.status)
        return f"skipped ({job.status})"
    append_log(job.pk, f"claimed by {job.worker}")
    sync = JobSync(
        job.pk,
        redis=_redis_or_none(),
        cancel_key=CANCEL_KEY.format(job.pk),
        heartbeat_every=max(1.0, beat_interval()),
    )
    sync.start()
    # The horse exits after this job: objects alive now (imports, Django, RQ) never need collecting again.
    gc.freeze()
    staging = data_dir(ADAPTERS) / ".staging" / f"job-{job.pk}-{uuid.uuid4().hex[:8]}"
    cfg = None
    try:
        cfg = build_config(job.training_type, job.config)
        run = TrainingRun(
            training_type=job.training_type,
            model_folder=resolve_model_folder(job.base_model.source, job.base_model.local_path, data_root()),
            dataset_file=resolve_inside(job.dataset_path),
            output_dir=checkpoint_dir(job.pk),
            adapter_staging_dir=staging,
            config=cfg,
            resume_from_checkpoint=(data_root() / job.last_checkpoint)
            if job.resumed_from_id and job.last_checkpoint
            else None,
            init_adapter=resolve_inside(job.init_adapter.path) if job.init_adapter_id else None,
        )
        result = _train(job, run, sync)
    except BaseException as exc:  # every way out must leave the row in a final state
        try:
            return _end_failed(job, exc, cfg, sync, staging)
        finally:
            job_ended(job)
    try:
        return _end(job, result, sync, staging)
    finally:
        job_ended(job)  # e.g. a sweep's trial: its study is told and the next trial asked


def _end_failed(job: TrainingJob, exc: BaseException, cfg, sync: JobSync, staging: Path) -> str:
    """Every way out of training but a result: the row ends failed with its classified reason."""
    sync.finish()
    _reconnect_database()
    # In-process training peaked in this horse; failed ranks never reported theirs.
    record_peak(job.pk, peak_memory_bytes() if cfg is None or cfg.num_gpus < 2 else None)
    failure = classify(
        exc, batch_size=cfg.batch_size if cfg else None, quantization=cfg.quantization if cfg else None
    )
    _finish_failed(job, failure)
    remove_quietly(staging)
    _clear_cancel_key(job.pk)
    if not isinstance(exc, Exception):
        raise exc
    return "failed"


def _end(job: TrainingJob, result: TrainingResult, sync: JobSync, staging: Path) -> str:
    sync.finish()
    _reconnect_database()
    record_peak(job.pk, result.peak_memory_bytes)
    _clear_cancel_key(job.pk)
    if result.outcome in ("cancelled", "pruned"):
        _finish_stopped(job, result)
        remove_quietly(staging)
        return result.outcome
    return _finish_completed(job, result, staging)


def _train(job: TrainingJob, run: TrainingRun, sync: JobSync) -> TrainingResult:
    """In this work horse, or — for a job with 2+ GPUs — as torchrun ranks this horse watches."""
    kwargs = {
        "report_interval": settings.RMN_TRAINING_REPORT_SECONDS,
        "on_device": lambda device: _record_device(job.pk, device),
    }
    if run.config.num_gpus < 2:
        return run_training(run, sync.report, sync.should_stop, on_eval=eval_hook(job), **kwargs)
    folder = checkpoint_dir(job.pk) / DDP_FOLDER
    result = run_distributed(
        run,
        sync.report,
        sync.should_stop,
        nproc=run.config.num_gpus,
        folder=folder,
        on_line=lambda line: append_log(job.pk, line),
        **kwargs,
    )
    remove_quietly(folder)  # kept only when the run failed: its launcher.log explains why
    return result


def _reconnect_database(attempts: int = 8, first_wait: float = 0.5) -> None:
    """Before the final writes: training may have outlived the connection (a database restart, a dropped
    backend). Close it and wait, with backoff, until the database answers again — the final state must land."""
    for attempt in range(attempts):
        close_old_connections()
        connection.close()
        try:
            connection.ensure_connection()
            return
        except Exception as exc:
            log.warning("database unavailable before the final write (%s); retrying", exc)
            time.sleep(first_wait * 2**attempt)


def _record_device(job_id: int, device) -> None:
    TrainingJob.objects.filter(pk=job_id).update(device=device.label)
    append_log(job_id, f"device: {device.label}")


def _clear_cancel_key(job_id: int) -> None:
    try:
        training_redis().delete(CANCEL_KEY.format(job_id))
    except Exception:
        log.debug("cancel key of job %s not cleared", job_id)


def _announce_completed(job: TrainingJob, adapter: Adapter) -> None:
    """Later apps (evaluation) react to a new adapter; a failing receiver never fails the finished job."""
    for receiver, result in training_completed.send_robust(sender=TrainingJob, job=job, adapter=adapter):
        if isinstance(result, Exception):
            log.error("training_completed receiver %s failed: %s", receiver, result)


def _checkpoint_rel(job: TrainingJob, result: TrainingResult | None = None) -> str:
    found = (result.last_checkpoint if result else None) or latest_checkpoint(checkpoint_dir(job.pk))
    return relative_to_root(found) if found else job.last_checkpoint


def _finish_failed(job: TrainingJob, failure: Failure) -> None:
    checkpoint = _checkpoint_rel(job)
    append_log(job.pk, f"FAILED ({failure.kind}): {failure.reason}", failure.traceback)
    job.transition(
        RUNNING,
        TrainingJob.Status.FAILED,
        finished_at=timezone.now(),
        status_reason=failure.reason,
        last_checkpoint=checkpoint,
        eta_seconds=None,
    )


def _finish_stopped(job: TrainingJob, result: TrainingResult) -> None:
    """A cancelled or pruned run: its last checkpoint and metrics are kept, so it can be resumed or inspected."""
    checkpoint = _checkpoint_rel(job, result)
    append_log(
        job.pk,
        f"{result.outcome} at step {result.step}/{result.total_steps}; checkpoint {checkpoint or 'none'}",
    )
    if result.outcome == "pruned":
        status, reason = TrainingJob.PRUNED, result.pruned_reason
    else:
        status = TrainingJob.Status.CANCELLED
        reason = f"Cancelled at step {result.step} of {result.total_steps}" + (
            "; resume continues from here" if checkpoint else ""
        )
    job.transition(
        RUNNING,
        status,
        finished_at=timezone.now(),
        status_reason=reason,
        last_checkpoint=checkpoint,
        current_step=result.step,
        eta_seconds=None,
        final_metrics=result.final_metrics,
    )


def _finish_completed(job: TrainingJob, result: TrainingResult, staging: Path) -> str:
    """Adapter row + job completed in one transaction; the folder is moved into the store as its last step."""
    job.refresh_from_db()

    def card_for(version: int) -> ModelCard:
        return ModelCard(
            name=job.adapter_name,
            version=version,
            adapter_type=job.adapter_type,
            training_type=job.training_type,
            base_model=job.base_model.name,
            base_model_source=job.base_model.source,
            dataset_path=job.dataset_path,
            dataset_sha256=job.dataset_sha256,
            hyperparameters=job.config,
            final_metrics=result.final_metrics,
            device=result.device,
            job_id=job.pk,
        )

    row = {
        "adapter_type": job.adapter_type,
        "base_model": job.base_model,
        "metrics": result.final_metrics,
        "source_job": job,
        "training_dataset_path": job.dataset_path,
    }

    def finish(adapter: Adapter) -> None:
        if not job.transition(
            RUNNING,
            TrainingJob.Status.COMPLETED,
            finished_at=timezone.now(),
            status_reason=f"Adapter {adapter.label} registered",
            final_metrics=result.final_metrics,
            current_step=result.step,
            total_steps=result.total_steps,
            progress_pct=100.0,
            eta_seconds=None,
            last_checkpoint=_checkpoint_rel(job, result),
        ):
            raise _NoLongerRunning
        transaction.on_commit(partial(_announce_completed, job, adapter))

    try:
        stored = store_new_version(job.adapter_name, staging, card_for, row, finish)
    except _NoLongerRunning:
        remove_quietly(staging)
        append_log(job.pk, "training finished but the job had already been ended; adapter discarded")
        return "discarded"
    except OSError as exc:  # disk full, read-only or unreachable store: the transaction rolled back
        remove_quietly(staging)
        _finish_failed(job, Failure("storage", f"Could not store the adapter: {exc}", traceback.format_exc()))
        return "failed"
    if stored is None:
        _finish_failed(
            job,
            Failure(
                "error", f"Could not register the adapter: no free version number after {ATTEMPTS} tries", ""
            ),
        )
        remove_quietly(staging)
        return "failed"
    adapter, info = stored
    append_log(job.pk, f"adapter {adapter.label} saved to {adapter.path} ({info.size_bytes} bytes)")
    return "completed"


class _NoLongerRunning(Exception):
    pass


# --- RQ callbacks (run in the worker's parent process) --------------------------------------------------
def _job_id_of(rq_job) -> int | None:
    try:
        return int(rq_job.args[0])
    except (IndexError, TypeError, ValueError):
        return None


def on_rq_job_stopped(rq_job, connection_, *args) -> None:
    """The work horse was killed by a hard stop: record it (cancelled when a cancel was asked for)."""
    try:
        _record_stopped(rq_job)
    finally:
        connection.close()  # the worker forks next: never hand an open DB connection to a work horse


def _record_stopped(rq_job) -> None:
    close_old_connections()  # the parent worker's connection may have been idle (or dropped) for hours
    job_id = _job_id_of(rq_job)
    job = TrainingJob.objects.filter(pk=job_id).first() if job_id else None
    if job is None or job.status != RUNNING:
        return
    status = TrainingJob.Status.CANCELLED if job.cancel_requested else TrainingJob.Status.FAILED
    job.transition(
        RUNNING,
        status,
        finished_at=timezone.now(),
        status_reason="Stopped by a hard stop of its worker"
        + (" after a cancel request" if job.cancel_requested else ""),
        last_checkpoint=_checkpoint_rel(job),
    )
    job_ended(job, in_worker_parent=True)


def on_rq_job_failed(rq_job, connection_, exc_type=None, exc_value=None, tb=None) -> None:
    """RQ saw the task fail outside our own handling (e.g. its timeout): never leave the row running."""
    try:
        _record_failed(rq_job, exc_type, exc_value)
    finally:
        connection.close()


def _record_failed(rq_job, exc_type, exc_value) -> None:
    from rq.exceptions import AbandonedJobError

    close_old_connections()  # the parent worker's connection may have been idle (or dropped) for hours
    job_id = _job_id_of(rq_job)
    job = TrainingJob.objects.filter(pk=job_id).first() if job_id else None
    if job is None or job.status != RUNNING:
        return
    if isinstance(exc_type, type) and issubclass(exc_type, AbandonedJobError):
        # RQ's registry cleanup found the job "started" with no worker left to finish it.
        end_lost_job(job, f"{LOST}: RQ found the job abandoned (its worker stopped beating)")
        job_ended(job, in_worker_parent=True)
        return
    reason = f"The worker reported a failure: {getattr(exc_type, '__name__', exc_type)}: {exc_value}"
    job.transition(
        RUNNING,
        TrainingJob.Status.FAILED,
        finished_at=timezone.now(),
        status_reason=reason[:1000],
        last_checkpoint=_checkpoint_rel(job),
    )
    job_ended(job, in_worker_parent=True)
