"""RQ entry points of the dataset library: they take an id and call the service that does the work."""

from __future__ import annotations

from datasets_app.library import runs as dataset_runs


def validate_dataset_task(
    dataset_id: int, base_model: str | None = None, max_seq_len: int | None = None
) -> str:
    """Validate a large dataset in the background (queue `default`); the row shows progress while it runs."""
    return dataset_runs.run_validation(dataset_id, base_model, max_seq_len)
