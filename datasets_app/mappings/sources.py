"""Data-source services: register files, DuckDB connections with per-request limits, browse, stats and export."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
from django.conf import settings
from django.db import transaction
from pydantic import ValidationError

from datasets_app.mappings.harmonize import browser
from datasets_app.mappings.harmonize.browser import ColumnFilter, Page, Query, SourceMeta, TimeSpec
from datasets_app.mappings.harmonize.sql import (
    Limits,
    SourceError,
    SourceSpec,
    connect,
    describe,
    detect_format,
)
from datasets_app.models import DataSource
from rmnconsole.core import audit
from rmnconsole.core.errors import NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import (
    EXPORTS,
    SOURCES,
    PathOutsideDataRoot,
    data_dir,
    relative_to_root,
    resolve_inside,
)
from rmnconsole.core.users import signed_in

EXPORT_CONTENT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


def duckdb_limits() -> Limits:
    """Per-request DuckDB limits (settings RMN_DUCKDB_MEMORY_LIMIT, RMN_DUCKDB_THREADS) and the folders it may touch."""
    return Limits(
        memory_limit=str(settings.RMN_DUCKDB_MEMORY_LIMIT),
        threads=int(settings.RMN_DUCKDB_THREADS),
        allowed_dirs=(str(data_dir(SOURCES)), str(data_dir(EXPORTS))),
        temp_dir=str(data_dir(EXPORTS) / ".duckdb-tmp"),
    )


@contextlib.contextmanager
def duckdb_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(duckdb_limits())
    try:
        yield con
    finally:
        con.close()


def get_source(source_id: int) -> DataSource:
    try:
        return DataSource.objects.get(pk=source_id)
    except (DataSource.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"data source {source_id} not found") from None


def _confined(path: str | Path) -> Path:
    try:
        resolved = resolve_inside(path, data_dir(SOURCES))
    except PathOutsideDataRoot as exc:
        raise ServiceError(str(exc), field="path") from None
    return resolved


def _describe_file(path: Path, fmt: str) -> tuple[list[list[str]], int]:
    with duckdb_connection() as con:
        spec = SourceSpec(str(path), fmt)
        try:
            columns = describe(con, spec)
            meta = SourceMeta(spec, dict(columns))
            count = browser.browse(con, meta, Query(page_size=1)).total
        except SourceError as exc:
            raise ServiceError(str(exc), field="path") from None
    return [[n, t] for n, t in columns], count


def refresh_source(source: DataSource, *, force: bool = False) -> DataSource:
    """Re-describe the file when it changed on disk (columns, rows, size)."""
    path = _confined(source.path)
    if not path.is_file():
        raise ServiceError(f"{source.path} is missing: the file was moved or deleted", field="path")
    stat = path.stat()
    if (
        not force
        and source.columns
        and source.file_mtime == stat.st_mtime
        and source.size_bytes == stat.st_size
    ):
        return source
    source.columns, source.row_count = _describe_file(path, source.file_format)
    source.size_bytes, source.file_mtime = stat.st_size, stat.st_mtime
    DataSource.objects.filter(pk=source.pk).update(
        columns=source.columns,
        row_count=source.row_count,
        size_bytes=source.size_bytes,
        file_mtime=source.file_mtime,
    )
    return source


def _check_columns(columns: list[str], **named: str) -> None:
    for field, value in named.items():
        if value and value not in columns:
            raise ServiceError(f"{field}: the file has no column {value!r}", field=field)


@transaction.atomic
def register_source(
    path: str | Path,
    *,
    name: str,
    retailer: str = "",
    kind: str = DataSource.Kind.EVENTS,
    description: str = "",
    time_column: str = "",
    time_format: str = DataSource.TimeFormat.ISO,
    time_zone: str = "UTC",
    retailer_column: str = "",
    type_column: str = "",
    user=None,
    is_demo: bool = False,
) -> DataSource:
    """Register a CSV / JSONL / Parquet file that lies under the data root's sources/ folder."""
    name = validate_name(name, what="The source name")
    resolved = _confined(path)
    if not resolved.is_file():
        raise ServiceError(f"{path} is not a file under {data_dir(SOURCES)}", field="path")
    try:
        fmt = detect_format(resolved)
    except SourceError as exc:
        raise ServiceError(str(exc), field="path") from None
    if kind not in DataSource.Kind.values:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    if time_format not in DataSource.TimeFormat.values:
        raise ServiceError(f"unknown time format {time_format!r}", field="time_format")
    from datasets_app.mappings.harmonize.rules import ToUtc

    try:
        ToUtc(input_format=time_format, timezone=time_zone or "UTC")
    except ValidationError as exc:
        raise ServiceError(exc.errors()[0]["msg"].removeprefix("Value error, "), field="time_zone") from None
    columns, rows = _describe_file(resolved, fmt)
    _check_columns(
        [c[0] for c in columns],
        time_column=time_column,
        retailer_column=retailer_column,
        type_column=type_column,
    )
    stat = resolved.stat()
    values = dict(
        retailer=retailer, kind=kind, file_format=fmt, path=relative_to_root(resolved), description=description,
        size_bytes=stat.st_size, row_count=rows, columns=columns, file_mtime=stat.st_mtime, time_column=time_column,
        time_format=time_format, time_zone=time_zone or "UTC", retailer_column=retailer_column, type_column=type_column,
        is_demo=is_demo,
    )  # fmt: skip
    source = DataSource.objects.filter(name=name).first()
    if source is None:
        source = DataSource.objects.create(name=name, created_by=signed_in(user), **values)
        audit.record(user, "source.register", source, f"registered {source.path}")
    elif is_demo or source.path == values["path"]:
        for key, value in values.items():
            setattr(source, key, value)
        source.save()
    else:
        raise ServiceError(f"a data source named {name!r} already exists", field="name")
    return source


def source_meta(source: DataSource) -> SourceMeta:
    source = refresh_source(source)
    columns = {c[0]: c[1] for c in source.columns}
    time = None
    if source.time_column and source.time_column in columns:
        time = TimeSpec(source.time_column, source.time_format, source.time_zone or "UTC")
    return SourceMeta(
        spec=SourceSpec(str(_confined(source.path)), source.file_format),
        columns=columns,
        time=time,
        retailer_column=source.retailer_column if source.retailer_column in columns else None,
        type_column=source.type_column if source.type_column in columns else None,
    )


def _date(value, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ServiceError(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field) from None


def _int(value, field: str, default: int, lo: int, hi: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise ServiceError(f"{field} must be a whole number", field=field) from None
    if not lo <= number <= hi:
        raise ServiceError(f"{field} must be between {lo} and {hi}", field=field)
    return number


def available_time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def parse_query(data: Mapping, *, multi: Mapping | None = None) -> Query:
    """A browser query from request parameters: date_from/date_to/retailer/type/sort/desc/page/page_size,
    `filters` as JSON [{column, op, value}], or repeated fcol/fop/fval fields from the HTML form (`multi`: a QueryDict)."""
    filters: list[ColumnFilter] = []
    raw = data.get("filters")
    try:
        if raw:
            items = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(items, list):
                raise ServiceError("filters must be a JSON list of {column, op, value}", field="filters")
            filters += [ColumnFilter.model_validate(item) for item in items]
        if multi is not None and hasattr(multi, "getlist"):
            for col, op, val in zip(
                multi.getlist("fcol"), multi.getlist("fop"), multi.getlist("fval"), strict=False
            ):
                if col:
                    filters.append(ColumnFilter(column=col, op=op or "eq", value=val if val != "" else None))
    except json.JSONDecodeError:
        raise ServiceError("filters is not valid JSON", field="filters") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ServiceError(f"filter: {err['msg'].removeprefix('Value error, ')}", field="filters") from None
    date_from, date_to = _date(data.get("date_from"), "date_from"), _date(data.get("date_to"), "date_to")
    if date_from and date_to and date_from > date_to:
        raise ServiceError("date_from is after date_to", field="date_from")
    tz = str(data.get("tz") or "UTC").strip()
    if tz not in available_time_zones():
        raise ServiceError(
            f"tz: unknown time zone {tz[:64]!r} (an IANA name such as Europe/Berlin)", field="tz"
        )
    return Query(
        date_from=date_from,
        date_to=date_to,
        tz=tz,
        retailer=(data.get("retailer") or None),
        type=(data.get("type") or None),
        filters=filters,
        sort=(data.get("sort") or None),
        descending=str(data.get("desc", "")).lower() in ("1", "true", "yes", "on"),
        page=_int(data.get("page"), "page", 1, 1, 10_000_000),
        page_size=_int(data.get("page_size"), "page_size", 50, 1, browser.MAX_PAGE_SIZE),
    )


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except SourceError as exc:
        raise ServiceError(str(exc)) from None


def browse_source(source: DataSource, query: Query) -> Page:
    meta = source_meta(source)
    with duckdb_connection() as con:
        return _run(browser.browse, con, meta, query)


def source_stats(source: DataSource, query: Query | None = None) -> list[dict]:
    meta = source_meta(source)
    with duckdb_connection() as con:
        return _run(browser.column_stats, con, meta, query or Query())


def source_distinct(source: DataSource, column: str, limit: int = 50) -> list[tuple[str, int]]:
    meta = source_meta(source)
    with duckdb_connection() as con:
        return _run(browser.distinct_values, con, meta, column, limit)


def export_rows(source: DataSource, query: Query, fmt: str, *, harmonize: tuple | None = None) -> Path:
    """Write the filtered rows (raw, or harmonized by `harmonize` = (rules, RMIS schema)) to a temporary file under
    exports/; the caller streams it and deletes it (see `stream_file`). Mappings resolve their rules in
    services.export_source: sources know nothing of mappings."""
    if fmt not in browser.EXPORT_FORMATS:
        raise ServiceError(f"unknown export format {fmt!r} (use csv, jsonl or parquet)", field="format")
    meta = source_meta(source)
    folder = data_dir(EXPORTS) / ".tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="export-", suffix=f".{fmt}", dir=folder)
    os.close(fd)
    dest = Path(name)
    try:
        with duckdb_connection() as con:
            if harmonize is None:
                sql, params = _run(browser.raw_sql, meta, query)
            else:
                rules, schema = harmonize
                sql, params, _ = _run(browser.harmonize_sql, meta, rules, schema, query, strict=True)
            _run(browser.export, con, sql, params, fmt, dest)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def stream_file(path: Path, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Yield a file in chunks and delete it afterwards (also when the client goes away)."""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


def export_filename(source: DataSource, fmt: str, harmonized: bool) -> str:
    stem = Path(source.path).stem + ("_rmis" if harmonized else "")
    return f"{stem}.{fmt}"
