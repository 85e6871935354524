"""Helpers shared by the mapping / browser / harmonize tests (plain functions, no fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

from datasets_app.mappings.harmonize import browser, sql, validate
from datasets_app.mappings.harmonize.rules import parse_rules
from datasets_app.mappings.rmis import get_schema

V1 = get_schema("rmis.ad_event", 1)
MAPPING_DB = "test_rmn_mappings"


def write_csv(folder: Path, name: str, header: list[str], rows: list[list]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(folder: Path, name: str, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


class Engine:
    """A locked-down DuckDB over one folder, with the mapping engine's entry points."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.con = sql.connect(sql.Limits(memory_limit="256MB", threads=1, allowed_dirs=(str(folder),)))

    def meta(self, path: Path, **kwargs) -> browser.SourceMeta:
        spec = sql.SourceSpec(str(path), sql.detect_format(path))
        return browser.SourceMeta(spec, dict(sql.describe(self.con, spec)), **kwargs)

    def harmonize(
        self, path: Path, rules: list[dict], *, strict: bool = False, schema=V1, query=None
    ) -> list[dict]:
        meta = self.meta(path)
        q, params, _ = browser.harmonize_sql(meta, parse_rules(rules), schema, query, strict=strict)
        names, rows = browser.fetch_rows(self.con, q, params)
        return [dict(zip(names, r, strict=True)) for r in rows]

    def validate(self, path: Path, rules: list[dict], schema=V1) -> dict:
        return validate.validate(self.con, self.meta(path), parse_rules(rules), schema)

    def close(self):
        self.con.close()


def check(report: dict, kind: str, target: str) -> dict:
    """The one check of a validation report with this kind and target."""
    found = [c for c in report["checks"] if c["check"] == kind and c["target"] == target]
    assert len(found) == 1, f"expected one {kind} check on {target}, got {found}"
    return found[0]


def rule(source: str | None, target: str, **transform) -> dict:
    transform.setdefault("type", "none")
    return {"source": source, "target": target, "transform": transform}
