"""What training offers the earlier datasets app through rmnconsole.core.providers (registered in apps.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import Q

from rmnconsole.core.paths import data_root
from training.models import FoundationModel, TrainingJob


def available_tokenizers() -> list[str]:
    return list(
        FoundationModel.objects.filter(is_available=True).order_by("name").values_list("name", flat=True)
    )


def tokenizer_folder(name: str) -> Path | None:
    row = FoundationModel.objects.filter(name=name).first()
    if row is None:
        return None
    location = Path(row.local_path or row.source)
    return location if location.is_absolute() else data_root() / location


def load_tokenizer(folder: Path) -> Any:
    from training.engine.model_files import load_tokenizer as load

    return load(folder)


def active_jobs_reading(dataset: Any) -> list[int]:
    """Queued or running training jobs that read this dataset (by row, or by path for jobs given a path)."""
    query = Q(dataset_path=dataset.path) | Q(dataset=dataset)
    return list(TrainingJob.objects.filter(query, status__in=TrainingJob.ACTIVE).values_list("pk", flat=True))
