"""RQ entry points of the dataset library: they take an id and call the service that does the work."""

from __future__ import annotations

from datasets_app.library import runs as dataset_runs


def validate_dataset_task(validation_id: int, *legacy) -> str:
    """Validate a large dataset in the background (queue `default`); its validation row shows progress meanwhile.

    Queue entries made before validations had rows of their own carry (dataset id, base model, max length)."""
    if len(legacy) == 2:
        return dataset_runs.run_dataset_validation(validation_id)
    return dataset_runs.run_validation(validation_id)
