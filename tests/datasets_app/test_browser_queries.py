"""Data-browser queries on the generated Alpha file, checked against an independent oracle (Python's csv module)."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from datasets_app.mappings import demo as sample_data
from datasets_app.mappings.harmonize import browser
from datasets_app.mappings.harmonize.browser import ColumnFilter, Query, TimeSpec
from datasets_app.mappings.harmonize.rules import parse_rules
from tests.datasets_app.mapping_helpers import V1, Engine

ROWS = 3000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    sample_data.write_demo_files(folder, rows=ROWS)
    return folder


@pytest.fixture
def alpha(demo):
    eng = Engine(demo)
    path = demo / "retailer_alpha_events.csv"
    meta = eng.meta(
        path,
        time=TimeSpec("timestamp", "iso", "America/New_York"),
        retailer_column="retailer",
        type_column="adType",
    )
    yield eng, meta, path
    eng.close()


@pytest.fixture(scope="module")
def oracle(demo):
    with (demo / "retailer_alpha_events.csv").open() as fh:
        return list(csv.DictReader(fh))


def _utc_day(text: str) -> dt.date:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).date()


def test_date_range_retailer_and_type_filters(alpha, oracle):
    eng, meta, _ = alpha
    q = Query(
        date_from=dt.date(2024, 3, 9),
        date_to=dt.date(2024, 3, 11),
        retailer="alpha_us",
        type="sp",
        page_size=500,
    )
    page = browser.browse(eng.con, meta, q)
    expected = [
        r for r in oracle
        if dt.date(2024, 3, 9) <= _utc_day(r["timestamp"]) <= dt.date(2024, 3, 11) and r["retailer"] == "alpha_us"
        and r["adType"] == "sp"
    ]  # fmt: skip
    assert 0 < page.total == len(expected)
    assert [r[0] for r in page.rows] == [r["event_id"] for r in expected][:500]
    assert {r[page.columns.index("retailer")] for r in page.rows} == {"alpha_us"}


def test_date_range_in_the_sources_time_zone_matches_the_local_days_rows_show(alpha, oracle):
    """Alpha rows carry New York local times: a New York day range keeps exactly the rows whose local date is in it
    (across the DST change on Mar 10), where the UTC range of the same dates keeps a different set."""
    eng, meta, _ = alpha
    days = (dt.date(2024, 3, 9), dt.date(2024, 3, 10))
    q = Query(date_from=days[0], date_to=days[1], retailer="alpha_us", tz="America/New_York", page_size=500)
    page = browser.browse(eng.con, meta, q)
    local = [
        r["event_id"] for r in oracle
        if r["retailer"] == "alpha_us" and days[0] <= dt.date.fromisoformat(r["timestamp"][:10]) <= days[1]
    ]  # fmt: skip
    assert 0 < page.total == len(local)
    assert [r[0] for r in page.rows] == local[:500]
    utc = browser.browse(
        eng.con, meta, Query(date_from=days[0], date_to=days[1], retailer="alpha_us", page_size=500)
    )
    assert {r[0] for r in utc.rows} != set(local)


def test_an_unknown_time_zone_is_refused():
    from datasets_app.mappings.sources import parse_query
    from rmnconsole.core.errors import ServiceError

    assert parse_query({"tz": "Europe/Berlin"}).tz == "Europe/Berlin"
    with pytest.raises(ServiceError, match="unknown time zone"):
        parse_query({"tz": "Mars/Olympus"})


def test_column_filters_every_operator(alpha, oracle):
    eng, meta, _ = alpha
    cases = {
        ("impressions", "gt", "1000"): lambda r: int(r["impressions"]) > 1000,
        ("impressions", "le", 50): lambda r: int(r["impressions"]) <= 50,
        ("adType", "ne", "sp"): lambda r: r["adType"] != "sp",
        ("SKU", "contains", "sku-0001"): lambda r: "sku-0001" in r["SKU"].lower(),
        ("campaign", "startswith", "ALP-CMP-000"): lambda r: r["campaign"].startswith("ALP-CMP-000"),
        ("currency", "in", "CAD, MXN"): lambda r: r["currency"] in ("CAD", "MXN"),
        ("adType", "eq", "onsite_disp"): lambda r: r["adType"] == "onsite_disp",
        ("clicks", "not_null", None): lambda r: r["clicks"] != "",
    }
    for (column, op, value), keep in cases.items():
        q = Query(filters=[ColumnFilter(column=column, op=op, value=value)], page_size=1)
        assert browser.browse(eng.con, meta, q).total == sum(1 for r in oracle if keep(r)), (column, op)


def test_pagination_and_sorting(alpha, oracle):
    eng, meta, _ = alpha
    by_impressions = sorted(oracle, key=lambda r: -int(r["impressions"]))
    seen = []
    for page_no in (1, 2, 3):
        page = browser.browse(
            eng.con, meta, Query(sort="impressions", descending=True, page=page_no, page_size=40)
        )
        assert page.pages == -(-ROWS // 40) and page.total == ROWS and len(page.rows) == 40
        seen += [r[page.columns.index("impressions")] for r in page.rows]
    assert seen == [int(r["impressions"]) for r in by_impressions[:120]]
    last = browser.browse(eng.con, meta, Query(page=page.pages, page_size=40))
    assert len(last.rows) == ROWS - 40 * (page.pages - 1)
    beyond = browser.browse(eng.con, meta, Query(page=page.pages + 5, page_size=40))
    assert beyond.rows == [] and beyond.total == ROWS


def test_column_stats_and_distinct(alpha, oracle):
    eng, meta, _ = alpha
    stats = {s["column"]: s for s in browser.column_stats(eng.con, meta, Query(type="sd"))}
    sd = [r for r in oracle if r["adType"] == "sd"]
    assert stats["impressions"]["count"] == len(sd)
    assert stats["impressions"]["nulls"] == 0
    assert int(stats["impressions"]["min"]) == min(int(r["impressions"]) for r in sd)
    assert int(stats["impressions"]["max"]) == max(int(r["impressions"]) for r in sd)
    assert stats["adType"]["distinct"] == 1
    values = dict(browser.distinct_values(eng.con, meta, "adType"))
    assert values == {t: sum(1 for r in oracle if r["adType"] == t) for t in ("sp", "sd", "onsite_disp")}


def test_beta_date_filter_on_epoch_milliseconds(demo):
    eng = Engine(demo)
    path = demo / "retailer_beta_events.jsonl"
    meta = eng.meta(
        path, time=TimeSpec("eventTime", "epoch_ms"), retailer_column="banner", type_column="placement"
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    day = dt.date(2024, 3, 31)
    expected = [
        r
        for r in records
        if dt.datetime.fromtimestamp(r["eventTime"] / 1000, dt.UTC).date() == day and r["banner"] == "BETA_DE"
    ]
    page = browser.browse(eng.con, meta, Query(date_from=day, date_to=day, retailer="BETA_DE", page_size=1))
    assert page.total == len(expected) > 0
    eng.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_raw_export_round_trip(alpha, fmt):
    eng, meta, _ = alpha
    q = Query(retailer="alpha_ca", filters=[ColumnFilter(column="clicks", op="ge", value=3)], page_size=500)
    page = browser.browse(eng.con, meta, q)
    expected = [dict(zip(page.columns, row, strict=True)) for row in page.rows]
    assert 0 < page.total <= 500
    dest = eng.folder / f"out.{fmt}"
    sql, params = browser.raw_sql(meta, q)
    browser.export(eng.con, sql, params, fmt, dest)
    if fmt == "parquet":
        back = pq.read_table(dest).to_pylist()
    elif fmt == "jsonl":
        back = [json.loads(line) for line in dest.read_text().splitlines()]
    else:
        with dest.open() as fh:
            back = list(csv.DictReader(fh))
        expected = [{k: "" if v is None else str(v) for k, v in row.items()} for row in expected]
    assert back == expected


def test_harmonized_export_parquet_round_trip(alpha, oracle):
    eng, meta, _ = alpha
    rules = parse_rules(sample_data.ALPHA_RULES)
    dest = eng.folder / "alpha_rmis.parquet"
    sql, params, _ = browser.harmonize_sql(meta, rules, V1, Query(type="onsite_disp"), strict=True)
    browser.export(eng.con, sql, params, "parquet", dest)
    table = pq.read_table(dest)
    display = [r for r in oracle if r["adType"] == "onsite_disp"]
    assert table.num_rows == len(display)
    assert table.column_names == [
        f for f in V1.field_names if f in {r["target"] for r in sample_data.ALPHA_RULES}
    ]
    assert set(table.column("placement_type").to_pylist()) == {"onsite_display"}
    costs = table.column("cost").to_pylist()
    assert costs == pytest.approx([int(r["cost_micros"]) / 1_000_000 for r in display])
    ts = table.column("ts").to_pylist()
    assert ts[0] == dt.datetime.fromisoformat(display[0]["timestamp"]).astimezone(dt.UTC)
