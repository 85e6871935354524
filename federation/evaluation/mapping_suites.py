"""A suite from a schema mapping: held-out raw records → their expected RMIS records, harmonized by the mapping's
own engine. Records any training dataset built from this mapping (any of its versions) used are left out."""

from __future__ import annotations

import orjson

from datasets_app.mappings.harmonize.browser import fetch_rows, harmonize_sql
from datasets_app.mappings.harmonize.sql import SourceError, quote_ident
from datasets_app.mappings.harmonize.training import PROMPT, json_value
from datasets_app.mappings.services import mapping_rules, mapping_schema
from datasets_app.mappings.sources import duckdb_connection, source_meta
from datasets_app.models import Dataset
from federation.evaluation.models import EvalSuite
from federation.evaluation.suites import MAPPING_METRICS, create_suite
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import data_root

MAX_MAPPING_CASES = 500


def training_prompts(mapping) -> set[str]:
    """Every prompt in the datasets built from this mapping's versions (the build names its files _mapping<id>_)."""
    ids = list(
        type(mapping)
        .objects.for_key(mapping.retailer, mapping.source_id, mapping.target_schema, mapping.target_version)
        .values_list("pk", flat=True)
    )
    used: set[str] = set()
    for dataset in Dataset.objects.all().only("path"):
        if not any(f"_mapping{pk}_" in dataset.path for pk in ids):
            continue
        path = data_root() / dataset.path
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            for line in handle:
                try:
                    prompt = orjson.loads(line).get("prompt")
                except (orjson.JSONDecodeError, AttributeError):
                    continue
                if isinstance(prompt, str):
                    used.add(prompt)
    return used


def heldout_cases(mapping, examples: int, seed: int = 0) -> tuple[list[dict], int]:
    """`examples` complete records in the build's own hash order, skipping those the training sets hold."""
    schema = mapping_schema(mapping)
    meta = source_meta(mapping.source)
    used = training_prompts(mapping)
    inner, params, columns = harmonize_sql(
        meta, mapping_rules(mapping), schema, None, strict=True, raw_columns=True
    )
    required = [quote_ident(c.target) for c in columns if c.field.required]
    keep = " AND ".join(f"{r} IS NOT NULL" for r in required) or "TRUE"
    seed_p, limit_p = params.add(int(seed)), params.add(int(examples) + len(used))
    sql = f'SELECT * FROM ({inner}) AS h WHERE {keep} ORDER BY hash("__raw__", {seed_p}) LIMIT {limit_p}'
    with duckdb_connection() as con:
        try:
            names, rows = fetch_rows(con, sql, params)
        except SourceError as exc:
            raise ServiceError(f"Harmonizing failed: {exc}", field="mapping") from None
    targets = [c.target for c in columns]
    cases, skipped = [], 0
    for row in rows:
        record = dict(zip(names, row, strict=True))
        prompt = PROMPT.format(retailer=mapping.source.name, schema=schema.key, record=record["__raw__"])
        if prompt in used:
            skipped += 1
            continue
        reference = orjson.dumps({t: json_value(record[t]) for t in targets}).decode()
        cases.append({"prompt": prompt, "reference": reference})
        if len(cases) >= examples:
            break
    return cases, skipped


def create_suite_from_mapping(
    *, mapping, name: str = "", examples: int = 50, metrics=None, seed: int = 0, user=None, **options
) -> EvalSuite:
    if isinstance(examples, bool) or not isinstance(examples, int) or not 1 <= examples <= MAX_MAPPING_CASES:
        raise ServiceError(f"Examples must be between 1 and {MAX_MAPPING_CASES}.", field="examples")
    cases, skipped = heldout_cases(mapping, examples, seed)
    if not cases:
        raise ServiceError(
            f"Mapping {mapping.name} v{mapping.version} has no complete record outside its training sets.",
            field="mapping",
        )
    options.setdefault("max_new_tokens", 256)
    return create_suite(
        name=name or f"{mapping.name}-heldout", cases=cases, metrics=metrics or MAPPING_METRICS,
        source=EvalSuite.Source.MAPPING, mapping=mapping, user=user,
        source_note=f"held-out records of {mapping.name} v{mapping.version} ({skipped} training records left out)",
        **options,
    )  # fmt: skip
