"""Compile mapping rules into DuckDB SQL expressions: one SELECT, quoted identifiers, every value bound."""

from __future__ import annotations

from dataclasses import dataclass

from datasets_app.mappings.harmonize.rules import (
    Cast,
    Constant,
    Default,
    EnumMap,
    Lowercase,
    NoneTransform,
    Rule,
    RuleError,
    Scale,
    ToUtc,
    Trim,
    check_rules,
    parse_offset,
)
from datasets_app.mappings.harmonize.sql import Params, quote_ident
from datasets_app.mappings.rmis import RmisField, RmisSchema

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
# An ISO time that carries its own offset (Z, UTC, +05:30, -0400, -04).
HAS_OFFSET_RE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|UTC|[+-]\d{2}(:?\d{2})?)$"
EPOCH_LIMIT_S = 1e11  # year ~5138: anything larger is not seconds


@dataclass
class Column:
    """One harmonized output column and what validation needs to know about it."""

    target: str
    field: RmisField
    rule: Rule
    expr: str  # typed as the target's DuckDB type
    source_expr: str | None = None  # the quoted source column
    enum_key: str | None = None  # enum_map: the (folded) text that is looked up
    enum_keys: str | None = None  # enum_map: bound list of known keys
    local_expr: str | None = None  # to_utc with a named zone: the local TIMESTAMP before conversion
    local_applies: str | None = None  # … and the condition under which that zone was used


def is_numeric(duck_type: str) -> bool:
    return duck_type.upper().split("(")[0] in NUMERIC


WHITESPACE = "' ' || chr(9) || chr(10) || chr(13)"


def _trim(text: str) -> str:
    return f"trim({text}, {WHITESPACE})"


def _text(col: str, duck_type: str) -> str:
    return col if duck_type.upper() == "VARCHAR" else f"CAST({col} AS VARCHAR)"


def _local_to_utc(local: str, t: ToUtc, params: Params) -> str:
    """A local TIMESTAMP → TIMESTAMPTZ in UTC, for a zone name or a fixed offset."""
    offset = parse_offset(t.timezone)
    if offset is not None:
        return f"timezone('UTC', {local} - to_minutes(CAST({params.add(offset)} AS BIGINT)))"
    if t.timezone == "UTC":
        return f"timezone('UTC', {local})"
    return f"timezone({params.add(t.timezone)}, {local})"


def _epoch(value: str, unit: str) -> str:
    """Epoch seconds or milliseconds (DOUBLE) → TIMESTAMPTZ; out-of-range numbers become NULL, not errors."""
    limit = EPOCH_LIMIT_S * (1000 if unit == "epoch_ms" else 1)
    micros = f"CAST(round({value} * {1000 if unit == 'epoch_ms' else 1000000}) AS BIGINT)"
    return f"CASE WHEN abs({value}) < {limit:.0f} THEN timezone('UTC', make_timestamp({micros})) END"


def to_utc_expr(col: str, duck_type: str, t: ToUtc, params: Params, column: Column) -> str:
    base = duck_type.upper()
    named_zone = parse_offset(t.timezone) is None and t.timezone != "UTC"
    if base.startswith("TIMESTAMP WITH TIME ZONE") or base == "TIMESTAMPTZ":
        return col
    if base.startswith("TIMESTAMP") or base == "DATE":
        local = f"CAST({col} AS TIMESTAMP)"
        if named_zone:
            column.local_expr, column.local_applies = local, "TRUE"
        return _local_to_utc(local, t, params)
    if is_numeric(base) and t.input_format in ("epoch_s", "epoch_ms"):
        return _epoch(f"CAST({col} AS DOUBLE)", t.input_format)
    text = _text(col, duck_type)
    if t.input_format in ("epoch_s", "epoch_ms"):
        return _epoch(f"TRY_CAST({text} AS DOUBLE)", t.input_format)
    if t.input_format == "strptime":
        parsed = f"try_strptime({text}, {params.add(t.pattern)})"
        if t.pattern_has_offset:
            return parsed
        local, applies = parsed, "TRUE"
        expr = _local_to_utc(local, t, params)
    elif t.input_format == "date":
        local, applies = f"CAST(TRY_CAST({text} AS DATE) AS TIMESTAMP)", "TRUE"
        expr = _local_to_utc(local, t, params)
    else:
        has_offset = f"regexp_matches({text}, '{HAS_OFFSET_RE}')"
        local, applies = f"TRY_CAST({text} AS TIMESTAMP)", f"NOT {has_offset}"
        expr = f"CASE WHEN {has_offset} THEN TRY_CAST({text} AS TIMESTAMPTZ) ELSE {_local_to_utc(local, t, params)} END"
    if named_zone:
        column.local_expr, column.local_applies = local, applies
    return expr


def _cast(col: str, duck_type: str, to: str) -> str:
    text = _text(col, duck_type)
    if to == "int":
        # Refuse lossy casts: '3.7' is a cast failure, not 4.
        return f"CASE WHEN TRY_CAST({text} AS DOUBLE) = TRY_CAST({text} AS BIGINT) THEN TRY_CAST({text} AS BIGINT) END"
    if to == "float":
        return f"TRY_CAST({col} AS DOUBLE)"
    if to == "bool":
        folded = f"lower(trim({text}))"
        return (
            f"CASE WHEN {folded} IN ('true', 't', 'yes', 'y', '1') THEN TRUE "
            f"WHEN {folded} IN ('false', 'f', 'no', 'n', '0') THEN FALSE END"
        )
    if to == "date":
        return f"TRY_CAST({col} AS DATE)"
    return text


def _enum_map(col: str, duck_type: str, t: EnumMap, params: Params, column: Column, strict: bool) -> str:
    text = _text(col, duck_type)
    key = f"lower({text})" if t.case_insensitive else text
    sources = [p.source.lower() if t.case_insensitive else p.source for p in t.pairs]
    column.enum_key = key
    column.enum_keys = params.add(sources)
    whens = " ".join(
        f"WHEN {key} = {params.add(s)} THEN {params.add(p.target)}"
        for s, p in zip(sources, t.pairs, strict=True)
    )
    if t.unmapped == "pass_through":
        other = text
    elif t.unmapped == "error" and strict:
        other = f"error('unmapped value for ' || {params.add(column.rule.source)} || ': ' || {text})"
    else:
        other = "NULL"
    return f"CASE WHEN {text} IS NULL THEN NULL {whens} ELSE {other} END"


def _expression(
    rule: Rule, field: RmisField, col_types: dict[str, str], params: Params, column: Column, strict: bool
) -> str:
    t = rule.transform
    if isinstance(t, Constant):
        return params.add(t.value)
    col = quote_ident(rule.source)  # type: ignore[arg-type]
    duck_type = col_types[rule.source]  # type: ignore[index]
    column.source_expr = col
    if isinstance(t, NoneTransform):
        return col
    if isinstance(t, EnumMap):
        return _enum_map(col, duck_type, t, params, column, strict)
    if isinstance(t, Scale):
        number = f"TRY_CAST({col} AS DOUBLE)"
        return f"({number} {'/' if t.operation == 'divide' else '*'} {params.add(float(t.factor))})"
    if isinstance(t, ToUtc):
        return to_utc_expr(col, duck_type, t, params, column)
    if isinstance(t, Cast):
        return _cast(col, duck_type, t.to)
    if isinstance(t, Default):
        return f"coalesce(nullif({_trim(_text(col, duck_type))}, ''), CAST({params.add(t.value)} AS VARCHAR))"
    if isinstance(t, Lowercase):
        return f"lower({_text(col, duck_type)})"
    if isinstance(t, Trim):
        return _trim(_text(col, duck_type))
    raise RuleError([{"rule": None, "field": "transform", "msg": f"unknown transform {t!r}"}])


INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
TEXT_RESULTS = (EnumMap, Lowercase, Trim, Default)


def _typed(expr: str, field: RmisField, rule: Rule, source_type: str | None) -> str:
    """Cast the rule's result to the target type; failures become NULL and are counted by validation.
    Casts that cannot fail are written as plain casts (or nothing), which keeps 1M-row harmonization cheap."""
    t = rule.transform
    base = (source_type or "").upper().split("(")[0]
    plain = isinstance(t, NoneTransform)
    if field.type == "timestamp" and isinstance(t, ToUtc):
        return expr
    if field.type == "date" and isinstance(t, ToUtc):
        return f"CAST({expr} AS DATE)"
    if field.type == "int":
        if plain and base in INTEGERS:
            return f"CAST({expr} AS BIGINT)"
        return f"CASE WHEN TRY_CAST({expr} AS DOUBLE) = TRY_CAST({expr} AS BIGINT) THEN TRY_CAST({expr} AS BIGINT) END"
    if field.type == "float" and (isinstance(t, Scale) or (plain and is_numeric(base))):
        return f"CAST({expr} AS DOUBLE)"
    if field.duckdb_type == "VARCHAR" and (isinstance(t, TEXT_RESULTS) or (plain and base == "VARCHAR")):
        return expr
    return f"TRY_CAST({expr} AS {field.duckdb_type})"


def compile_columns(
    rules: list[Rule], schema: RmisSchema, col_types: dict[str, str], params: Params, *, strict: bool = False
) -> list[Column]:
    """Columns in schema order. `strict` makes enum_map's 'error' policy raise inside DuckDB instead of yielding NULL."""
    problems = check_rules(rules, schema, list(col_types))
    if problems:
        raise RuleError(problems)
    by_target = {r.target: r for r in rules}
    columns = []
    for field in schema.fields:
        rule = by_target.get(field.name)
        if rule is None:
            continue
        column = Column(target=field.name, field=field, rule=rule, expr="")
        source_type = col_types.get(rule.source) if rule.source else None
        column.expr = _typed(
            _expression(rule, field, col_types, params, column, strict), field, rule, source_type
        )
        columns.append(column)
    return columns


def select_list(columns: list[Column]) -> str:
    return ", ".join(f"{c.expr} AS {quote_ident(c.target)}" for c in columns) or 'NULL AS "(no rules)"'
