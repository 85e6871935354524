"""Read-side helpers shared by the API and the pages: filtered job/adapter lists, metric points, adapter zips."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from typing import Any

from django.db.models import QuerySet

from rmnconsole.core.errors import Conflict, NotFound, ServiceError
from rmnconsole.core.filters import filter_given
from rmnconsole.core.paths import UnsafeFile, iter_tree_inside
from training.models import Adapter, TrainingJob, TrainingMetric

JOB_SORTS = {
    "created": "-created_at",
    "name": "adapter_name",
    "eval_loss": "final_metrics__eval_loss",
    "train_loss": "final_metrics__train_loss",
    "perplexity": "final_metrics__perplexity",
    "finished": "-finished_at",
    "tokens_per_second": "-final_metrics__tokens_per_second",
}


def filter_jobs(
    *,
    status: str | None = None,
    adapter_type: str | None = None,
    training_type: str | None = None,
    adapter_name: str | None = None,
    base_model: str | None = None,
    sort: str | None = None,
) -> QuerySet[TrainingJob]:
    jobs = TrainingJob.objects.select_related("base_model", "created_by")
    if status:
        groups = {"active": TrainingJob.ACTIVE, "finished": TrainingJob.FINISHED}
        statuses = groups.get(status) or tuple(s.strip() for s in status.split(","))
        bad = [s for s in statuses if s not in TrainingJob.STATUSES]
        if bad:
            raise ServiceError(f"Unknown status {bad[0]!r}", field="status")
        jobs = jobs.filter(status__in=statuses)
    jobs = filter_given(
        jobs,
        adapter_type=adapter_type,
        training_type=training_type,
        adapter_name__icontains=adapter_name,
        base_model__name=base_model,
    )
    if sort:
        descending = sort.startswith("-")
        key = JOB_SORTS.get(sort.lstrip("-"))
        if key is None:
            raise ServiceError(f"Unknown sort {sort!r} (use {', '.join(JOB_SORTS)})", field="sort")
        if descending:
            key = key[1:] if key.startswith("-") else "-" + key
        jobs = jobs.order_by(key, "-id")
    return jobs


def metric_points(job: TrainingJob, after: int | None = None, limit: int = 5000) -> list[dict[str, Any]]:
    rows = TrainingMetric.objects.filter(job=job)
    if after is not None:
        rows = rows.filter(step__gt=after)
    return list(
        rows.order_by("step", "id").values(
            "step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second"
        )[:limit]
    )


def filter_adapters(
    *, adapter_type: str | None = None, name: str | None = None, base_model: str | None = None
) -> QuerySet[Adapter]:
    return filter_given(
        Adapter.objects.select_related("base_model", "source_job"),
        adapter_type=adapter_type,
        name__icontains=name,
        base_model__name=base_model,
    )


def get_adapter(adapter_id: int | str) -> Adapter:
    try:
        return Adapter.objects.select_related("base_model", "source_job").get(pk=int(adapter_id))
    except (Adapter.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"Adapter {adapter_id} does not exist") from None


def adapter_zip(adapter: Adapter):
    """A temporary file holding the adapter folder as a zip (name/vN/...), rewound for streaming."""
    folder = adapter.abs_path()
    if not folder.is_dir():
        raise NotFound(f"The files of adapter {adapter.label} are missing from {adapter.path}")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to FileResponse, which closes it
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            # Each file is opened without following symlinks, at the moment it is zipped.
            for rel, handle in iter_tree_inside(adapter.path):
                with archive.open(f"{adapter.name}-v{adapter.version}/{rel}", "w") as member:
                    shutil.copyfileobj(handle, member, 1 << 20)
    except UnsafeFile as exc:
        spool.close()
        raise Conflict(f"Adapter {adapter.label} cannot be zipped: {exc}") from None
    spool.seek(0)
    return spool


def model_card(adapter: Adapter) -> str:
    try:
        return (adapter.abs_path() / "README.md").read_text(encoding="utf-8")
    except OSError:
        return ""
