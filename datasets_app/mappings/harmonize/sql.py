"""DuckDB plumbing: locked-down connections, quoted identifiers, bound parameters and source relations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
# CSV cells stay as the retailer wrote them: no date/time sniffing, so a local time keeps its offset in the browser.
CSV_TYPES = "['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR']"
_PARAM_RE = re.compile(r"\$(p\d+)\b")


class SourceError(ValueError):
    """The source file cannot be read or a query on it is not allowed."""


@dataclass(frozen=True)
class Limits:
    memory_limit: str = "256MB"
    threads: int = 2
    allowed_dirs: tuple[str, ...] = ()
    temp_dir: str | None = None


def connect(limits: Limits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can only touch the allowed folders and cannot change its own settings."""
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": limits.memory_limit,
            "threads": max(1, int(limits.threads)),
            "autoinstall_known_extensions": False,
            "preserve_insertion_order": True,
        },
    )
    con.execute("SET TimeZone = 'UTC'")
    if limits.temp_dir:
        Path(limits.temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = $d", {"d": limits.temp_dir})
    if limits.allowed_dirs:
        dirs = [str(Path(d).resolve()).rstrip("/") + "/" for d in limits.allowed_dirs]
        con.execute("SET allowed_directories = $d", {"d": dirs})
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def quote_ident(name: str) -> str:
    """A DuckDB identifier, double-quoted with inner quotes doubled; NUL and empty names are refused."""
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 255:
        raise SourceError(f"invalid column name {name!r}")
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Params:
    """Named parameters ($p0, $p1 …) collected while SQL is composed."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def bind(self, sql: str) -> dict[str, Any]:
        """Only the parameters the SQL uses (DuckDB refuses extra ones)."""
        used = set(_PARAM_RE.findall(sql))
        return {k: v for k, v in self.values.items() if k in used}


@dataclass(frozen=True)
class SourceSpec:
    """A file DuckDB reads: absolute path (already confined by the caller) and its format."""

    path: str
    format: str

    def __post_init__(self):
        if self.format not in FORMATS:
            raise SourceError(f"unsupported format {self.format!r} (use {', '.join(FORMATS)})")

    def relation(self, params: Params) -> str:
        p = params.add(self.path)
        if self.format == "csv":
            return f"read_csv({p}, header = true, auto_type_candidates = {CSV_TYPES}, sample_size = 20480)"
        if self.format == "jsonl":
            return f"read_json({p}, format = 'newline_delimited', sample_size = 20480)"
        return f"read_parquet({p})"


def detect_format(path: str | Path) -> str:
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if not fmt:
        raise SourceError(f"{Path(path).name}: use a .csv, .jsonl or .parquet file")
    return fmt


def describe(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> list[tuple[str, str]]:
    """The columns of a source as (name, DuckDB type)."""
    params = Params()
    try:
        sql = f"DESCRIBE SELECT * FROM {spec.relation(params)}"
        rows = con.execute(sql, params.bind(sql)).fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"cannot read {Path(spec.path).name}: {first_line(exc)}") from exc
    return [(r[0], r[1]) for r in rows]


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
