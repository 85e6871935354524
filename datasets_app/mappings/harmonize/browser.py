"""Data-browser queries over one source: filters, sort, pages, column statistics, harmonized preview, export."""

from __future__ import annotations

import datetime as dt
import math
import uuid
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datasets_app.mappings.harmonize.compiler import (
    Column,
    compile_columns,
    is_numeric,
    select_list,
    to_utc_expr,
)
from datasets_app.mappings.harmonize.rules import Rule, ToUtc
from datasets_app.mappings.harmonize.sql import Params, SourceError, SourceSpec, first_line, quote_ident
from datasets_app.mappings.rmis import RmisSchema

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "contains", "startswith", "in", "is_null", "not_null")
SQL_OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_PAGE_SIZE = 500
EXPORT_FORMATS = {
    "csv": "(FORMAT csv, HEADER true)",
    "jsonl": "(FORMAT json)",
    "parquet": "(FORMAT parquet)",
}  # snappy: zstd costs ~0.5 s per 1M rows


class ColumnFilter(BaseModel):
    """One "any column" filter; the column must exist in the source and the value is always bound."""

    model_config = ConfigDict(extra="forbid")
    column: str = Field(min_length=1, max_length=255)
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "contains", "startswith", "in", "is_null", "not_null"] = (
        "eq"
    )
    value: str | int | float | bool | list[str] | None = None

    @model_validator(mode="after")
    def _value_present(self) -> ColumnFilter:
        if self.op not in ("is_null", "not_null") and (self.value is None or self.value == ""):
            raise ValueError(f"filter on {self.column!r} needs a value")
        return self


@dataclass(frozen=True)
class TimeSpec:
    """How to read a source's event-time column (for the date-range filter)."""

    column: str
    input_format: str = "iso"
    timezone: str = "UTC"
    pattern: str | None = None


@dataclass
class Query:
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    tz: str = (
        "UTC"  # the zone the dates are days of (the page offers the source's own zone, as its rows show)
    )
    retailer: str | None = None
    type: str | None = None
    filters: list[ColumnFilter] = field(default_factory=list)
    sort: str | None = None
    descending: bool = False
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class SourceMeta:
    """What the browser knows about a source besides its file."""

    spec: SourceSpec
    columns: dict[str, str]  # name → DuckDB type
    time: TimeSpec | None = None
    retailer_column: str | None = None
    type_column: str | None = None


@dataclass
class Page:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _col(meta: SourceMeta, name: str) -> str:
    if name not in meta.columns:
        raise SourceError(f"unknown column {name!r}")
    return quote_ident(name)


def time_expression(meta: SourceMeta, params: Params) -> str:
    t = meta.time
    if t is None:
        raise SourceError("this source has no time column: the date range cannot be applied")
    spec = ToUtc(input_format=t.input_format, timezone=t.timezone, pattern=t.pattern)  # type: ignore[arg-type]
    holder = Column(target="ts", field=None, rule=None, expr="")  # type: ignore[arg-type]
    return to_utc_expr(_col(meta, t.column), meta.columns[t.column], spec, params, holder)


def where_clause(meta: SourceMeta, q: Query, params: Params) -> str:
    """The WHERE of a browser query; raises SourceError for unknown columns or unusable filters."""
    parts: list[str] = []
    if q.date_from or q.date_to:
        ts = time_expression(meta, params)

        def midnight(day: dt.date) -> str:
            # Midnight of `day` in q.tz as an instant (DuckDB's timezone(zone, naive timestamp)).
            return f"timezone({params.add(q.tz)}, CAST({params.add(day.isoformat())} AS TIMESTAMP))"

        if q.date_from:
            parts.append(f"{ts} >= {midnight(q.date_from)}")
        if q.date_to:
            parts.append(f"{ts} < {midnight(q.date_to + dt.timedelta(days=1))}")
    for value, column, label in (
        (q.retailer, meta.retailer_column, "retailer"),
        (q.type, meta.type_column, "type"),
    ):
        if value:
            if not column:
                raise SourceError(f"this source has no {label} column")
            parts.append(f"CAST({_col(meta, column)} AS VARCHAR) = {params.add(str(value))}")
    for f in q.filters:
        parts.append(_filter_sql(meta, f, params))
    return ("WHERE " + " AND ".join(parts)) if parts else ""


def _filter_sql(meta: SourceMeta, f: ColumnFilter, params: Params) -> str:
    col = _col(meta, f.column)
    if f.op == "is_null":
        return f"{col} IS NULL"
    if f.op == "not_null":
        return f"{col} IS NOT NULL"
    text = f"CAST({col} AS VARCHAR)"
    if f.op == "contains":
        return f"contains(lower({text}), lower({params.add(str(f.value))}))"
    if f.op == "startswith":
        return f"starts_with({text}, {params.add(str(f.value))})"
    if f.op == "in":
        values = f.value if isinstance(f.value, list) else [v.strip() for v in str(f.value).split(",")]
        return f"list_contains({params.add([str(v) for v in values])}, {text})"
    if is_numeric(meta.columns[f.column]):
        # A number the user typed: compared as a number, and a non-number is a clear error, not an empty page.
        try:
            number = float(f.value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SourceError(f"{f.column!r} is numeric: {f.value!r} is not a number") from None
        return f"{col} {SQL_OPS[f.op]} {params.add(number)}"
    return f"{text} {SQL_OPS[f.op]} {params.add(str(f.value))}"


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Params):
    try:
        return con.execute(sql, params.bind(sql))
    except duckdb.Error as exc:
        raise SourceError(first_line(exc)) from exc


def browse(con: duckdb.DuckDBPyConnection, meta: SourceMeta, q: Query, *, with_total: bool = True) -> Page:
    params = Params()
    rel = meta.spec.relation(params)
    where = where_clause(meta, q, params)
    order = ""
    if q.sort:
        order = f"ORDER BY {_col(meta, q.sort)} {'DESC' if q.descending else 'ASC'} NULLS LAST"
    size = max(1, min(int(q.page_size), MAX_PAGE_SIZE))
    page = max(1, int(q.page))
    limit, offset = params.add(size), params.add((page - 1) * size)
    names, types, rows = _arrow(
        con, f"SELECT * FROM {rel} {where} {order} LIMIT {limit} OFFSET {offset}", params
    )
    total = len(rows) + (page - 1) * size
    if with_total:
        cparams = Params()
        crel = meta.spec.relation(cparams)
        total = _execute(
            con, f"SELECT count(*) FROM {crel} {where_clause(meta, q, cparams)}", cparams
        ).fetchone()[0]
    return Page(names, types, rows, total, page, size)


def _arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: Params
) -> tuple[list[str], list[str], list[list[Any]]]:
    # Rows reach Python through Arrow: TIMESTAMPTZ converts with zoneinfo (DuckDB's own converter needs pytz).
    try:
        cursor = con.execute(sql, params.bind(sql))
        types = [str(d[1]) for d in cursor.description]
        with warnings.catch_warnings():
            # Pages and previews are small, so the extra Arrow copy DuckDB warns about is cheap; its relation API
            # (con.sql) instead leaves a pending result on the connection after parameterised LIMIT queries (2.0.0).
            warnings.simplefilter("ignore", UserWarning)
            table = cursor.to_arrow_reader(10_000).read_all()
    except duckdb.Error as exc:
        raise SourceError(first_line(exc)) from exc
    return table.column_names, types, [list(r.values()) for r in table.to_pylist()]


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str, params: Params) -> tuple[list[str], list[list[Any]]]:
    names, _types, rows = _arrow(con, sql, params)
    return names, rows


def column_stats(con: duckdb.DuckDBPyConnection, meta: SourceMeta, q: Query) -> list[dict]:
    """Per column: type, nulls, approximate distinct count, min and max (DuckDB's SUMMARIZE) over the filtered rows."""
    params = Params()
    sql = f"SUMMARIZE SELECT * FROM {meta.spec.relation(params)} {where_clause(meta, q, params)}"
    cursor = _execute(con, sql, params)
    names = [d[0] for d in cursor.description]
    out = []
    for row in cursor.fetchall():
        r = dict(zip(names, row, strict=True))
        count = int(r.get("count") or 0)
        null_pct = float(r.get("null_percentage") or 0)
        out.append(
            {
                "column": r["column_name"],
                "type": r["column_type"],
                "count": count,
                "nulls": round(count * null_pct / 100),
                "null_pct": null_pct,
                "distinct": int(r.get("approx_unique") or 0),
                "min": r.get("min"),
                "max": r.get("max"),
            }
        )
    return out


def distinct_values(
    con: duckdb.DuckDBPyConnection, meta: SourceMeta, column: str, limit: int = 50
) -> list[tuple[str, int]]:
    """The most frequent values of one column (for retailer/type filters and enum pairs)."""
    params = Params()
    col = _col(meta, column)
    sql = (
        f"SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM {meta.spec.relation(params)} "
        f"WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {params.add(int(limit))}"
    )
    return [(r[0], int(r[1])) for r in _execute(con, sql, params).fetchall()]


def harmonize_sql(
    meta: SourceMeta,
    rules: list[Rule],
    schema: RmisSchema,
    q: Query | None = None,
    *,
    limit: int | None = None,
    strict: bool = False,
    raw_columns: bool = False,
) -> tuple[str, Params, list[Column]]:
    """One SELECT that harmonizes the (filtered) source. `raw_columns` also returns the raw record as JSON."""
    params = Params()
    rel = meta.spec.relation(params)
    columns = compile_columns(rules, schema, meta.columns, params, strict=strict)
    where = where_clause(meta, q, params) if q else ""
    raw = ', to_json(src) AS "__raw__"' if raw_columns else ""
    tail = f" LIMIT {params.add(int(limit))}" if limit is not None else ""
    return f"SELECT {select_list(columns)}{raw} FROM {rel} AS src {where}{tail}", params, columns


def raw_sql(meta: SourceMeta, q: Query | None = None) -> tuple[str, Params]:
    params = Params()
    rel = meta.spec.relation(params)
    where = where_clause(meta, q, params) if q else ""
    order = ""
    if q and q.sort:
        order = f" ORDER BY {_col(meta, q.sort)} {'DESC' if q.descending else 'ASC'} NULLS LAST"
    return f"SELECT * FROM {rel} {where}{order}", params


def export(con: duckdb.DuckDBPyConnection, sql: str, params: Params, fmt: str, dest: Path) -> Path:
    """Write a query's rows with DuckDB's own writer (no rows pass through Python)."""
    if fmt not in EXPORT_FORMATS:
        raise SourceError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    target = params.add(str(dest))
    _execute(con, f"COPY ({sql}) TO {target} {EXPORT_FORMATS[fmt]}", params)
    return dest


def to_jsonable(value: Any) -> Any:
    """DuckDB values → JSON-safe values (ISO times, floats for decimals, None for NaN/inf, hex for blobs)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta | uuid.UUID):
        return str(value)
    return value
