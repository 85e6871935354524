"""Dataset versions a pipeline builds: the watched folder's stable files (by content hash), harmonized through the
pipeline's mapping into one JSONL, registered as the next version of the pipeline's dataset, with its lineage
(source file hashes, mapping version, rows added/removed vs the previous version) and a row diff."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import time
from collections import Counter
from pathlib import Path

from django.conf import settings

from datasets_app.library import services as library
from datasets_app.mappings import services as mappings
from datasets_app.mappings.harmonize.sql import SourceSpec, connect
from datasets_app.mappings.harmonize.training import write_sft
from datasets_app.mappings.sources import duckdb_limits, source_meta
from datasets_app.models import Dataset
from federation.pipelines.models import DatasetLineage, Pipeline, PipelineRun, WatchedFile
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.hashing import file_sha256
from rmnconsole.core.paths import DATASETS, PathOutsideDataRoot, data_dir, relative_to_root, resolve_inside

SOURCE_SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}
DIFF_SAMPLE = 20


def stable_seconds() -> float:
    return float(settings.RMN_PIPELINE_STABLE_SECONDS)


def watch_folder(pipeline: Pipeline) -> Path:
    try:
        folder = resolve_inside(pipeline.watch_path)
    except PathOutsideDataRoot as exc:
        raise ServiceError(f"Watched folder rejected: {exc}", field="watch_path") from None
    if not folder.is_dir():
        raise ServiceError(f"The watched folder {pipeline.watch_path} does not exist.", field="watch_path")
    return folder


def folder_files(pipeline: Pipeline, *, now: float | None = None) -> tuple[list[dict], list[str]]:
    """(stable data files [{path, sha256, size, mtime}], files still being written). A file is stable once it has
    not changed for RMN_PIPELINE_STABLE_SECONDS, or when the watcher already recorded it unchanged; a writer's temp
    file (dot-name) is never read."""
    folder = watch_folder(pipeline)
    # A file recorded unchanged (same path, size, mtime) keeps its recorded hash: each periodic check reads only
    # new or changed files, not the whole folder again.
    recorded = {
        (path, size, mtime): sha256
        for path, size, mtime, sha256 in WatchedFile.objects.filter(pipeline=pipeline).values_list(
            "path", "size", "mtime", "sha256"
        )
    }
    now = time.time() if now is None else now
    suffixes = SOURCE_SUFFIXES.get(pipeline.mapping.source.file_format, ()) if pipeline.mapping_id else ()
    stable, busy, hashes = [], [], set()
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.is_symlink():
            continue
        if suffixes and path.suffix.lower() not in suffixes:
            continue
        stat = path.stat()
        rel = relative_to_root(path)
        key = (rel, stat.st_size, stat.st_mtime)
        if now - stat.st_mtime < stable_seconds() and key not in recorded:
            busy.append(rel)
            continue
        digest = recorded.get(key) or file_sha256(path)
        if digest in hashes:
            continue  # the same content under a second name is the same data
        hashes.add(digest)
        stable.append({"path": rel, "sha256": digest, "size": stat.st_size, "mtime": stat.st_mtime})
    return stable, busy


def _line_hashes(path: Path) -> Counter:
    with path.open("rb") as handle:
        return Counter(hashlib.sha256(line.rstrip(b"\n")).hexdigest() for line in handle if line.strip())


def previous_version(dataset: Dataset) -> Dataset | None:
    return Dataset.objects.filter(name=dataset.name, version__lt=dataset.version).order_by("-version").first()


def row_changes(dataset: Dataset, previous: Dataset | None) -> tuple[int, int, int]:
    """(rows, added, removed) of `dataset` against `previous` (multiset of exact lines)."""
    now = _line_hashes(resolve_inside(dataset.path))
    before = _line_hashes(resolve_inside(previous.path)) if previous else Counter()
    return sum(now.values()), sum((now - before).values()), sum((before - now).values())


def row_diff(dataset: Dataset) -> dict:
    """The diff view: lines added and removed vs the previous version (the first DIFF_SAMPLE of each)."""
    previous = previous_version(dataset)
    now_path = resolve_inside(dataset.path)
    before = _line_hashes(resolve_inside(previous.path)) if previous else Counter()
    now = _line_hashes(now_path)
    added_keys, removed_keys = now - before, before - now

    def sample(path: Path, keys: Counter) -> list[str]:
        out, left = [], Counter(keys)
        with path.open("rb") as handle:
            for line in handle:
                key = hashlib.sha256(line.rstrip(b"\n")).hexdigest()
                if left[key] > 0 and len(out) < DIFF_SAMPLE:
                    left[key] -= 1
                    out.append(line.decode("utf-8", "replace").rstrip("\n"))
        return out

    return {
        "previous": previous,
        "added": sample(now_path, added_keys),
        "removed": sample(resolve_inside(previous.path), removed_keys) if previous else [],
        "added_count": sum(added_keys.values()),
        "removed_count": sum(removed_keys.values()),
    }


def _harmonize(pipeline: Pipeline, files: list[dict], dest: Path) -> int:
    mapping = pipeline.mapping
    meta = source_meta(mapping.source)
    rules, schema = mappings.mapping_rules(mapping), mappings.mapping_schema(mapping)
    written = 0
    tmp = dest.with_name(f".{dest.name}.tmp")
    limits = duckdb_limits()
    # DuckDB reads only the folders it is allowed: the usual ones and this pipeline's watched folder.
    con = connect(
        dataclasses.replace(limits, allowed_dirs=(*limits.allowed_dirs, str(watch_folder(pipeline))))
    )
    try:
        with tmp.open("wb") as out:
            for index, entry in enumerate(files):
                part = dest.with_name(f".{dest.name}.part{index}")
                file_meta = dataclasses.replace(
                    meta, spec=SourceSpec(str(resolve_inside(entry["path"])), mapping.source.file_format)
                )
                try:
                    stats = write_sft(
                        con, file_meta, rules, schema, part, retailer=mapping.source.name,
                        examples=pipeline.examples_per_file, seed=0,
                    )  # fmt: skip
                    written += stats["written"]
                    out.write(part.read_bytes())
                except Exception as exc:
                    raise ServiceError(f"Harmonizing {entry['path']} failed: {str(exc)[:300]}") from None
                finally:
                    part.unlink(missing_ok=True)
        if not written:
            raise ServiceError("No complete record in the source files: nothing to train on.")
        os.replace(tmp, dest)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
    return written


def build_version(run: PipelineRun) -> tuple[Dataset, dict]:
    """The run's dataset version and what the build step records about it."""
    pipeline = run.pipeline
    if pipeline.source_kind == Pipeline.Source.DATASET:
        dataset = Dataset.objects.filter(name=pipeline.dataset_name).order_by("-version").first()
        if dataset is None:
            raise ServiceError(f"No dataset named {pipeline.dataset_name} in the library.")
        files = [{"path": dataset.path, "sha256": dataset.sha256, "size": dataset.size_bytes}]
    else:
        files, busy = folder_files(pipeline)
        if not files:
            still = f" ({len(busy)} still being written)" if busy else ""
            raise ServiceError(f"No stable data file in {pipeline.watch_path}{still}.")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
        dest = data_dir(DATASETS) / f"pipeline_{pipeline.pk}_{pipeline.dataset_name}_{stamp}.jsonl"
        _harmonize(pipeline, files, dest)
        dataset = library.register_dataset_file(dest, name=pipeline.dataset_name, dataset_type="sft")
    lineage = DatasetLineage.objects.filter(dataset=dataset).first()
    if lineage is None:
        previous = previous_version(dataset)
        rows, added, removed = row_changes(dataset, previous)
        lineage = DatasetLineage.objects.create(
            dataset=dataset,
            previous=previous,
            pipeline=pipeline,
            run=run,
            source_files=[{k: f[k] for k in ("path", "sha256", "size")} for f in files],
            mapping=pipeline.mapping,
            mapping_version=pipeline.mapping.version if pipeline.mapping_id else None,
            rows=rows,
            rows_added=added,
            rows_removed=removed,
        )
    return dataset, {
        "dataset": dataset.label,
        "rows": lineage.rows,
        "rows_added": lineage.rows_added,
        "rows_removed": lineage.rows_removed,
        "files": len(files),
    }
