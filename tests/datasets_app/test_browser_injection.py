"""Injection attempts in column names, sort keys, rules and filter values are refused or neutralised; DuckDB is locked."""

from __future__ import annotations

import duckdb
import pytest

from datasets_app.mappings.harmonize import browser, sql
from datasets_app.mappings.harmonize.browser import ColumnFilter, Query
from datasets_app.mappings.harmonize.rules import RuleError, parse_rules
from tests.datasets_app.mapping_helpers import V1, Engine, rule

EVIL = ['evil"col', "a'b", "x); DROP TABLE t; --"]


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    path = folder / "evil.csv"
    header = ",".join(['"evil""col"', "a'b", '"x); DROP TABLE t; --"', "adType", "n"])
    path.write_text(header + "\n1,q,z,sp,5\n2,r,y,sd,6\n3,s,x,sp,7\n")
    eng = Engine(folder)
    yield eng, eng.meta(path, retailer_column="a'b", type_column="adType"), path
    eng.close()


def test_weird_column_names_are_quoted_not_executed(source):
    eng, meta, _ = source
    assert list(meta.columns)[:3] == EVIL
    page = browser.browse(eng.con, meta, Query(sort='evil"col', descending=True))
    assert page.columns[:3] == EVIL and [r[0] for r in page.rows] == [3, 2, 1]
    for column in EVIL:
        q = Query(filters=[ColumnFilter(column=column, op="not_null")])
        assert browser.browse(eng.con, meta, q).total == 3
    filtered = browser.browse(
        eng.con, meta, Query(filters=[ColumnFilter(column="x); DROP TABLE t; --", op="eq", value="y")])
    )
    assert filtered.total == 1 and filtered.rows[0][0] == 2


@pytest.mark.parametrize(
    "column",
    ["adType\" = 'sp' OR 1=1 --", "n; DROP TABLE x", "*", "adType\x00", '"adType"', "1=1"],
)
def test_unknown_or_crafted_column_names_are_refused(source, column):
    eng, meta, _ = source
    with pytest.raises(sql.SourceError):
        browser.browse(eng.con, meta, Query(filters=[ColumnFilter(column=column, op="eq", value="sp")]))
    with pytest.raises(sql.SourceError):
        browser.browse(eng.con, meta, Query(sort=column))
    with pytest.raises(sql.SourceError):
        browser.distinct_values(eng.con, meta, column)


@pytest.mark.parametrize(
    "value", ["sp' OR '1'='1", "sp'; DROP TABLE t; --", "$p0", "' UNION SELECT * FROM duckdb_settings() --"]
)
def test_filter_values_are_bound(source, value):
    eng, meta, _ = source
    for q in (Query(filters=[ColumnFilter(column="adType", op="eq", value=value)]), Query(type=value), Query(retailer=value),
              Query(filters=[ColumnFilter(column="adType", op="in", value=[value, "x"])])):  # fmt: skip
        assert browser.browse(eng.con, meta, q).total == 0
    contains = Query(filters=[ColumnFilter(column="adType", op="contains", value=value)])
    assert browser.browse(eng.con, meta, contains).total == 0
    with pytest.raises(sql.SourceError, match="not a number"):
        browser.browse(eng.con, meta, Query(filters=[ColumnFilter(column="n", op="gt", value=value)]))


def test_rules_cannot_inject(source):
    eng, meta, _ = source
    with pytest.raises(RuleError):
        parse_rules(
            [
                {
                    "source": "adType",
                    "target": "cost",
                    "transform": {"type": "scale", "factor": "1); DROP TABLE t; --"},
                }
            ]
        )
    # A rule whose source is SQL text is refused because no such column exists.
    rules = parse_rules([rule("adType') OR 1=1 --", "retailer")])
    with pytest.raises(RuleError, match="no column"):
        browser.harmonize_sql(meta, rules, V1)
    # Values inside rules are bound: a crafted enum value or constant is just data.
    crafted = "x'); SELECT 1; --"
    q, params, _ = browser.harmonize_sql(
        meta,
        parse_rules([rule("adType", "campaign_id", type="enum_map", pairs=[{"source": "sp", "target": crafted}]),
                     rule(None, "retailer", type="constant", value=crafted), rule('evil"col', "sku", type="cast", to="string")]),
        V1,
    )  # fmt: skip
    assert crafted not in q
    names, rows = browser.fetch_rows(eng.con, q, params)
    assert [r[names.index("campaign_id")] for r in rows] == [crafted, None, crafted]
    assert {r[names.index("retailer")] for r in rows} == {crafted}
    assert [r[names.index("sku")] for r in rows] == ["1", "2", "3"]


def test_quote_ident_refuses_nul_and_empty():
    assert sql.quote_ident('a"b') == '"a""b"'
    for bad in ("", "a\x00b", None, "x" * 300):
        with pytest.raises(sql.SourceError):
            sql.quote_ident(bad)


def test_duckdb_connection_is_confined_and_locked(source, tmp_path):
    eng, _, path = source
    con = eng.con
    assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
    assert (
        con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].startswith("244")
    )  # 256MB in MiB
    for statement in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{path.parent}/../../../../etc/passwd')",
        f"COPY (SELECT 1) TO '{tmp_path}/outside.csv'",
        "SET enable_external_access = true",
        "SET memory_limit = '64GB'",
        "SET threads = 64",
        "INSTALL httpfs",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert not (tmp_path / "outside.csv").exists()
    outside = sql.SourceSpec("/etc/hosts", "csv")
    with pytest.raises(sql.SourceError):
        sql.describe(con, outside)
