"""The dataset part of the Python facade (rmnconsole/console.py): the user guide's validate_dataset and friends."""

from __future__ import annotations

from typing import Any

from datasets_app.library import services
from datasets_app.library.export import export_dataset as _export
from datasets_app.models import Dataset


def validate_dataset(
    path: str,
    *,
    dataset_type: str | None = None,
    base_model: str | None = None,
    max_seq_len: int | None = None,
    user=None,
) -> dict[str, Any]:
    """Validate a JSONL under datasets/ (adding it to the library on first use) and return its report.

        results = validate_dataset('datasets/amazon.jsonl')
        if results['quality_score'] >= 90: ...

    The dict has quality_score (0–100), band, examples, checks (per check: score, count, total, examples, status),
    caps, weights, stats and the library's dataset_id. Runs inline, whatever the file size.
    """
    dataset = services.register_or_revalidate(
        path, dataset_type=dataset_type, base_model=base_model, max_seq_len=max_seq_len, user=user
    )
    return {**dataset.report, "dataset_id": dataset.pk, "name": dataset.name, "version": dataset.version}


def register_dataset(
    path: str, *, name: str | None = None, dataset_type: str | None = None, user=None
) -> int:
    """Add a file under datasets/ to the library; returns the dataset id."""
    return services.register_dataset_file(path, name=name, dataset_type=dataset_type, user=user).pk


def list_datasets() -> list[dict[str, Any]]:
    return [
        {
            "id": d.pk,
            "name": d.name,
            "version": d.version,
            "type": d.dataset_type,
            "format": d.format,
            "path": d.path,
            "examples": d.num_examples,
            "quality_score": d.quality_score,
            "band": d.band,
            "status": d.status,
        }
        for d in Dataset.objects.all()
    ]


def export_dataset(dataset_id: int, format: str = "jsonl") -> str:
    """Export to jsonl | csv | parquet | hf (save_to_disk zip); returns the file's path."""
    return str(_export(services.get_dataset(dataset_id), format))
