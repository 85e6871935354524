"""The dataset library's job kind for recovery (rmnconsole.core.recovery), registered by datasets_app.apps:
background validations. A lost one ends failed on its dataset too, with "validate it again"."""

from __future__ import annotations

from datasets_app.library.runs import fail
from datasets_app.models import DatasetValidation
from rmnconsole.core.recovery import JobKind


def fail_validation(validation: DatasetValidation, reason: str) -> bool:
    return fail(validation, f"{reason}; validate it again")


def upkeep() -> dict[str, int]:
    """Housekeeping beside the job rows: the staged files that hard-stopped uploads left behind."""
    from datasets_app.library.services import sweep_orphan_uploads

    return {"orphan_uploads_removed": len(sweep_orphan_uploads())}


def job_kinds() -> list[JobKind]:
    return [
        JobKind.for_model(DatasetValidation, label="dataset validation", fail=fail_validation, upkeep=upkeep)
    ]
