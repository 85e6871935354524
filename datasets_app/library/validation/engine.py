"""The streaming validator: reads a JSONL file once in large chunks, checks every line, scores the dataset.

Memory stays flat in the file size: per line it keeps a format byte, a length, an offset, an exact hash and 16
MinHash band keys (~150 bytes); parsed JSON lives only as long as its batch. Near-duplicate candidates are
verified in a second, targeted read of only the lines involved.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datasets_app.library.validation import formats as F
from datasets_app.library.validation.checks import Accumulator
from datasets_app.library.validation.finish import finish_checks
from datasets_app.library.validation.lines import (
    BOM,
    DEFAULT_MAX_LINE_BYTES,
    Progress,
    TooLong,
    iter_lines,
)
from datasets_app.library.validation.scoring import band_for, band_label, band_meaning, combine, set_statuses

BATCH_BYTES = 2 * 1024 * 1024
BATCH_LINES = 5000
# A file whose first lines hold no JSON object at all is not JSONL: stop early instead of reading 100 MB of it.
EARLY_ABORT_LINES = 2000


class DatasetFileError(ValueError):
    """The file cannot be a dataset at all (empty, not UTF-8, not JSONL): refused with the line that shows it."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class ValidationReport:
    path: str
    size_bytes: int
    sha256: str
    lines: int
    examples: int
    valid_examples: int
    format: str
    dataset_type: str
    quality_score: float
    band: str
    checks: dict[str, Any]
    caps: list[dict[str, Any]]
    weights: dict[str, float]
    stats: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        for name, check in self.checks.items():
            check["weight_pct"] = self.weights.get(name, 0.0)
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "lines": self.lines,
            "examples": self.examples,
            "valid_examples": self.valid_examples,
            "format": self.format,
            "dataset_type": self.dataset_type,
            "quality_score": self.quality_score,
            "band": self.band,
            "band_label": band_label(self.band),
            "band_meaning": band_meaning(self.band),
            "checks": self.checks,
            "failing_checks": [n for n, c in self.checks.items() if c["status"] != "pass"],
            "caps": self.caps,
            "weights": self.weights,
            "stats": self.stats,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def precheck_file(path: str | Path, sample_lines: int = 200) -> None:
    """Fast refusal of files that cannot be datasets, before a long validation is queued.

    Reads the whole file once for UTF-8 (cheap), parses only the first lines.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DatasetFileError("The file is empty.")
    decoder_line = 0
    objects = bad = 0
    first_bad: tuple[int, str] | None = None
    nonblank = 0
    for line_no, _offset, raw in iter_lines(
        path, hashlib.sha1(usedforsecurity=False), None, 0, DEFAULT_MAX_LINE_BYTES
    ):
        decoder_line = line_no
        if isinstance(raw, TooLong):
            nonblank += 1  # flagged by the full validation; its size says nothing about the format
            continue
        if line_no == 1 and raw.startswith(BOM):
            raw = raw[3:]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetFileError(
                f"Line {line_no} is not valid UTF-8 (byte {exc.start + 1}).", line_no
            ) from exc
        if nonblank < sample_lines and raw.strip():
            nonblank += 1
            reason = _not_an_object(raw)
            if reason:
                bad += 1
                first_bad = first_bad or (line_no, reason)
            else:
                objects += 1
    if nonblank == 0:
        raise DatasetFileError("The file is empty (only blank lines).")
    if bad * 2 > nonblank and first_bad:
        raise DatasetFileError(f"Not a JSONL file: line {first_bad[0]} {first_bad[1]}.", first_bad[0])
    del decoder_line


def _not_an_object(raw: bytes) -> str:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"is not valid JSON ({str(exc).split(':')[0]})"
    if not isinstance(obj, dict):
        return f"is a JSON {type(obj).__name__.replace('dict', 'object').replace('list', 'array')}, not an object"
    return ""


def validate_file(
    path: str | Path,
    *,
    dataset_type: str | None = None,
    tokenizer: Any = None,
    max_seq_len: int | None = None,
    progress: Progress | None = None,
    display_path: str | None = None,
    max_line_bytes: int | None = DEFAULT_MAX_LINE_BYTES,
) -> ValidationReport:
    """Validate one JSONL dataset file and score it 0–100. Raises DatasetFileError for files that are not datasets."""
    started = time.perf_counter()
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise DatasetFileError("The file is empty.")
    if dataset_type not in (None, "", "sft", "dpo"):
        raise ValueError(f"dataset_type must be 'sft' or 'dpo', not {dataset_type!r}")
    acc = Accumulator(tokenizer=tokenizer, max_seq_len=max_seq_len)
    sha = hashlib.sha256()
    batch: list[tuple[int, F.Example]] = []
    batch_bytes = 0
    acc.max_line_bytes = max_line_bytes
    for line_no, offset, raw in iter_lines(path, sha, progress, size, max_line_bytes):
        if isinstance(raw, TooLong):
            acc.offsets.append(offset)
            acc.line_formats.append(F.UNKNOWN)
            acc.too_long_line(line_no, int(raw))
            continue
        if line_no == 1 and raw.startswith(BOM):
            raw = raw[3:]
        acc.offsets.append(offset)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            acc.line_formats.append(F.UNKNOWN)
            if not raw.strip():
                acc.blank_line(line_no)
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                raise DatasetFileError(
                    f"Line {line_no} is not valid UTF-8 (byte {uexc.start + 1}).", line_no
                ) from uexc
            acc.invalid_line(line_no, f"is not valid JSON ({str(exc).split(':')[0]})")
            continue
        if not isinstance(obj, dict):
            acc.line_formats.append(F.UNKNOWN)
            acc.invalid_line(line_no, "is not a JSON object")
            continue
        ex = F.inspect_example(obj, keep_template_messages=tokenizer is not None)
        acc.line_formats.append(ex.fmt)
        acc.example_line(line_no, ex)
        batch.append((line_no, ex))
        batch_bytes += len(raw)
        if len(batch) >= BATCH_LINES or batch_bytes >= BATCH_BYTES:
            acc.add_batch(batch)
            batch, batch_bytes = [], 0
        if acc.objects == 0 and acc.nonblank >= EARLY_ABORT_LINES:
            break
    if batch:
        acc.add_batch(batch)
    if acc.nonblank == 0:
        raise DatasetFileError("The file is empty (only blank lines).")
    if acc.invalid_lines * 2 > acc.nonblank:
        line, reason = acc.first_invalid
        raise DatasetFileError(
            f"Not a JSONL file: line {line} {reason}; {acc.invalid_lines} of {acc.nonblank} lines are not JSON objects.",
            line,
        )
    fmt_code, notes = _decide_format(acc.format_counts, dataset_type)
    checks, facts, stats = finish_checks(acc, fmt_code, path)
    score, caps, weights = combine(checks, facts)
    set_statuses(checks, caps)
    kind = dataset_type or F.TYPE_OF_FORMAT.get(fmt_code, "")
    return ValidationReport(
        path=display_path or str(path),
        size_bytes=size,
        sha256=sha.hexdigest(),
        lines=acc.lines,
        examples=acc.objects,
        valid_examples=facts["valid_examples"],
        format=F.FORMAT_NAMES[fmt_code],
        dataset_type=kind,
        quality_score=score,
        band=band_for(score),
        checks={name: check.to_dict() for name, check in checks.items()},
        caps=caps,
        weights=weights,
        stats=stats,
        notes=notes + acc.notes,
        seconds=time.perf_counter() - started,
    )


def _decide_format(counts: Counter, dataset_type: str | None) -> tuple[int, list[str]]:
    """The dataset's format: the most common line format allowed by the declared type."""
    allowed = {"sft": F.SFT_FORMATS, "dpo": F.DPO_FORMATS}.get(
        dataset_type or "", F.SFT_FORMATS + F.DPO_FORMATS
    )
    ranked = [(counts[code], -allowed.index(code), code) for code in allowed if counts[code]]
    notes: list[str] = []
    if not ranked:
        seen = [F.FORMAT_NAMES[c] for c in counts if c != F.UNKNOWN]
        if dataset_type and seen:
            notes.append(
                f"Declared as {dataset_type.upper()} but the lines are in {', '.join(sorted(seen))} format."
            )
        return F.UNKNOWN, notes
    code = max(ranked)[2]
    mixed = sum(n for c, n in counts.items() if c not in (code, F.UNKNOWN))
    if mixed:
        notes.append(f"{mixed} line(s) use another format than {F.FORMAT_NAMES[code]}.")
    return code, notes
