"""The guide's five demo data sources, generated deterministically (fixed seed) with numpy and written by DuckDB."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
from django.db import transaction

from datasets_app.mappings import services as svc
from datasets_app.mappings import sources as sources_svc
from datasets_app.mappings.rmis import PLACEMENT_TYPES
from datasets_app.models import DataSource, SchemaMapping
from rmnconsole.core.paths import SOURCES, data_dir

GENERATOR_VERSION = 3
START = np.datetime64("2024-02-15T00:00:00", "s")  # spans the US (Mar 10) and EU (Mar 31) DST changes
DAYS = 60
CATEGORIES = ("grocery", "beauty", "electronics", "household", "pet", "baby")
BRANDS = (
    "Acme",
    "Brightway",
    "Cedar & Co",
    "Dunmore",
    "Everleaf",
    "Fabrica",
    "Glowline",
    "Harbor",
    "Ionix",
    "Juniper",
)
ALPHA_BANNERS = (("alpha_us", "America/New_York", "USD", 0.6), ("alpha_ca", "America/Toronto", "CAD", 0.25),
                 ("alpha_mx", "America/Mexico_City", "MXN", 0.15))  # fmt: skip
ALPHA_TYPES = (("sp", 0.6), ("sd", 0.25), ("onsite_disp", 0.15))
BETA_BANNERS = (("BETA_UK", "GBP", 0.55), ("BETA_DE", "EUR", 0.45))
BETA_PLACEMENTS = (("SPONSORED_PRODUCTS", 0.5), ("SPONSORED_BRANDS", 0.15), ("DISPLAY_ONSITE", 0.2),
                   ("DISPLAY_OFFSITE", 0.12), ("sponsored_products", 0.025), ("NATIVE", 0.005))  # fmt: skip
PRODUCTS = 400
# The priors and performance demo sources cover every RMIS placement but in-store.
PLACEMENTS = tuple(p for p in PLACEMENT_TYPES if p != "in_store")


@dataclass(frozen=True)
class DemoSource:
    name: str
    filename: str
    format: str
    kind: str
    retailer: str
    description: str
    time_column: str = ""
    time_format: str = "iso"
    time_zone: str = "UTC"
    retailer_column: str = ""
    type_column: str = ""


DEMO_SOURCES = (
    DemoSource("Retailer Alpha Events", "retailer_alpha_events.csv", "csv", "events", "retailer_alpha",
               "Ad events as Alpha exports them: adType codes, cost in micros, local time with offset, 7-day click attribution.",
               "timestamp", "iso", "America/New_York", "retailer", "adType"),
    DemoSource("Retailer Beta Events", "retailer_beta_events.jsonl", "jsonl", "events", "retailer_beta",
               "Beta's JSON lines: epoch milliseconds, spend in currency units, upper-case placements, 14-day orders, "
               "GTINs instead of SKUs, and the odd record without clicks.",
               "eventTime", "epoch_ms", "UTC", "banner", "placement"),
    DemoSource("SKU Catalog", "sku_catalog.csv", "csv", "catalog", "",
               "SKU ↔ GTIN ↔ retailer item id, with brand, category and list price.", "", "iso", "UTC", "", "category"),
    DemoSource("Uplift Priors", "uplift_priors.csv", "csv", "priors", "",
               "Prior estimates of incremental lift per category and placement, from past incrementality tests.",
               "", "iso", "UTC", "", "placement_type"),
    DemoSource("Performance Metrics", "performance_metrics.parquet", "parquet", "metrics", "",
               "Daily RMIS aggregates per banner and placement with CTR, CPC and ROAS.",
               "date", "date", "UTC", "retailer", "placement_type"),
)  # fmt: skip


def _enum(pairs, unmapped="null", case_insensitive=False):
    return {"type": "enum_map", "pairs": [{"source": s, "target": t} for s, t in pairs], "unmapped": unmapped,
            "case_insensitive": case_insensitive}  # fmt: skip


# The guide's example (adType → placement_type, cost_micros /1000000, timestamp to_utc, conv_click_7d none) plus the rest.
ALPHA_RULES = [
    {"source": "timestamp", "target": "ts", "transform": {"type": "to_utc", "input_format": "iso", "timezone": "America/New_York"}},
    {"source": "timestamp", "target": "date", "transform": {"type": "to_utc", "input_format": "iso", "timezone": "America/New_York"}},
    {"source": "retailer", "target": "retailer", "transform": {"type": "none"}},
    {"source": "campaign", "target": "campaign_id", "transform": {"type": "trim"}},
    {"source": "ad_group", "target": "ad_group_id", "transform": {"type": "none"}},
    {"source": "adType", "target": "placement_type",
     "transform": _enum([("sp", "sponsored_product"), ("sd", "sponsored_display"), ("onsite_disp", "onsite_display")], "error")},
    {"source": "adType", "target": "channel", "transform": _enum([("sp", "onsite"), ("sd", "onsite"), ("onsite_disp", "onsite")])},
    {"source": "SKU", "target": "sku", "transform": {"type": "none"}},
    {"source": "impressions", "target": "impressions", "transform": {"type": "none"}},
    {"source": "clicks", "target": "clicks", "transform": {"type": "none"}},
    {"source": "cost_micros", "target": "cost", "transform": {"type": "scale", "operation": "divide", "factor": 1000000}},
    {"source": "currency", "target": "currency", "transform": {"type": "none"}},
    {"source": "conv_click_7d", "target": "conversions", "transform": {"type": "none"}},
    {"source": "sales_click_7d", "target": "attributed_sales", "transform": {"type": "none"}},
    {"source": None, "target": "attribution_window_days", "transform": {"type": "constant", "value": 7}},
]  # fmt: skip

_BETA_PLACEMENT_PAIRS = [("SPONSORED_PRODUCTS", "sponsored_product"), ("SPONSORED_BRANDS", "sponsored_brand"),
                         ("DISPLAY_ONSITE", "onsite_display"), ("DISPLAY_OFFSITE", "offsite_display")]  # fmt: skip
BETA_RULES_V1 = [
    {"source": "eventTime", "target": "ts", "transform": {"type": "to_utc", "input_format": "epoch_ms"}},
    {"source": "eventTime", "target": "date", "transform": {"type": "to_utc", "input_format": "epoch_ms"}},
    {"source": "banner", "target": "retailer", "transform": {"type": "lowercase"}},
    {"source": "campaignId", "target": "campaign_id", "transform": {"type": "cast", "to": "string"}},
    {"source": "lineItemId", "target": "ad_group_id", "transform": {"type": "cast", "to": "string"}},
    {"source": "placement", "target": "placement_type", "transform": _enum(_BETA_PLACEMENT_PAIRS, "null", True)},
    {"source": "placement", "target": "channel",
     "transform": _enum([(s, "offsite" if "OFFSITE" in s else "onsite") for s, _ in _BETA_PLACEMENT_PAIRS], "null", True)},
    {"source": "gtin", "target": "gtin", "transform": {"type": "none"}},
    {"source": "impr", "target": "impressions", "transform": {"type": "none"}},
    {"source": "clk", "target": "clicks", "transform": {"type": "default", "value": 0}},
    {"source": "spend", "target": "cost", "transform": {"type": "none"}},
    {"source": "currencyCode", "target": "currency", "transform": {"type": "trim"}},
    {"source": "orders_14d", "target": "conversions", "transform": {"type": "none"}},
    {"source": "revenue_14d", "target": "attributed_sales", "transform": {"type": "none"}},
    {"source": "units_14d", "target": "attributed_units", "transform": {"type": "none"}},
    {"source": None, "target": "attribution_window_days", "transform": {"type": "constant", "value": 14}},
]  # fmt: skip
# v2 (a Draft in the demo) also maps Beta's rare NATIVE placement, which v1 leaves null (⚠️).
_V2_EXTRA = {"placement_type": ("NATIVE", "onsite_display"), "channel": ("NATIVE", "onsite")}
BETA_RULES_V2 = [
    {**r, "transform": {**r["transform"], "pairs": [*r["transform"]["pairs"], {"source": _V2_EXTRA[r["target"]][0],
                                                                              "target": _V2_EXTRA[r["target"]][1]}]}}
    if r["target"] in _V2_EXTRA else r
    for r in BETA_RULES_V1
]  # fmt: skip


def _choice(rng: np.random.Generator, options, n: int) -> np.ndarray:
    values = [o[0] for o in options]
    weights = np.array([o[-1] for o in options], dtype=float)
    return rng.choice(np.arange(len(values)), size=n, p=weights / weights.sum())


def _products(rng: np.random.Generator) -> pa.Table:
    idx = np.arange(1, PRODUCTS + 1)
    gtin12 = 400000000000 + rng.choice(99999999, size=PRODUCTS, replace=False)
    return pa.table(
        {
            "sku": [f"ALP-SKU-{i:05d}" for i in idx],
            "gtin": [f"{g:013d}" for g in gtin12],
            "retailer_item_id": [f"B0{(i * 7919) % 10**8:08d}" for i in idx],
            "brand": [BRANDS[i % len(BRANDS)] for i in rng.integers(0, len(BRANDS), PRODUCTS)],
            "category": [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), PRODUCTS)],
            "price": np.round(rng.uniform(1.5, 120.0, PRODUCTS), 2),
            "currency": ["USD"] * PRODUCTS,
        }
    )


def _delivery(rng: np.random.Generator, n: int, display: np.ndarray):
    impressions = np.maximum(1, rng.lognormal(5.5, 1.1, n)).astype(np.int64)
    ctr = np.where(display, rng.uniform(0.001, 0.004, n), rng.uniform(0.003, 0.02, n))
    clicks = rng.binomial(impressions, ctr)
    cpc = rng.uniform(0.3, 2.5, n)
    cpm = rng.uniform(4.0, 15.0, n)
    cost = np.where(display, impressions * cpm / 1000.0, clicks * cpc)
    conversions = rng.binomial(clicks, 0.08)
    return impressions, clicks, cost, conversions


def _alpha(rng: np.random.Generator, n: int, products: pa.Table) -> pa.Table:
    epoch = np.sort(START.astype(np.int64) + rng.integers(0, DAYS * 86400, n))
    banner = _choice(rng, ALPHA_BANNERS, n)
    kind = _choice(rng, ALPHA_TYPES, n)
    impressions, clicks, cost, conv = _delivery(rng, n, kind == 2)
    price = np.asarray(products["price"])[rng.integers(0, PRODUCTS, n)]
    campaign = rng.integers(1, 41, n)
    campaign_txt = np.char.add("ALP-CMP-", np.char.zfill(campaign.astype(str), 4))
    padded = rng.random(n) < 0.02  # an export quirk: trailing spaces on some campaign ids
    return pa.table(
        {
            "event_id": [f"A{i:08d}" for i in range(1, n + 1)],
            "epoch": epoch,
            "tz": np.array([b[1] for b in ALPHA_BANNERS])[banner],
            "retailer": np.array([b[0] for b in ALPHA_BANNERS])[banner],
            "campaign": np.where(padded, np.char.add(campaign_txt, "  "), campaign_txt),
            "ad_group": np.char.add(np.char.add(campaign_txt, "-AG"), rng.integers(1, 6, n).astype(str)),
            "adType": np.array([t[0] for t in ALPHA_TYPES])[kind],
            "SKU": np.asarray(products["sku"])[rng.integers(0, PRODUCTS, n)],
            "impressions": impressions,
            "clicks": clicks,
            "cost_micros": np.round(cost * 1_000_000).astype(np.int64),
            "conv_click_7d": conv,
            "sales_click_7d": np.round(conv * price, 2),
            "currency": np.array([b[2] for b in ALPHA_BANNERS])[banner],
        }
    )


ALPHA_SQL = """
SELECT event_id,
  strftime(timezone(tz, to_timestamp(epoch)), '%Y-%m-%dT%H:%M:%S')
    || CASE WHEN off < 0 THEN '-' ELSE '+' END
    || lpad(CAST(abs(off) // 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(abs(off) % 60 AS VARCHAR), 2, '0') AS "timestamp",
  retailer, campaign, ad_group, "adType", "SKU", impressions, clicks, cost_micros, conv_click_7d, sales_click_7d, currency
FROM (SELECT *, date_diff('minute', CAST(to_timestamp(epoch) AS TIMESTAMP), timezone(tz, to_timestamp(epoch))) AS off
      FROM alpha_raw)
"""


def _beta_lines(rng: np.random.Generator, n: int, products: pa.Table):
    epoch_ms = np.sort(START.astype(np.int64) * 1000 + rng.integers(0, DAYS * 86400 * 1000, n))
    banner = _choice(rng, BETA_BANNERS, n)
    placement = _choice(rng, BETA_PLACEMENTS, n)
    names = [p[0] for p in BETA_PLACEMENTS]
    impressions, clicks, cost, orders = _delivery(rng, n, np.isin(placement, [2, 3]))
    gtins = np.asarray(products["gtin"])[rng.integers(0, PRODUCTS, n)]
    prices = np.asarray(products["price"])[rng.integers(0, PRODUCTS, n)]
    units = orders + rng.binomial(orders, 0.3)
    missing_clicks = rng.random(n) < 0.01  # some records come without the clk key at all
    halo = rng.random(n) < 0.3
    campaign = rng.integers(5000, 5031, n)
    line_item = campaign * 10 + rng.integers(1, 4, n)
    for i in range(n):
        b = BETA_BANNERS[banner[i]]
        record = {
            "eventTime": int(epoch_ms[i]),
            "banner": b[0],
            "campaignId": int(campaign[i]),
            "lineItemId": int(line_item[i]),
            "placement": names[placement[i]],
            "gtin": gtins[i],
            "impr": int(impressions[i]),
            "clk": int(clicks[i]),
            "spend": round(float(cost[i]), 2),
            "currencyCode": b[1],
            "orders_14d": int(orders[i]),
            "units_14d": int(units[i]),
            "revenue_14d": round(float(units[i] * prices[i]), 2),
            "attribution": "halo" if halo[i] else "same_sku",
            "meta": {"api": "beta-reporting", "schemaVersion": 3},
        }
        if missing_clicks[i]:
            del record["clk"]
        yield orjson.dumps(record)


def _priors(rng: np.random.Generator) -> pa.Table:
    rows = [(c, p) for c in CATEGORIES for p in PLACEMENTS]
    return pa.table(
        {
            "category": [r[0] for r in rows],
            "placement_type": [r[1] for r in rows],
            "prior_lift_mean": np.round(rng.uniform(0.02, 0.25, len(rows)), 4),
            "prior_lift_sd": np.round(rng.uniform(0.01, 0.08, len(rows)), 4),
            "n_tests": rng.integers(2, 40, len(rows)),
            "updated": ["2024-01-31"] * len(rows),
        }
    )


def _metrics(rng: np.random.Generator) -> pa.Table:
    banners = [b[0] for b in ALPHA_BANNERS] + [b[0].lower() for b in BETA_BANNERS]
    currency = [b[2] for b in ALPHA_BANNERS] + [b[1] for b in BETA_BANNERS]
    keys = [(d, i, p) for d in range(DAYS) for i in range(len(banners)) for p in PLACEMENTS]
    n = len(keys)
    impressions, clicks, cost, conversions = _delivery(
        rng, n, np.array([k[2].endswith("display") for k in keys])
    )
    impressions, clicks, conversions = impressions * 40, clicks * 40, conversions * 40
    cost = np.round(cost * 40, 2)
    sales = np.round(conversions * rng.uniform(8, 60, n), 2)
    return pa.table(
        {
            "date": pa.array(
                np.datetime64("2024-02-15", "D") + np.array([k[0] for k in keys], dtype="timedelta64[D]")
            ),
            "retailer": [banners[k[1]] for k in keys],
            "placement_type": [k[2] for k in keys],
            "currency": [currency[k[1]] for k in keys],
            "impressions": impressions,
            "clicks": clicks,
            "cost": cost,
            "conversions": conversions,
            "attributed_sales": sales,
            "ctr": np.round(clicks / np.maximum(impressions, 1), 5),
            "cpc": np.round(cost / np.maximum(clicks, 1), 4),
            "roas": np.round(sales / np.maximum(cost, 0.01), 4),
        }
    )


def _atomic_copy(con: duckdb.DuckDBPyConnection, sql: str, dest: Path, options: str) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    con.execute(f"COPY ({sql}) TO $p {options}", {"p": str(tmp)})
    os.replace(tmp, dest)


def write_alpha_csv(dest: Path, rows: int, seed: int = 7) -> Path:
    """Only the Retailer Alpha events file (the benchmark's 1M-row input); the same rows as in write_demo_files."""
    rng = np.random.default_rng(seed)
    products = _products(rng)
    con = duckdb.connect(":memory:", config={"threads": 2, "preserve_insertion_order": True})
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.register("alpha_raw", _alpha(rng, rows, products))
        _atomic_copy(con, ALPHA_SQL, dest, "(FORMAT csv, HEADER true)")
    finally:
        con.close()
    return dest


def write_demo_files(
    folder: Path, rows: int = 20_000, seed: int = 7, *, force: bool = False
) -> list[DemoSource]:
    """Write the five demo files into `folder` (skipped when the same rows/seed are already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    wanted = {"rows": rows, "seed": seed, "generator": GENERATOR_VERSION}
    present = all((folder / s.filename).exists() for s in DEMO_SOURCES)
    if not force and present and manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return list(DEMO_SOURCES)
    rng = np.random.default_rng(seed)
    products = _products(rng)
    con = duckdb.connect(":memory:", config={"threads": 2, "preserve_insertion_order": True})
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.register("products", products)
        con.register("alpha_raw", _alpha(rng, rows, products))
        con.register("priors", _priors(rng))
        con.register("metrics", _metrics(rng))
        _atomic_copy(con, ALPHA_SQL, folder / "retailer_alpha_events.csv", "(FORMAT csv, HEADER true)")
        _atomic_copy(con, "SELECT * FROM products", folder / "sku_catalog.csv", "(FORMAT csv, HEADER true)")
        _atomic_copy(con, "SELECT * FROM priors", folder / "uplift_priors.csv", "(FORMAT csv, HEADER true)")
        _atomic_copy(con, "SELECT * FROM metrics", folder / "performance_metrics.parquet", "(FORMAT parquet)")
    finally:
        con.close()
    beta = folder / "retailer_beta_events.jsonl"
    tmp = beta.with_name(f".{beta.name}.tmp")
    with tmp.open("wb") as fh:
        for line in _beta_lines(rng, rows, products):
            fh.write(line + b"\n")
    os.replace(tmp, beta)
    manifest.write_text(json.dumps(wanted))
    return list(DEMO_SOURCES)


def demo_source_dict(source: DemoSource) -> dict:
    return asdict(source)


# --- seeding: files, sources and the guide's example mappings -------------------------------------------------


def seed_demo(*, rows: int = 20_000, force: bool = False, user=None) -> dict:
    """Write the five demo sources, register them, and create the guide's Alpha mapping (Active) and Beta's (v1 Active,
    v2 Draft). Idempotent: existing mappings are left alone."""
    folder = data_dir(SOURCES) / "demo"
    demo = write_demo_files(folder, rows=rows, force=force)
    sources = {}
    for d in demo:
        sources[d.name] = sources_svc.register_source(
            folder / d.filename, name=d.name, retailer=d.retailer, kind=d.kind, description=d.description,
            time_column=d.time_column, time_format=d.time_format, time_zone=d.time_zone,
            retailer_column=d.retailer_column, type_column=d.type_column, user=user, is_demo=True,
        )  # fmt: skip
    created = []
    plans = [
        ("Retailer Alpha Events", "alpha_events_to_rmis", "retailer_alpha", [ALPHA_RULES], "The guide's example mapping."),
        ("Retailer Beta Events", "beta_events_to_rmis", "retailer_beta", [BETA_RULES_V1, BETA_RULES_V2],
         "v1 leaves Beta's rare NATIVE placement unmapped; the v2 draft maps it."),
    ]  # fmt: skip
    for source_name, name, retailer, versions, notes in plans:
        source = sources[source_name]
        if SchemaMapping.objects.filter(retailer=retailer, source=source).exists():
            continue
        with transaction.atomic():
            created += _seed_versions(source, name, retailer, versions, notes, user)
    datasets = _seed_training_datasets(user)
    return {
        "folder": str(folder),
        "rows": rows,
        "sources": sorted(sources),
        "mappings_created": created,
        "datasets_created": datasets,
    }


# SFT: 200 examples, so the demo adapter's 40 steps × batch 4 (training.engine.config.DEMO_ADAPTER_PRESET) see each
# training example once; records outside this sample are the held-out ones benchmarks/smollm2_demo.py scores.
DEMO_DATASETS = (("demo_alpha_rmis_sft", "sft", 200), ("demo_alpha_rmis_dpo", "dpo", 64))


def _seed_training_datasets(user) -> list[str]:
    """A ready SFT and DPO set from the Alpha mapping, so a fresh console's first training run has data to pick."""
    from datasets_app.models import Dataset

    alpha = (
        SchemaMapping.objects.filter(name="alpha_events_to_rmis", status="active")
        .order_by("-version")
        .first()
    )
    created = []
    for name, kind, examples in DEMO_DATASETS:
        if alpha is None or Dataset.objects.filter(name=name).exists():
            continue
        svc.build_training_dataset(alpha, examples=examples, name=name, seed=0, user=user, kind=kind)
        created.append(name)
    return created


def _seed_versions(
    source: DataSource, name: str, retailer: str, versions: list, notes: str, user
) -> list[str]:
    created = []
    first = svc.create_mapping(
        name=name, retailer=retailer, source=source, rules=versions[0], notes=notes, user=user
    )
    first = svc.activate_mapping(first, user=user)
    created.append(f"{name} v1 (active)")
    for later in versions[1:]:
        draft = svc.update_draft(svc.edit_mapping(first, user=user), rules=later, user=user)
        svc.validate_mapping(draft)
        created.append(f"{name} v{draft.version} (draft)")
    return created
