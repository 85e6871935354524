"""Python facade for mappings and data sources: ids or names in, plain dicts out (re-exported by rmnconsole.console)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from datasets_app.mappings import demo, sources
from datasets_app.mappings import services as svc
from datasets_app.mappings.harmonize.browser import to_jsonable
from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.core.errors import NotFound
from rmnconsole.core.users import resolve_user


def _source(source: int | str | DataSource) -> DataSource:
    if isinstance(source, DataSource):
        return source
    if isinstance(source, int) or str(source).isdigit():
        return sources.get_source(int(source))
    found = DataSource.objects.filter(name=source).first()
    if found is None:
        raise NotFound(f"no data source named {source!r}")
    return found


def _mapping(mapping: int | SchemaMapping) -> SchemaMapping:
    return mapping if isinstance(mapping, SchemaMapping) else svc.get_mapping(int(mapping))


def _as_dict(m: SchemaMapping) -> dict[str, Any]:
    return {
        "id": m.pk, "name": m.name, "retailer": m.retailer, "source": m.source.name, "target": m.target_key,
        "version": m.version, "status": m.status, "rules": m.rules, "coverage_pct": m.coverage_pct,
        "required_coverage_pct": m.required_coverage_pct, "validation_status": m.validation_status,
    }  # fmt: skip


def list_mappings(retailer: str | None = None) -> list[dict[str, Any]]:
    qs = SchemaMapping.objects.select_related("source")
    return [_as_dict(m) for m in (qs.filter(retailer=retailer) if retailer else qs)]


def create_mapping(name: str, retailer: str, source: int | str, rules: list[dict], *, target_schema: str = "rmis.ad_event",
                   target_version: int = 1, notes: str = "") -> dict[str, Any]:  # fmt: skip
    m = svc.create_mapping(name=name, retailer=retailer, source=_source(source), target_schema=target_schema,
                           target_version=target_version, rules=rules, notes=notes)  # fmt: skip
    return _as_dict(m)


def update_mapping(
    mapping_id: int, *, rules: list[dict] | None = None, notes: str | None = None
) -> dict[str, Any]:
    """Update a Draft; for an Active version this edits (or creates) its Draft instead."""
    draft = svc.edit_mapping(_mapping(mapping_id))
    return _as_dict(svc.update_draft(draft, rules=rules, notes=notes))


def delete_mapping_draft(mapping_id: int, *, user=None) -> None:
    """Delete a Draft; `user` (a User or username) must be staff."""
    svc.delete_draft(_mapping(mapping_id), user=resolve_user(user))


def activate_mapping(mapping_id: int, *, force: bool = False) -> dict[str, Any]:
    return _as_dict(svc.activate_mapping(_mapping(mapping_id), force=force))


def validate_mapping(mapping_id: int) -> dict[str, Any]:
    return to_jsonable(svc.validate_mapping(_mapping(mapping_id)))


def preview_mapping(
    mapping_id: int, *, rules: list[dict] | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    result = svc.preview_mapping(_mapping(mapping_id), rules=rules, limit=limit)
    if result["errors"]:
        raise ValueError("; ".join(e["msg"] for e in result["errors"]))
    return [dict(zip(result["columns"], to_jsonable(r), strict=True)) for r in result["rows"]]


def browse_source(source: int | str, **params: Any) -> dict[str, Any]:
    """browse_source('Retailer Alpha Events', date_from='2024-03-10', type='sp', page=1)."""
    page = sources.browse_source(_source(source), sources.parse_query(params))
    return to_jsonable(
        {
            "columns": page.columns,
            "rows": page.rows,
            "total": page.total,
            "page": page.page,
            "pages": page.pages,
        }
    )


def export_source(source: int | str, dest: str | Path, *, format: str = "parquet", mapping_id: int | None = None,
                  **params: Any) -> Path:  # fmt: skip
    """Write the filtered rows (harmonized when mapping_id is given) to `dest`."""
    src = _source(source)
    tmp = svc.export_source(
        src, sources.parse_query(params), format, mapping=_mapping(mapping_id) if mapping_id else None
    )
    return Path(shutil.move(tmp, dest))  # move, not rename: dest may be on another file system


def build_training_dataset(
    mapping_id: int, *, examples: int = 500, name: str = "", seed: int = 0
) -> dict[str, Any]:
    dataset, stats = svc.build_training_dataset(_mapping(mapping_id), examples=examples, name=name, seed=seed)
    return {"dataset_id": dataset.pk, "name": dataset.name, "path": dataset.path, **stats}


def seed_demo(rows: int = 20_000, *, force: bool = False) -> dict[str, Any]:
    return demo.seed_demo(rows=rows, force=force)
