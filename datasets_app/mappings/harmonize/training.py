"""Mapping → training data as JSONL: sampled raw records (prompt) and their harmonized RMIS records (SFT completion),
or for DPO the correct record (chosen) against a corrupted copy (rejected) with the mistakes mappings really make."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import duckdb
import orjson

from datasets_app.mappings.harmonize.browser import Query, SourceMeta, fetch_rows, harmonize_sql
from datasets_app.mappings.harmonize.rules import Rule
from datasets_app.mappings.harmonize.sql import quote_ident
from datasets_app.mappings.rmis import RmisSchema

MAX_EXAMPLES = 100_000
PROMPT = (
    "Map this {retailer} record to the RMIS schema {schema} (field names, enums, units and UTC time). "
    "Answer with the RMIS record as JSON only.\n\nRecord:\n{record}"
)


def json_value(value):
    """Harmonized values as JSON: times in ISO 8601 UTC with Z, dates as YYYY-MM-DD."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def write_sft(
    con: duckdb.DuckDBPyConnection,
    meta: SourceMeta,
    rules: list[Rule],
    schema: RmisSchema,
    dest: Path,
    *,
    retailer: str,
    examples: int,
    seed: int = 0,
    query: Query | None = None,
    kind: str = "sft",
) -> dict:
    """Sample `examples` complete rows deterministically (hash order; rows with a null required field are left out).

    kind "sft" writes prompt/completion; "dpo" writes prompt/chosen/rejected (rejected = `corrupt_record`)."""
    examples = max(1, min(int(examples), MAX_EXAMPLES))
    inner, params, columns = harmonize_sql(meta, rules, schema, query, strict=True, raw_columns=True)
    required = [quote_ident(c.target) for c in columns if c.field.required]
    keep = " AND ".join(f"{r} IS NOT NULL" for r in required) or "TRUE"
    seed_p, limit_p = params.add(int(seed)), params.add(examples)
    sql = f'SELECT * FROM ({inner}) AS h WHERE {keep} ORDER BY hash("__raw__", {seed_p}) LIMIT {limit_p}'
    names, rows = fetch_rows(con, sql, params)
    _, counted = fetch_rows(con, f"SELECT count(*) FILTER (WHERE NOT ({keep})) FROM ({inner}) AS h", params)
    skipped = int(counted[0][0] or 0)
    targets = [c.target for c in columns]
    tmp = dest.with_name(f".{dest.name}.tmp")
    rng = random.Random(int(seed))
    with tmp.open("wb") as fh:
        for row in rows:
            record = dict(zip(names, row, strict=True))
            harmonized = {t: json_value(record[t]) for t in targets}
            prompt = PROMPT.format(retailer=retailer, schema=schema.key, record=record["__raw__"])
            answer = orjson.dumps(harmonized).decode()
            if kind == "dpo":
                rejected = orjson.dumps(corrupt_record(harmonized, schema, rng)).decode()
                line = {"prompt": prompt, "chosen": answer, "rejected": rejected}
            else:
                line = {"prompt": prompt, "completion": answer}
            fh.write(orjson.dumps(line) + b"\n")
    if not rows:
        tmp.unlink(missing_ok=True)
        return {"written": 0, "skipped_incomplete": skipped}
    os.replace(tmp, dest)
    return {"written": len(rows), "skipped_incomplete": skipped}


def corrupt_record(record: dict, schema: RmisSchema, rng: random.Random) -> dict:
    """A plausible wrong answer: a unit slip (a number ×1000), a wrong enum value, or a required field left out.

    Always differs from `record`, so every DPO pair teaches something."""
    bad = dict(record)
    numeric = [k for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool) and v]
    enums = [
        (k, [a for a in f.allowed if a != record[k]])
        for k in record
        if (f := schema.field(k)) is not None and f.allowed and len(f.allowed) > 1
    ]
    required = [k for k in record if (f := schema.field(k)) is not None and f.required]
    choices = [c for c, ok in (("scale", numeric), ("enum", enums), ("drop", required)) if ok]
    if not choices:
        bad["__invalid__"] = True
        return bad
    choice = rng.choice(choices)
    if choice == "scale":
        key = rng.choice(numeric)
        bad[key] = record[key] * 1000
    elif choice == "enum":
        key, others = rng.choice(enums)
        bad[key] = rng.choice(others)
    else:
        bad.pop(rng.choice(required))
    return bad
