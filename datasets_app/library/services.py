"""Dataset library use cases — register, upload, validate, quality gate, delete — shared by the UI, API, CLI and facade."""

from __future__ import annotations

import logging
import os
import re
import stat
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from datasets_app.library import runs
from datasets_app.library.files import open_dataset_file  # noqa: F401 - the services' door to a dataset's bytes
from datasets_app.library.upload import UploadTooLarge, max_upload_bytes, too_large_message
from datasets_app.library.validation import DatasetFileError, band_label, precheck_file
from datasets_app.models import Dataset
from rmnconsole.core import audit, providers
from rmnconsole.core.errors import Conflict, Forbidden, NotFound, ServiceError
from rmnconsole.core.hashing import file_sha256
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import (
    DATASETS,
    UPLOADS,
    PathOutsideDataRoot,
    data_dir,
    data_root,
    relative_to_root,
    resolve_inside,
)
from rmnconsole.core.users import signed_in

log = logging.getLogger(__name__)

SUFFIXES = (".jsonl",)


def inline_limit_bytes() -> int:
    """Files up to this size are validated inside the request; larger ones by an RQ job (RMN_DATASET_INLINE_MB, 5)."""
    return int(float(settings.RMN_DATASET_INLINE_MB) * 1024 * 1024)


def quality_gate_threshold() -> float:
    return float(settings.RMN_QUALITY_GATE)


# --- lookups -------------------------------------------------------------------------------------------------


def get_dataset(dataset_id: int) -> Dataset:
    dataset = Dataset.objects.filter(pk=dataset_id).select_related("created_by").first()
    if dataset is None:
        raise NotFound(f"Dataset {dataset_id} does not exist.")
    return dataset


def resolve_dataset_path(path: str | Path) -> Path:
    """A user-typed path, confined to the data root's datasets/ folder ("x.jsonl" means datasets/x.jsonl)."""
    raw = str(path).strip()
    candidate = Path(raw)
    if raw and not candidate.is_absolute() and candidate.parts and candidate.parts[0] != DATASETS:
        candidate = Path(DATASETS) / candidate
    try:
        file = resolve_inside(candidate if raw else raw, data_dir(DATASETS))
        exists, is_file = file.exists(), file.is_file()
    except PathOutsideDataRoot as exc:
        raise ServiceError(f"Path refused: {exc}", field="path") from exc
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ServiceError(f"Path refused: {exc.strerror}", field="path") from exc
    if not exists:
        raise ServiceError(f"{raw} does not exist under {DATASETS}/.", field="path")
    if not is_file:
        raise ServiceError(f"{raw} is not a file.", field="path")
    if file.suffix.lower() not in SUFFIXES:
        raise ServiceError(f"{raw} is not a .jsonl file: datasets are JSON lines.", field="path")
    return file


def _clean_name(name: str | None, fallback: str) -> str:
    # A name derived from a file name is made to fit the name rule; a name the user typed is checked as typed.
    derived = re.sub(r" {2,}", " ", re.sub(r"[^A-Za-z0-9_. -]+", "", fallback)).strip(" _.-")
    value = (name or "").strip() or derived
    if not value:
        raise ServiceError("Give the dataset a name.", field="name")
    if len(value) > 200:
        raise ServiceError("The name is longer than 200 characters.", field="name")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ServiceError("The name contains control characters.", field="name")
    return validate_name(value, what="The dataset name")


def _clean_type(dataset_type: str | None) -> str | None:
    value = (dataset_type or "").strip().lower() or None
    if value not in (None, "sft", "dpo"):
        raise ServiceError(
            f"Dataset type must be 'sft' or 'dpo', not {dataset_type!r}.", field="dataset_type"
        )
    return value


def _next_version(name: str) -> int:
    return (Dataset.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1


# --- verbs ---------------------------------------------------------------------------------------------------


def register_dataset_file(
    path: str | Path,
    *,
    name: str | None = None,
    dataset_type: str | None = None,
    user=None,
    background: bool | None = None,
) -> Dataset:
    """Add a file under datasets/ to the library and validate it: inline when small (or background=False), else by RQ."""
    file = resolve_dataset_path(path)
    return _register(file, file, name=name, dataset_type=dataset_type, user=user, background=background)


def _register(
    source: Path,
    dest: Path,
    *,
    name: str | None,
    dataset_type: str | None,
    user,
    background: bool | None,
) -> Dataset:
    """Validate `source` and insert the row for `dest`; a staged upload (source != dest) is renamed into place only
    after its row exists, inside the same transaction, so a hard stop leaves either both or neither."""
    rel = relative_to_root(dest)
    existing = Dataset.objects.filter(path=rel).first()
    if existing is not None:
        raise Conflict(
            f"{rel} is already in the library as {existing.label} (id {existing.pk}).", field="path"
        )
    name = _clean_name(name, dest.stem)
    declared = _clean_type(dataset_type)
    size = source.stat().st_size
    inline = size <= inline_limit_bytes() if background is None else not background
    report = None
    if inline:
        report = runs.run_engine(source, declared)
        report["path"] = rel  # not the staging name it was read under
    else:
        try:
            precheck_file(source)
        except DatasetFileError as exc:
            raise ServiceError(exc.message, field="file", details={"line": exc.line}) from exc
    renamed = False
    # A hard stop between the rename and the commit would leave a file in datasets/ with no row: the intent names
    # it for the orphan sweep until the row has committed.
    intent = source.with_suffix(".intent") if source != dest else None
    try:
        with transaction.atomic():
            dataset = Dataset(
                name=name, path=rel, version=_next_version(name), size_bytes=size, created_by=signed_in(user)
            )
            dataset.dataset_type = declared or Dataset.Type.SFT
            dataset.report = {"declared_type": declared}
            if report is not None:
                for field, value in runs.report_fields(report, declared).items():
                    setattr(dataset, field, value)
            dataset.save()
            if source != dest:
                if dest.exists():
                    raise Conflict(f"{rel} appeared on disk at the same moment; upload again.", field="file")
                intent.write_text(rel)
                os.rename(source, dest)
                renamed = True
                transaction.on_commit(lambda: intent.unlink(missing_ok=True))
            if report is None:
                runs.enqueue_validation(dataset, user=user)
            audit.record(
                user,
                "dataset.register",
                dataset,
                f"Registered {dataset.label} ({rel})",
                path=rel,
                inline=inline,
            )
    except IntegrityError as exc:
        _undo_rename(renamed, dest, source, intent)
        raise Conflict(
            f"Another version of {name!r} or the same file was registered at the same moment; try again."
        ) from exc
    except BaseException:
        _undo_rename(renamed, dest, source, intent)
        raise
    return dataset


def _undo_rename(renamed: bool, dest: Path, source: Path, intent: Path | None) -> None:
    if renamed:
        os.rename(dest, source)
    if intent is not None:
        intent.unlink(missing_ok=True)


def _sweep_upload_intents(cutoff: float) -> list[Path]:
    """Files renamed into datasets/ by an upload whose row never committed (the process stopped in between)."""
    removed = []
    for intent in data_dir(UPLOADS).glob("*.intent"):
        try:
            if intent.lstat().st_mtime >= cutoff:
                continue
            rel = intent.read_text().strip()
        except FileNotFoundError:
            continue
        target = (data_root() / rel).resolve()
        orphan = target.parent == data_dir(DATASETS) and not Dataset.objects.filter(path=rel).exists()
        if orphan and target.exists():
            target.unlink()
            removed.append(target)
        intent.unlink(missing_ok=True)
        removed.append(intent)
    return removed


def save_upload(uploaded, *, name: str | None = None, dataset_type: str | None = None, user=None) -> Dataset:
    """Stage an uploaded .jsonl inside the data root, validate it there, and register it by one rename into
    datasets/ once its row exists; nothing stays in datasets/ when it is refused or the process stops."""
    if uploaded is None:
        raise ServiceError("Choose a .jsonl file to upload.", field="file")
    filename = Path(uploaded.name or "").name
    if not filename.lower().endswith(SUFFIXES):
        raise ServiceError(
            f"Only .jsonl files can be uploaded ({filename or 'no file name'} is not one).", field="file"
        )
    if uploaded.size > max_upload_bytes():
        raise UploadTooLarge(too_large_message(), field="file")
    if uploaded.size == 0:
        raise ServiceError("The file is empty.", field="file")
    name = _clean_name(name, Path(filename).stem)
    _clean_type(dataset_type)
    folder = data_dir(DATASETS)
    slug = slugify(name) or "dataset"
    dest = folder / f"{slug}.jsonl"
    counter = 1
    while dest.exists() or Dataset.objects.filter(path=relative_to_root(dest)).exists():
        counter += 1
        dest = folder / f"{slug}-{counter}.jsonl"
    staged = data_dir(UPLOADS) / f"{uuid.uuid4().hex}.jsonl.part"
    try:
        with staged.open("wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        return _register(staged, dest, name=name, dataset_type=dataset_type, user=user, background=None)
    finally:
        staged.unlink(missing_ok=True)


def sweep_orphan_uploads(grace_seconds: float | None = None) -> list[str]:
    """Remove what hard-stopped uploads left: staged and partial files in the upload folders (and the old
    `.name.part` files in datasets/) older than the grace period. Returns the names removed (relative to the root).

    Registered datasets are never touched: a file is only in the staging folder until its row exists.
    """
    grace = settings.RMN_UPLOAD_ORPHAN_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = time.time() - grace
    root = data_root()
    folders = {data_dir(UPLOADS)}
    if settings.FILE_UPLOAD_TEMP_DIR:
        temp = Path(settings.FILE_UPLOAD_TEMP_DIR).resolve()
        if temp.is_relative_to(root):
            folders.add(temp)  # Django's partial uploads; outside the data root it is not ours to clean
    removed_paths = _sweep_upload_intents(cutoff) if data_dir(UPLOADS).is_dir() else []
    candidates = [p for folder in folders if folder.is_dir() for p in folder.iterdir()]
    candidates += list(data_dir(DATASETS).glob(".*.part"))
    removed = [str(p.relative_to(root)) for p in removed_paths]
    for path in candidates:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode) and info.st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(root)))
    if removed:
        log.info("removed %d orphan upload file(s): %s", len(removed), ", ".join(removed[:10]))
    return removed


def get_or_register_by_path(path: str, user=None) -> Dataset:
    """The library row of a training file, registered (and validated inline) on first use; re-validated if it changed."""
    file = resolve_dataset_path(path)
    dataset = Dataset.objects.filter(path=relative_to_root(file)).first()
    if dataset is None:
        return register_dataset_file(file, user=user, background=False)
    if dataset.status == Dataset.Status.READY and (
        file.stat().st_size != dataset.size_bytes or file_sha256(file) != dataset.sha256
    ):
        return validate_dataset(dataset, user=user, background=False)
    return dataset


def register_or_revalidate(
    path: str | Path,
    *,
    dataset_type: str | None = None,
    base_model: str | None = None,
    max_seq_len: int | None = None,
    user=None,
) -> Dataset:
    """Validate a file under datasets/ now: registered on first use, re-validated (optionally with a tokenizer)
    when the library already holds it. Inline, whatever the size: the caller waits for the report."""
    file = resolve_dataset_path(path)
    dataset = Dataset.objects.filter(path=relative_to_root(file)).first()
    if dataset is None:
        dataset = register_dataset_file(file, dataset_type=dataset_type, user=user, background=False)
        if not base_model:
            return dataset
    return validate_dataset(
        dataset, user=user, background=False, base_model=base_model, max_seq_len=max_seq_len
    )


def validate_dataset(
    dataset: Dataset,
    *,
    user=None,
    background: bool | None = None,
    base_model: str | None = None,
    max_seq_len: int | None = None,
) -> Dataset:
    """Re-run validation (optionally with a base model's tokenizer and a max sequence length)."""
    _refuse_if_validating(dataset)
    file = dataset.abs_path()
    if not file.is_file():
        raise ServiceError(f"The file {dataset.path} is gone from the data root.", field="path")
    size = file.stat().st_size
    inline = size <= inline_limit_bytes() if background is None else not background
    if not inline:
        if base_model:
            runs.load_tokenizer(base_model)  # refuse an unknown base model now, not in the worker
        with transaction.atomic():
            locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
            if locked is None:
                raise NotFound(f"Dataset {dataset.pk} does not exist.")
            active = _refuse_if_validating(locked)
            if active is not None:  # its queue entry is gone: this validation replaces it
                active.finish(active.Status.CANCELLED, "Replaced by a newer validation")
            Dataset.objects.filter(pk=dataset.pk).update(status=Dataset.Status.PENDING, status_reason="")
            runs.enqueue_validation(dataset, base_model, max_seq_len, user=user)
            audit.record(
                user, "dataset.validate", dataset, f"Queued validation of {dataset.label}", background=True
            )
        dataset.refresh_from_db()
        return dataset
    declared = runs.declared_type(dataset)
    try:
        report = runs.run_engine(file, declared, base_model=base_model, max_seq_len=max_seq_len)
    except ServiceError as exc:
        if exc.field == "file":
            Dataset.objects.filter(pk=dataset.pk).update(
                status=Dataset.Status.FAILED, status_reason=exc.message
            )
        raise
    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(**runs.report_fields(report, declared))
        audit.record(
            user,
            "dataset.validate",
            dataset,
            f"Validated {dataset.label}: {report['quality_score']}",
            score=report["quality_score"],
        )
    dataset.refresh_from_db()
    return dataset


def _refuse_if_validating(dataset: Dataset):
    """409 while a validation of the dataset is really in progress; else the stale active row (or None)."""
    active = runs.active_validation(dataset)
    if active is not None and runs.job_in_progress(active.rq_job_id):
        raise Conflict(f"{dataset.label} is already being validated.")
    return active


run_validation = runs.run_dataset_validation  # a waiting validation, run in this process (facade, tests)


def check_quality_gate(dataset: Dataset, *, override: bool) -> None:
    """Refuse training on a dataset below RMN_QUALITY_GATE (85), naming the score and failing checks, unless overridden."""
    threshold = quality_gate_threshold()
    if dataset.status == Dataset.Status.FAILED:
        raise ServiceError(
            f"Dataset {dataset.label} failed validation: {dataset.status_reason}", field="dataset"
        )
    if dataset.status != Dataset.Status.READY or dataset.quality_score is None:
        if override:
            return
        raise ServiceError(
            f"Dataset {dataset.label} has no quality score yet (status: {dataset.get_status_display()}); "
            "wait for its validation or override the quality gate.",
            field="dataset",
        )
    if dataset.quality_score >= threshold or override:
        return
    failing = [f"{c['label']} ({c['count']} of {c['total']})" for c in dataset.failing_checks]
    raise ServiceError(
        f"Dataset {dataset.label} scores {dataset.quality_score:g} ({band_label(dataset.band)}), below the quality gate "
        f"of {threshold:g}. Failing checks: {'; '.join(failing) or 'none'}. Fix the data, or override the gate explicitly.",
        field="dataset",
        details={
            "quality_score": dataset.quality_score,
            "band": dataset.band,
            "threshold": threshold,
            "failing_checks": [c["name"] for c in dataset.failing_checks],
        },
    )


def delete_dataset(dataset: Dataset, *, user) -> None:
    """Staff only. The row and file go; training jobs keep their own dataset path and sha256, so history stays."""
    if not getattr(user, "is_staff", False):
        raise Forbidden("Only staff can delete datasets.")
    active = providers.active_dataset_users(dataset)  # training registers who reads a dataset
    if active:
        raise Conflict(
            f"{dataset.label} is used by training job(s) {', '.join(map(str, active))} that are queued or running."
        )
    file = dataset.abs_path()
    exports = list(_export_files(dataset))
    with transaction.atomic():
        # Two deletes of one row: the second waits on the lock, then finds nothing and answers 409.
        if not Dataset.objects.select_for_update().filter(pk=dataset.pk).exists():
            raise Conflict(f"{dataset.label} was deleted at the same moment by another request.")
        audit.record(
            user,
            "dataset.delete",
            dataset,
            f"Deleted {dataset.label} ({dataset.path})",
            path=dataset.path,
            sha256=dataset.sha256,
        )
        dataset.delete()
        transaction.on_commit(lambda: [p.unlink(missing_ok=True) for p in [file, *exports]])


def _export_files(dataset: Dataset):
    from datasets_app.library.export import export_files

    return export_files(dataset)
