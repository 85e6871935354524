"""Coverage and validation of a mapping applied to its source, computed by DuckDB in one aggregate pass."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from datasets_app.mappings.harmonize.browser import Query, SourceMeta, where_clause
from datasets_app.mappings.harmonize.compiler import Column, compile_columns
from datasets_app.mappings.harmonize.rules import EnumMap, Rule, RuleError, ToUtc, check_rules, parse_offset
from datasets_app.mappings.harmonize.sql import Params, SourceError, first_line
from datasets_app.mappings.rmis import PLAUSIBLE_RATIOS, RmisSchema

EXAMPLES = 5
ERROR_SHARE = 0.01  # more than 1% of rows failing a check makes it an error, not a warning
CHECK_LABELS = {
    "missing_required": "Required field not mapped",
    "rule_error": "Invalid rule",
    "required_nulls": "Null in a required field",
    "unmapped_enum": "Unmapped enum value",
    "enum_not_allowed": "Value not allowed by RMIS",
    "cast_failure": "Cast failure",
    "out_of_range": "Out of range",
    "dst_nonexistent": "Local time in the DST gap (shifted forward)",
    "dst_ambiguous": "Local time in the repeated DST hour (standard time used)",
    "implausible_scale": "Implausible scale (unit slip?)",
}


def coverage(rules: list[Rule], schema: RmisSchema) -> dict:
    mapped = {r.target for r in rules if schema.field(r.target)}
    required = schema.required_fields
    missing = [f for f in schema.field_names if f not in mapped]
    return {
        "total": len(schema.fields),
        "mapped": [f for f in schema.field_names if f in mapped],
        "missing": missing,
        "missing_required": [f for f in required if f not in mapped],
        "pct": round(100.0 * len(mapped) / len(schema.fields), 1),
        "required_total": len(required),
        "required_pct": round(100.0 * len([f for f in required if f in mapped]) / len(required), 1)
        if required
        else 100.0,
    }


@dataclass
class _Check:
    kind: str
    target: str
    source: str | None
    predicate: str
    example: str
    policy_error: bool = False
    message: str = ""


@dataclass
class _Plan:
    projections: list[str] = field(default_factory=list)
    checks: list[_Check] = field(default_factory=list)


def _plan(columns: list[Column], params: Params) -> _Plan:
    plan = _Plan()
    by_target = {c.target: i for i, c in enumerate(columns)}
    for i, c in enumerate(columns):
        t, s = f'"t{i}"', f'"s{i}"'
        plan.projections.append(f"{c.expr} AS {t}")
        has_source = c.source_expr is not None
        if has_source:
            plan.projections.append(f"{c.source_expr} AS {s}")
        src = c.rule.source
        if c.field.required:
            plan.checks.append(
                _Check("required_nulls", c.target, src, f"{t} IS NULL", s if has_source else "NULL")
            )
        transform = c.rule.transform
        if isinstance(transform, EnumMap):
            k = f'"k{i}"'
            plan.projections.append(f"{c.enum_key} AS {k}")
            plan.checks.append(
                _Check(
                    "unmapped_enum",
                    c.target,
                    src,
                    f"{k} IS NOT NULL AND NOT list_contains({c.enum_keys}, {k})",
                    s,
                    policy_error=transform.unmapped == "error",
                    message=f"policy: {transform.unmapped}",
                )
            )
        elif has_source:
            plan.checks.append(
                _Check(
                    "cast_failure",
                    c.target,
                    src,
                    f"{s} IS NOT NULL AND trim(CAST({s} AS VARCHAR)) <> '' AND {t} IS NULL",
                    s,
                )
            )
        if c.field.allowed:
            allowed = params.add(list(c.field.allowed))
            plan.checks.append(
                _Check(
                    "enum_not_allowed",
                    c.target,
                    src,
                    f"{t} IS NOT NULL AND NOT list_contains({allowed}, {t})",
                    t,
                )
            )
        bounds = []
        if c.field.minimum is not None:
            bounds.append(f"{t} < {params.add(c.field.minimum)}")
        if c.field.maximum is not None:
            bounds.append(f"{t} > {params.add(c.field.maximum)}")
        if c.field.type == "timestamp":
            bounds.append(f"{t} < TIMESTAMPTZ '2000-01-01 00:00:00+00' OR {t} > now() + INTERVAL 2 DAY")
        if bounds:
            plan.checks.append(
                _Check("out_of_range", c.target, src, " OR ".join(f"({b})" for b in bounds), t)
            )
        if c.local_expr and isinstance(transform, ToUtc) and parse_offset(transform.timezone) is None:
            loc, app = f'"l{i}"', f'"a{i}"'
            plan.projections += [f"{c.local_expr} AS {loc}", f"({c.local_applies}) AS {app}"]
            zone = params.add(transform.timezone)
            utc = f"timezone({zone}, {loc})"
            plan.checks.append(
                _Check(
                    "dst_nonexistent",
                    c.target,
                    src,
                    f"{app} AND {loc} IS NOT NULL AND timezone({zone}, {utc}) <> {loc}",
                    loc,
                )
            )
            plan.checks.append(
                _Check(
                    "dst_ambiguous",
                    c.target,
                    src,
                    f"{app} AND {loc} IS NOT NULL AND timezone({zone}, {utc} - INTERVAL 1 HOUR) = {loc}",
                    loc,
                )
            )
    if "clicks" in by_target and "impressions" in by_target:
        ck, im = f'"t{by_target["clicks"]}"', f'"t{by_target["impressions"]}"'
        plan.checks.append(
            _Check("out_of_range", "clicks", "clicks > impressions", f"{ck} > {im}", f"{ck} || ' > ' || {im}")
        )
    return plan


def _severity(check: _Check, count: int, rows: int) -> str:
    if count == 0:
        return "ok"
    if check.policy_error:
        return "error"
    if check.kind in ("required_nulls", "unmapped_enum", "enum_not_allowed", "cast_failure"):
        return "error" if rows and count / rows > ERROR_SHARE else "warn"
    return "warn"


def _worst(statuses: list[str]) -> str:
    return "error" if "error" in statuses else "warn" if "warn" in statuses else "ok"


def validate(
    con: duckdb.DuckDBPyConnection,
    meta: SourceMeta,
    rules: list[Rule],
    schema: RmisSchema,
    *,
    query: Query | None = None,
    max_rows: int | None = None,
) -> dict:
    """The validation report: status (ok/warn/error), row count, coverage and one entry per check."""
    cov = coverage(rules, schema)
    checks: list[dict] = [
        {"check": "missing_required", "target": f, "source": None, "count": 0, "pct": None, "severity": "error",
         "examples": [], "label": CHECK_LABELS["missing_required"], "message": "no rule maps this required field"}
        for f in cov["missing_required"]
    ]  # fmt: skip
    problems = check_rules(rules, schema, list(meta.columns))
    if problems:
        checks += [
            {"check": "rule_error", "target": rules[p["rule"]].target if isinstance(p["rule"], int) else "", "source": None,
             "count": 0, "pct": None, "severity": "error", "examples": [], "label": CHECK_LABELS["rule_error"],
             "message": p["msg"], "rule": p["rule"]}
            for p in problems
        ]  # fmt: skip
        return {"status": "error", "rows": 0, "coverage": cov, "checks": checks, "summary": _summary(checks)}
    params = Params()
    rel = meta.spec.relation(params)
    try:
        columns = compile_columns(rules, schema, meta.columns, params)
    except RuleError as exc:  # pragma: no cover - check_rules above catches the same problems
        raise SourceError(str(exc)) from exc
    plan = _plan(columns, params)
    where = where_clause(meta, query, params) if query else ""
    limit = f" LIMIT {params.add(int(max_rows))}" if max_rows else ""
    aggregates = ["count(*)"]
    for c in plan.checks:
        aggregates.append(f"count(*) FILTER (WHERE {c.predicate})")
        aggregates.append(
            f"array_slice(list(DISTINCT coalesce(CAST({c.example} AS VARCHAR), '(null)')) FILTER (WHERE {c.predicate}), 1, {EXAMPLES})"
        )
    ratios = _ratio_aggregates(columns)
    aggregates += [expr for _, expr in ratios]
    projections = ", ".join(plan.projections) or "1 AS one"
    sql = f"WITH h AS (SELECT {projections} FROM {rel} AS src {where}{limit}) SELECT {', '.join(aggregates)} FROM h"
    try:
        row = con.execute(sql, params.bind(sql)).fetchall()[0]
    except duckdb.Error as exc:
        raise SourceError(f"validation query failed: {first_line(exc)}") from exc
    rows = int(row[0])
    for n, c in enumerate(plan.checks):
        count = int(row[1 + 2 * n])
        severity = _severity(c, count, rows)
        checks.append(
            {
                "check": c.kind,
                "target": c.target,
                "source": c.source,
                "count": count,
                "pct": round(100.0 * count / rows, 3) if rows else 0.0,
                "severity": severity,
                "examples": list(row[2 + 2 * n] or []) if count else [],
                "label": CHECK_LABELS[c.kind],
                "message": c.message,
            }
        )
    base = 1 + 2 * len(plan.checks)
    for n, (ratio, _) in enumerate(ratios):
        check = _ratio_check(ratio, row[base + n])
        if check:
            checks.append(check)
    status = _worst([c["severity"] for c in checks])
    return {"status": status, "rows": rows, "coverage": cov, "checks": checks, "summary": _summary(checks)}


def _ratio_aggregates(columns: list[Column]) -> list[tuple[tuple, str]]:
    """Median of each plausibility ratio whose two fields are mapped (see rmis.PLAUSIBLE_RATIOS)."""
    by_target = {c.target: i for i, c in enumerate(columns)}
    out = []
    for ratio in PLAUSIBLE_RATIOS:
        _, num, den, factor, *_ = ratio
        if num in by_target and den in by_target:
            n, d = f'"t{by_target[num]}"', f'"t{by_target[den]}"'
            expr = f"median({float(factor)} * CAST({n} AS DOUBLE) / {d}) FILTER (WHERE {d} > 0 AND {n} > 0)"
            out.append((ratio, expr))
    return out


def _ratio_check(ratio: tuple, value) -> dict | None:
    name, num, den, _, low, high, unit = ratio
    if value is None or low <= float(value) <= high:
        return None
    hint = (
        "too high: is it still in micros or cents?"
        if float(value) > high
        else "too low: was it divided twice?"
    )
    return {
        "check": "implausible_scale", "target": num, "source": f"median {name} = {num} / {den}", "count": 0,
        "pct": None, "severity": "error", "examples": [f"{float(value):.4g}"], "label": CHECK_LABELS["implausible_scale"],
        "message": f"median {name} {float(value):.4g} is outside the plausible {low:g}–{high:g} {unit}; {num} looks {hint}",
    }  # fmt: skip


def _summary(checks: list[dict]) -> dict:
    out: dict[str, int] = {}
    for c in checks:
        out[c["check"]] = out.get(c["check"], 0) + (c["count"] or (1 if c["severity"] == "error" else 0))
    return out
