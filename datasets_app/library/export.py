"""Export a dataset to JSONL, CSV, Parquet, or a Hugging Face `datasets` save_to_disk folder zipped.

Every export holds the file's JSON-object lines (broken lines are left out and counted). Parquet and the
save_to_disk folder go through `datasets` (Arrow), exactly as trl will load the data; CSV keeps strings as they
are and writes every other value (message lists, numbers, booleans) as JSON text.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
from django.utils.text import slugify

from datasets_app.models import Dataset
from rmnconsole.core import audit
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import EXPORTS, UnsafeFile, data_dir, open_inside

FORMATS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "hf": ".zip"}
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "hf": "application/zip",
}


def export_folder() -> Path:
    folder = data_dir(EXPORTS) / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def export_stem(dataset: Dataset) -> str:
    return f"{slugify(dataset.name) or 'dataset'}-v{dataset.version}"


def export_files(dataset: Dataset) -> Iterator[Path]:
    """The export files written for this dataset (removed with it)."""
    folder = export_folder()
    for suffix in FORMATS.values():
        candidate = folder / f"{export_stem(dataset)}{suffix}"
        if candidate.exists():
            yield candidate


def _objects(source: Path | BinaryIO) -> Iterator[dict]:
    with source if hasattr(source, "read") else source.open("rb") as fh:
        for raw in fh:
            raw = raw.strip()
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw:
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def _write_jsonl(source: Path | BinaryIO, target: Path) -> tuple[int, list[str]]:
    """Compact JSONL of the object lines; returns (rows, column names in order of first appearance)."""
    rows = 0
    columns: dict[str, None] = {}
    with target.open("wb") as out:
        for obj in _objects(source):
            for key in obj:
                columns.setdefault(key, None)
            out.write(orjson.dumps(obj) + b"\n")
            rows += 1
    return rows, list(columns)


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _write_csv(jsonl: Path, columns: list[str], target: Path) -> None:
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for obj in _objects(jsonl):
            writer.writerow([_cell(obj.get(col)) for col in columns])


def _arrow_dataset(jsonl: Path, cache: Path):
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.Dataset.from_json(str(jsonl), cache_dir=str(cache))
    except Exception as exc:
        # The lines do not share one Arrow schema (e.g. a field that is text on one line and a number on another).
        cause = exc.__cause__ or exc
        raise ServiceError(
            f"The lines do not share one structure, so they cannot become a table ({type(cause).__name__}: "
            f"{str(cause)[:200]}). Export as JSONL, or fix the lines the validation report lists.",
            field="format",
        ) from exc


def open_export(path: Path) -> BinaryIO:
    """An export file opened for download, confirmed at open time to be a regular file under exports/."""
    try:
        return open_inside(path, export_folder())
    except (FileNotFoundError, UnsafeFile) as exc:
        raise ServiceError(f"The export cannot be read: {getattr(exc, 'strerror', None) or exc}") from None


def export_dataset(dataset: Dataset, fmt: str, *, user=None) -> Path:
    """Write the export under exports/datasets/ and return its path (replaced atomically if it existed)."""
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise ServiceError(
            f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.", field="format"
        )
    from datasets_app.library.files import open_dataset_file

    source = open_dataset_file(dataset)
    target = export_folder() / f"{export_stem(dataset)}{FORMATS[fmt]}"
    with tempfile.TemporaryDirectory(dir=export_folder(), prefix=".export-") as tmp_name:
        tmp = Path(tmp_name)
        jsonl = tmp / "data.jsonl"
        rows, columns = _write_jsonl(source, jsonl)
        if rows == 0:
            raise ServiceError("The dataset has no JSON-object lines to export.", field="format")
        produced = tmp / f"out{FORMATS[fmt]}"
        if fmt == "jsonl":
            produced = jsonl
        elif fmt == "csv":
            _write_csv(jsonl, columns, produced)
        elif fmt == "parquet":
            _arrow_dataset(jsonl, tmp / "cache").to_parquet(str(produced))
        else:
            folder = tmp / export_stem(dataset)
            _arrow_dataset(jsonl, tmp / "cache").save_to_disk(str(folder))
            archive = shutil.make_archive(str(tmp / "out"), "zip", root_dir=tmp, base_dir=folder.name)
            produced = Path(archive)
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        shutil.move(str(produced), staged)
        os.replace(staged, target)
    audit.record(user, "dataset.export", dataset, f"Exported {dataset.label} as {fmt}", format=fmt, rows=rows)
    return target
