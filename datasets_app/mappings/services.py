"""Schema-mapping services: drafts, immutable Active versions, activation, coverage, validation, preview, diff."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from datasets_app.mappings.harmonize import browser, validate
from datasets_app.mappings.harmonize.browser import Query
from datasets_app.mappings.harmonize.diff import diff_rules
from datasets_app.mappings.harmonize.rules import Rule, RuleError, check_rules, parse_rules, rules_to_json
from datasets_app.mappings.harmonize.sql import SourceError
from datasets_app.mappings.harmonize.training import MAX_EXAMPLES, write_sft
from datasets_app.mappings.rmis import RmisSchema, UnknownSchema, get_schema
from datasets_app.mappings.sources import (
    duckdb_connection,
    export_rows,
    get_source,
    source_meta,
)
from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.core import audit
from rmnconsole.core.errors import Conflict, Forbidden, NotFound, ServiceError
from rmnconsole.core.names import validate_name
from rmnconsole.core.paths import DATASETS, data_dir
from rmnconsole.core.users import signed_in

PREVIEW_ROWS = 20


def get_mapping(mapping_id: int) -> SchemaMapping:
    try:
        return SchemaMapping.objects.select_related("source").get(pk=mapping_id)
    except (SchemaMapping.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"mapping {mapping_id} not found") from None


def mapping_schema(mapping: SchemaMapping) -> RmisSchema:
    try:
        return get_schema(mapping.target_schema, mapping.target_version)
    except UnknownSchema as exc:
        raise ServiceError(str(exc), field="target_schema") from None


def mapping_rules(mapping: SchemaMapping) -> list[Rule]:
    try:
        return parse_rules(mapping.rules)
    except RuleError as exc:  # only possible if the JSON was edited outside the services
        raise ServiceError(
            f"stored rules are invalid: {exc}", field="rules", details={"rules": exc.errors}
        ) from None


def export_source(
    source: DataSource, query: Query, fmt: str, *, mapping: SchemaMapping | None = None
) -> Path:
    """The filtered rows of a source as a temporary export file, raw or harmonized by `mapping`."""
    harmonize = None if mapping is None else (mapping_rules(mapping), mapping_schema(mapping))
    return export_rows(source, query, fmt, harmonize=harmonize)


def _validated_rules(data, schema: RmisSchema, source: DataSource) -> list[Rule]:
    try:
        rules = parse_rules(data)
    except RuleError as exc:
        raise ServiceError(str(exc), field="rules", details={"rules": exc.errors}) from None
    problems = check_rules(rules, schema, list(source_meta(source).columns))
    if problems:
        raise ServiceError(RuleError(problems).args[0], field="rules", details={"rules": problems})
    return rules


def coverage_of(mapping: SchemaMapping, rules: list[Rule] | None = None) -> dict:
    return validate.coverage(rules if rules is not None else mapping_rules(mapping), mapping_schema(mapping))


def _set_rules(mapping: SchemaMapping, rules: list[Rule]) -> None:
    mapping.rules = rules_to_json(rules)
    cov = validate.coverage(rules, mapping_schema(mapping))
    mapping.coverage_pct, mapping.required_coverage_pct = cov["pct"], cov["required_pct"]
    # Rules changed: the last validation no longer describes them.
    mapping.validation, mapping.validation_status, mapping.validated_at = {}, "", None


def _next_version(retailer: str, source_id: int, target_schema: str, target_version: int) -> int:
    top = SchemaMapping.objects.for_key(retailer, source_id, target_schema, target_version).aggregate(
        v=Max("version")
    )["v"]
    return (top or 0) + 1


@transaction.atomic
def create_mapping(
    *,
    name: str,
    retailer: str,
    source: DataSource | int,
    target_schema: str = "rmis.ad_event",
    target_version: int = 1,
    rules=(),
    notes: str = "",
    user=None,
) -> SchemaMapping:
    """A new Draft (version = next number for this retailer + source + target)."""
    source = source if isinstance(source, DataSource) else get_source(source)
    name, retailer = validate_name(name, what="The mapping name"), (retailer or "").strip()
    if not retailer:
        raise ServiceError("a retailer is required", field="retailer")
    try:
        schema = get_schema(target_schema, target_version)
    except UnknownSchema as exc:
        raise ServiceError(str(exc), field="target_schema") from None
    parsed = _validated_rules(list(rules), schema, source)
    mapping = SchemaMapping(
        name=name, retailer=retailer, source=source, target_schema=schema.name, target_version=schema.version,
        version=_next_version(retailer, source.pk, schema.name, schema.version), notes=notes,
        created_by=signed_in(user),
    )  # fmt: skip
    _set_rules(mapping, parsed)
    mapping.save()
    return mapping


def authorise_mapping_change(mapping: SchemaMapping, user, action: str) -> None:
    """Who may change a mapping: staff, or the user who created that version. No user: the facade / CLI, which run
    with the operator's own rights. Versions without a creator (seeded demo data, made by the CLI) are shared."""
    if user is None or getattr(user, "is_staff", False) or mapping.created_by_id is None:
        return
    if not getattr(user, "is_authenticated", False) or mapping.created_by_id != user.pk:
        raise Forbidden(f"Only staff or the creator of {mapping.name} v{mapping.version} can {action} it.")


def _lock_draft(mapping: SchemaMapping) -> SchemaMapping:
    locked = SchemaMapping.objects.select_for_update().select_related("source").get(pk=mapping.pk)
    if locked.status != SchemaMapping.Status.DRAFT:
        raise Conflict(
            f"{locked.name} v{locked.version} is {locked.status} and cannot change: edit it to get a new Draft",
            field="status",
        )
    return locked


@transaction.atomic
def update_draft(
    mapping: SchemaMapping, *, rules=None, notes: str | None = None, name: str | None = None, user=None
) -> SchemaMapping:
    draft = _lock_draft(mapping)
    authorise_mapping_change(draft, user, "edit")
    changed = [n for n, v in (("rules", rules), ("notes", notes), ("name", name)) if v is not None]
    if rules is not None:
        _set_rules(draft, _validated_rules(list(rules), mapping_schema(draft), draft.source))
    if notes is not None:
        draft.notes = notes
    if name is not None:
        if not name.strip():
            raise ServiceError("a name is required", field="name")
        draft.name = name.strip()
    draft.save()
    audit.record(user, "mapping.update", draft, f"edited draft {draft.name} v{draft.version}", fields=changed)
    return draft


def set_rule(mapping: SchemaMapping, index: int | None, rule: dict, *, user=None) -> SchemaMapping:
    """Replace rule `index` (0-based) or append when index is None."""
    current = list(mapping.rules)
    if index is None:
        current.append(rule)
    elif 0 <= index < len(current):
        current[index] = rule
    else:
        raise NotFound(f"rule {index + 1} not found")
    try:
        return update_draft(mapping, rules=current, user=user)
    except ServiceError as exc:
        if not exc.details.get("rules"):
            raise
        # Point errors at the rule being edited, whatever its position in the list.
        position = len(current) - 1 if index is None else index
        errors = [e for e in exc.details["rules"] if e.get("rule") in (position, None)]
        if errors:
            raise ServiceError(errors[0]["msg"], field="rules", details={"rules": errors}) from None
        raise


def delete_rule(mapping: SchemaMapping, index: int, *, user=None) -> SchemaMapping:
    current = list(mapping.rules)
    if not 0 <= index < len(current):
        raise NotFound(f"rule {index + 1} not found")
    del current[index]
    return update_draft(mapping, rules=current, user=user)


@transaction.atomic
def edit_mapping(mapping: SchemaMapping, *, user=None) -> SchemaMapping:
    """The Draft to edit: the mapping itself if it is one, else the newest Draft of its key, else a new copy."""
    if mapping.is_draft:
        return mapping
    # Two "edit" clicks at once would each find no draft and make one: the source row's lock serialises them.
    SchemaMapping.objects.select_for_update().filter(pk=mapping.pk).first()
    existing = mapping.siblings().filter(status=SchemaMapping.Status.DRAFT).first()
    if existing:
        return existing
    draft = SchemaMapping(
        name=mapping.name, retailer=mapping.retailer, source=mapping.source, target_schema=mapping.target_schema,
        target_version=mapping.target_version, notes=mapping.notes, parent=mapping,
        version=_next_version(mapping.retailer, mapping.source_id, mapping.target_schema, mapping.target_version),
        created_by=signed_in(user),
    )  # fmt: skip
    _set_rules(draft, mapping_rules(mapping))
    draft.save()
    audit.record(
        user, "mapping.draft", draft, f"new draft v{draft.version} of {mapping.name} v{mapping.version}"
    )
    return draft


def activate_mapping(mapping: SchemaMapping, *, user=None, force: bool = False) -> SchemaMapping:
    """Draft → Active; the previous Active of the same key becomes Deprecated. Refused while validation fails."""
    authorise_mapping_change(mapping, user, "activate")
    report = validate_mapping(mapping, save=True) if mapping.is_draft else None
    with transaction.atomic():
        draft = _lock_draft(mapping)
        authorise_mapping_change(draft, user, "activate")
        if report and report["status"] == "error" and not force:
            failing = [
                f"{c['label']}: {c['target']} ({c['count']})"
                for c in report["checks"]
                if c["severity"] == "error"
            ]
            raise ServiceError(
                "validation fails — fix the mapping or activate with force: " + "; ".join(failing[:5]),
                field="rules",
                details={"checks": [c for c in report["checks"] if c["severity"] == "error"]},
            )
        previous = list(
            SchemaMapping.objects.select_for_update()
            .for_key(draft.retailer, draft.source_id, draft.target_schema, draft.target_version)
            .filter(status=SchemaMapping.Status.ACTIVE)
        )
        others = [p for p in previous if p.created_by_id not in (None, getattr(user, "pk", None))]
        if others and user is not None and not getattr(user, "is_staff", False):
            raise Forbidden(
                f"{others[0].name} v{others[0].version} is Active and belongs to someone else: only staff can replace it."
            )
        SchemaMapping.objects.filter(pk__in=[p.pk for p in previous]).update(
            status=SchemaMapping.Status.DEPRECATED
        )
        try:
            updated = SchemaMapping.objects.filter(pk=draft.pk, status=SchemaMapping.Status.DRAFT).update(
                status=SchemaMapping.Status.ACTIVE, activated_at=timezone.now()
            )
        except IntegrityError:
            raise Conflict("another version was activated at the same time; reload and try again") from None
        if updated != 1:
            raise Conflict("the draft changed while activating; reload and try again")
        draft.refresh_from_db()
        audit.record(
            user, "mapping.activate", draft, f"activated {draft.name} v{draft.version}",
            deprecated=[p.version for p in previous], forced=bool(force and report and report["status"] == "error"),
        )  # fmt: skip
    return draft


@transaction.atomic
def delete_draft(mapping: SchemaMapping, *, user=None) -> None:
    """Staff only, through every door: a draft may hold someone's unfinished work."""
    if not getattr(user, "is_staff", False):
        raise Forbidden("Only staff can delete mapping drafts.")
    draft = _lock_draft(mapping)
    authorise_mapping_change(draft, user, "delete")
    audit.record(user, "mapping.delete", draft, f"deleted draft {draft.name} v{draft.version}")
    draft.delete()


def validate_mapping(mapping: SchemaMapping, *, save: bool = True, rules: list[Rule] | None = None) -> dict:
    """Apply the mapping to its whole source and count problems (see harmonize/validate.py)."""
    parsed = rules if rules is not None else mapping_rules(mapping)
    meta = source_meta(mapping.source)
    with duckdb_connection() as con:
        try:
            report = validate.validate(con, meta, parsed, mapping_schema(mapping))
        except SourceError as exc:
            raise ServiceError(str(exc)) from None
    report["validated_at"] = timezone.now().isoformat()
    if save and rules is None:
        SchemaMapping.objects.filter(pk=mapping.pk).update(
            validation=report, validation_status=report["status"], validated_at=timezone.now()
        )
        mapping.validation, mapping.validation_status = report, report["status"]
    return report


def preview_mapping(
    mapping: SchemaMapping, *, rules=None, query: browser.Query | None = None, limit: int = PREVIEW_ROWS
) -> dict:
    """The first `limit` harmonized rows (of the filtered source), coverage and rule errors — for unsaved rules too."""
    schema = mapping_schema(mapping)
    meta = source_meta(mapping.source)
    errors: list[dict] = []
    try:
        parsed = parse_rules(rules) if rules is not None else mapping_rules(mapping)
        errors = check_rules(parsed, schema, list(meta.columns))
    except RuleError as exc:
        parsed, errors = [], exc.errors
    cov = validate.coverage(parsed, schema)
    if errors:
        return {"columns": [], "rows": [], "coverage": cov, "errors": errors}
    limit = max(1, min(int(limit), 500))
    with duckdb_connection() as con:
        try:
            sql, params, _ = browser.harmonize_sql(meta, parsed, schema, query, limit=limit)
            columns, rows = browser.fetch_rows(con, sql, params)
        except SourceError as exc:
            return {
                "columns": [],
                "rows": [],
                "coverage": cov,
                "errors": [{"rule": None, "field": "", "msg": str(exc)}],
            }
    return {"columns": columns, "rows": rows, "coverage": cov, "errors": []}


def diff_mappings(old: SchemaMapping, new: SchemaMapping) -> list[dict]:
    return diff_rules(mapping_rules(old), mapping_rules(new))


def mapping_versions(mapping: SchemaMapping):
    return mapping.siblings().select_related("created_by")


def build_training_dataset(
    mapping: SchemaMapping,
    *,
    examples: int = 500,
    name: str = "",
    seed: int = 0,
    user=None,
    query: browser.Query | None = None,
    kind: str = "sft",
):
    """Sample source records, harmonize them, write JSONL under datasets/ and register it.

    kind "sft": prompt/completion; "dpo": prompt/chosen (the correct RMIS record)/rejected (a corrupted copy)."""
    from datasets_app.library.services import (
        register_dataset_file,
    )  # the Datasets helper's service (validates the file)

    if not 1 <= int(examples) <= MAX_EXAMPLES:
        raise ServiceError(f"examples must be between 1 and {MAX_EXAMPLES}", field="examples")
    if kind not in ("sft", "dpo"):
        raise ServiceError("kind must be sft or dpo", field="kind")
    schema = mapping_schema(mapping)
    meta = source_meta(mapping.source)
    name = (name or f"{mapping.retailer}_rmis_v{mapping.version}_{kind}").strip()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    dest = (
        data_dir(DATASETS) / f"{mapping.retailer}_mapping{mapping.pk}_v{mapping.version}_{kind}_{stamp}.jsonl"
    )
    with duckdb_connection() as con:
        try:
            stats = write_sft(
                con, meta, mapping_rules(mapping), schema, dest, retailer=mapping.source.name, examples=examples, seed=seed,
                query=query, kind=kind,
            )  # fmt: skip
        except SourceError as exc:
            raise ServiceError(f"harmonizing failed: {exc}") from None
    if not stats["written"]:
        raise ServiceError(
            "no complete record to write: every sampled row has a null required field", field="examples"
        )
    dataset = register_dataset_file(dest, name=name, dataset_type=kind, user=user)
    audit.record(
        user, "mapping.build_dataset", mapping, f"built {dest.name} ({stats['written']} examples)", **stats
    )
    return dataset, stats
