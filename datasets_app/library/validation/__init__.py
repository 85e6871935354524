"""The dataset validation engine: pure Python (no ORM), streaming, one 0–100 quality score per JSONL file."""

from datasets_app.library.validation.engine import (
    DatasetFileError,
    ValidationReport,
    precheck_file,
    validate_file,
)
from datasets_app.library.validation.scoring import BANDS, CHECKS, band_for, band_label

__all__ = [
    "BANDS",
    "CHECKS",
    "DatasetFileError",
    "ValidationReport",
    "band_for",
    "band_label",
    "precheck_file",
    "validate_file",
]
