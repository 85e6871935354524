"""Every transform of the harmonization engine on small files with known answers, edge cases included."""

from __future__ import annotations

import datetime as dt

import pytest

from datasets_app.mappings.harmonize.rules import RuleError, parse_rules
from datasets_app.mappings.harmonize.sql import SourceError
from datasets_app.mappings.harmonize.validate import coverage
from tests.datasets_app.mapping_helpers import V1, Engine, check, rule, write_csv, write_jsonl

UTC = dt.UTC


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path)
    yield eng
    eng.close()


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_to_utc_iso_offsets_zone_and_dst(engine, tmp_path):
    path = write_csv(
        tmp_path, "t.csv", ["t"],
        [["2024-03-10T01:45:12-05:00"], ["2024-03-10T03:45:12-04:00"], ["2024-03-10 02:30:00"], ["2024-11-03 01:30:00"],
         ["2024-07-01 12:00:00"], ["2024-01-15T12:00:00Z"], ["not a time"], [None]],
    )  # fmt: skip
    rules = [rule("t", "ts", type="to_utc", input_format="iso", timezone="America/New_York")]
    got = [r["ts"] for r in engine.harmonize(path, rules)]
    assert got == [
        utc(2024, 3, 10, 6, 45, 12),  # offset in the value wins
        utc(2024, 3, 10, 7, 45, 12),
        utc(2024, 3, 10, 7, 30),  # 02:30 does not exist in New York that night: shifted forward by the gap
        utc(2024, 11, 3, 6, 30),  # 01:30 happens twice: the standard-time (second) occurrence
        utc(2024, 7, 1, 16, 0),  # summer: EDT, UTC-4
        utc(2024, 1, 15, 12, 0),
        None,
        None,
    ]
    report = engine.validate(path, rules)
    assert check(report, "dst_nonexistent", "ts")["count"] == 1
    assert check(report, "dst_nonexistent", "ts")["examples"] == ["2024-03-10 02:30:00"]
    assert check(report, "dst_ambiguous", "ts")["count"] == 1
    assert check(report, "dst_ambiguous", "ts")["examples"] == ["2024-11-03 01:30:00"]
    failures = check(report, "cast_failure", "ts")
    assert failures["count"] == 1 and failures["examples"] == [
        "not a time"
    ]  # the empty cell is not a failure


def test_to_utc_epochs_strptime_date_and_fixed_offset(engine, tmp_path):
    path = write_jsonl(
        tmp_path, "e.jsonl",
        [{"s": 1710000000, "ms": 1710000000123, "txt": "03/10/2024 01:45", "z": "2024-03-10 01:45 +0530", "d": "2024-03-10",
          "local": "2024-03-10 12:00:00"},
         {"s": 1e20, "ms": -5, "txt": "10-03-2024", "z": "garbage", "d": "March", "local": "2024-03-10T12:00:00+01:00"}],
    )  # fmt: skip
    rows = engine.harmonize(
        path,
        [
            rule("s", "ts", type="to_utc", input_format="epoch_s"),
            rule(
                "txt",
                "date",
                type="to_utc",
                input_format="strptime",
                pattern="%m/%d/%Y %H:%M",
                timezone="Europe/London",
            ),
        ],
    )
    assert rows[0]["ts"] == utc(2024, 3, 9, 16, 0) == dt.datetime.fromtimestamp(1710000000, UTC)
    assert rows[1]["ts"] is None  # out of range is null, not an error
    assert rows[0]["date"] == dt.date(2024, 3, 10) and rows[1]["date"] is None
    cases = {
        "ms": ({"input_format": "epoch_ms"}, [utc(2024, 3, 9, 16, 0, 0, 123000), utc(1969, 12, 31, 23, 59, 59, 995000)]),
        "z": ({"input_format": "strptime", "pattern": "%Y-%m-%d %H:%M %z"}, [utc(2024, 3, 9, 20, 15), None]),
        "d": ({"input_format": "date", "timezone": "America/New_York"}, [utc(2024, 3, 10, 5, 0), None]),
        "local": ({"input_format": "iso", "timezone": "+05:30"}, [utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 11, 0)]),
        "txt": ({"input_format": "strptime", "pattern": "%m/%d/%Y %H:%M", "timezone": "America/New_York"},
                [utc(2024, 3, 10, 6, 45), None]),
    }  # fmt: skip
    for column, (params, expected) in cases.items():
        got = [r["ts"] for r in engine.harmonize(path, [rule(column, "ts", type="to_utc", **params)])]
        assert got == expected, column


def test_to_utc_rejects_unknown_zone_and_missing_pattern():
    with pytest.raises(RuleError, match="unknown time zone"):
        parse_rules([rule("t", "ts", type="to_utc", timezone="Mars/Olympus")])
    with pytest.raises(RuleError, match="strptime pattern"):
        parse_rules([rule("t", "ts", type="to_utc", input_format="strptime")])
    with pytest.raises(RuleError, match="unknown time zone"):
        parse_rules([rule("t", "ts", type="to_utc", timezone="+25:00")])


ENUM_VALUES = ["sp", "sd", "onsite_disp", "SP", "video", None]
PAIRS = [{"source": "sp", "target": "sponsored_product"}, {"source": "sd", "target": "sponsored_display"},
         {"source": "onsite_disp", "target": "onsite_display"}]  # fmt: skip


@pytest.fixture
def enum_file(tmp_path):
    return write_csv(tmp_path, "enum.csv", ["adType"], [[v] for v in ENUM_VALUES])


def _placement(engine, path, **transform):
    rules = [rule("adType", "placement_type", type="enum_map", pairs=PAIRS, **transform)]
    return [r["placement_type"] for r in engine.harmonize(path, rules)], engine.validate(path, rules)


def test_enum_map_unmapped_null(engine, enum_file):
    got, report = _placement(engine, enum_file, unmapped="null")
    assert got == ["sponsored_product", "sponsored_display", "onsite_display", None, None, None]
    unmapped = check(report, "unmapped_enum", "placement_type")
    assert unmapped["count"] == 2 and set(unmapped["examples"]) == {
        "SP",
        "video",
    }  # the null cell is not "unmapped"
    assert unmapped["severity"] == "error"  # 2 of 6 rows is far above the 1% warning band
    assert check(report, "required_nulls", "placement_type")["count"] == 3


def test_enum_map_case_insensitive(engine, enum_file):
    got, report = _placement(engine, enum_file, unmapped="null", case_insensitive=True)
    assert got == [
        "sponsored_product",
        "sponsored_display",
        "onsite_display",
        "sponsored_product",
        None,
        None,
    ]
    assert check(report, "unmapped_enum", "placement_type")["examples"] == ["video"]


def test_enum_map_pass_through_is_caught_by_allowed_values(engine, enum_file):
    got, report = _placement(engine, enum_file, unmapped="pass_through")
    assert got == ["sponsored_product", "sponsored_display", "onsite_display", "SP", "video", None]
    not_allowed = check(report, "enum_not_allowed", "placement_type")
    assert not_allowed["count"] == 2 and set(not_allowed["examples"]) == {"SP", "video"}


def test_enum_map_error_policy(engine, enum_file):
    got, report = _placement(engine, enum_file, unmapped="error")
    assert got[3:5] == [None, None]  # lenient (preview, validation): null and counted
    assert check(report, "unmapped_enum", "placement_type")["severity"] == "error"
    assert report["status"] == "error"
    rules = [rule("adType", "placement_type", type="enum_map", pairs=PAIRS, unmapped="error")]
    with pytest.raises(SourceError, match=r"unmapped value for adType: (SP|video)"):
        engine.harmonize(enum_file, rules, strict=True)  # export / build: refuses instead of writing nulls


def test_enum_map_rule_errors():
    with pytest.raises(RuleError, match="appears twice"):
        parse_rules([rule("a", "placement_type", type="enum_map", pairs=[PAIRS[0], PAIRS[0]])])
    with pytest.raises(RuleError, match="differ only by case"):
        parse_rules([rule("a", "placement_type", type="enum_map", case_insensitive=True,
                          pairs=[PAIRS[0], {"source": "SP", "target": "sponsored_brand"}])])  # fmt: skip
    from datasets_app.mappings.harmonize.rules import check_rules

    typo = parse_rules(
        [
            rule(
                "a",
                "placement_type",
                type="enum_map",
                pairs=[{"source": "sp", "target": "sponsored_products"}],
            )
        ]
    )
    assert "not an allowed placement_type" in check_rules(typo, V1, ["a"])[0]["msg"]


def test_scale_divide_multiply_and_bad_numbers(engine, tmp_path):
    path = write_csv(
        tmp_path, "s.csv", ["cost_micros", "cents"], [[1500000, "250"], [0, "x"], ["abc", ""], [None, "7"]]
    )
    rows = engine.harmonize(
        path,
        [rule("cost_micros", "cost", type="scale", operation="divide", factor=1_000_000),
         rule("cents", "attributed_sales", type="scale", operation="multiply", factor=0.01)],
    )  # fmt: skip
    assert [r["cost"] for r in rows] == [1.5, 0.0, None, None]
    assert [r["attributed_sales"] for r in rows] == [2.5, None, None, 0.07]
    report = engine.validate(path, [rule("cost_micros", "cost", type="scale", factor=1_000_000)])
    assert check(report, "cast_failure", "cost")["examples"] == ["abc"]
    for bad in (0, -1, "ten"):
        with pytest.raises(RuleError):
            parse_rules([rule("c", "cost", type="scale", factor=bad)])


def test_cast_every_type_and_bad_casts(engine, tmp_path):
    path = write_csv(
        tmp_path, "c.csv", ["i", "f", "b", "d", "n"],
        [["3", "1.5", "yes", "2024-03-10", 123], ["3.7", "x", "no", "10/03/2024", 5], ["abc", "1e3", "maybe", None, 0],
         [None, None, "1", "2024-02-30", 9]],
    )  # fmt: skip
    rules = [
        rule("i", "attributed_units", type="cast", to="int"),
        rule("f", "attributed_sales", type="cast", to="float"),
        rule("b", "sku", type="cast", to="bool"),
        rule("d", "date", type="cast", to="date"),
        rule("n", "campaign_id", type="cast", to="string"),
    ]
    rows = engine.harmonize(path, rules)
    assert [r["attributed_units"] for r in rows] == [3, None, None, None]  # 3.7 is not silently rounded
    assert [r["attributed_sales"] for r in rows] == [1.5, None, 1000.0, None]
    assert [r["sku"] for r in rows] == ["true", "false", None, "true"]
    assert [r["date"] for r in rows] == [dt.date(2024, 3, 10), None, None, None]
    assert [r["campaign_id"] for r in rows] == ["123", "5", "0", "9"]
    report = engine.validate(path, rules)
    assert {c["target"]: c["count"] for c in report["checks"] if c["check"] == "cast_failure"} == {
        "date": 2, "campaign_id": 0, "attributed_units": 2, "attributed_sales": 1, "sku": 1,
    }  # fmt: skip
    assert set(check(report, "cast_failure", "attributed_units")["examples"]) == {"3.7", "abc"}


def test_constant_default_lowercase_trim(engine, tmp_path):
    path = write_csv(tmp_path, "m.csv", ["clk", "banner", "campaign"], [["5", "BETA_UK", '"  ALP-CMP-1  "'], [None, "Beta_DE", "x"],
                                                                        ['" "', None, '"\tY "']])  # fmt: skip
    rows = engine.harmonize(
        path,
        [rule("clk", "clicks", type="default", value=0), rule("banner", "retailer", type="lowercase"),
         rule("campaign", "campaign_id", type="trim"), rule(None, "attribution_window_days", type="constant", value=7),
         rule(None, "placement_type", type="constant", value="in_store")],
    )  # fmt: skip
    assert [r["clicks"] for r in rows] == [5, 0, 0]
    assert [r["retailer"] for r in rows] == ["beta_uk", "beta_de", None]
    assert [r["campaign_id"] for r in rows] == ["ALP-CMP-1", "x", "Y"]
    assert {r["attribution_window_days"] for r in rows} == {7}
    assert {r["placement_type"] for r in rows} == {"in_store"}


def test_rule_model_errors():
    from datasets_app.mappings.harmonize.rules import check_rules

    with pytest.raises(RuleError, match="needs a source field"):
        parse_rules([{"target": "cost", "transform": {"type": "scale", "factor": 2}}])
    with pytest.raises(RuleError):
        parse_rules(
            [{"source": "a", "target": "cost", "transform": {"type": "sql", "expr": "1; DROP TABLE x"}}]
        )
    with pytest.raises(RuleError):
        parse_rules([{"source": "a", "target": "cost", "transform": {"type": "none"}, "extra": 1}])
    constant = parse_rules([rule("ignored", "retailer", type="constant", value="alpha")])[0]
    assert constant.source is None  # a constant reads no column
    rules = parse_rules([rule("a", "cost"), rule("b", "cost"), rule("zz", "nope"), rule("missing", "clicks"),
                         rule("a", "ts", type="trim"), rule(None, "placement_type", type="constant", value="tv")])  # fmt: skip
    messages = [e["msg"] for e in check_rules(rules, V1, ["a", "b"])]
    assert any("already mapped by rule 1" in m for m in messages)
    assert any("not a field of rmis.ad_event@v1" in m for m in messages)
    assert any("no column 'missing'" in m for m in messages)
    assert any("use to_utc" in m for m in messages)
    assert any("'tv' is not an allowed placement_type" in m for m in messages)


def test_range_checks_and_required_nulls(engine, tmp_path):
    path = write_csv(
        tmp_path, "r.csv", ["imp", "clk", "win", "t"],
        [[-5, 1, 7, "2024-03-10T00:00:00Z"], [10, 20, 120, "1990-01-01T00:00:00Z"], [100, 3, 14, "2024-03-10T00:00:00Z"],
         [None, 1, 7, "2024-03-10T00:00:00Z"]],
    )  # fmt: skip
    report = engine.validate(
        path,
        [rule("imp", "impressions"), rule("clk", "clicks"), rule("win", "attribution_window_days"),
         rule("t", "ts", type="to_utc")],
    )  # fmt: skip
    ranges = {c["source"] or c["target"]: c for c in report["checks"] if c["check"] == "out_of_range"}
    assert ranges["imp"]["count"] == 1 and ranges["imp"]["examples"] == ["-5"]
    assert ranges["win"]["count"] == 1 and ranges["win"]["examples"] == ["120"]
    assert ranges["t"]["count"] == 1
    cross = ranges["clicks > impressions"]
    assert cross["count"] == 2 and set(cross["examples"]) == {"1 > -5", "20 > 10"}
    nulls = check(report, "required_nulls", "impressions")
    assert nulls["count"] == 1 and nulls["severity"] == "error"  # 1 of 4 rows > 1%
    assert report["rows"] == 4 and report["status"] == "error"


def test_coverage_numbers():
    guide = parse_rules(
        [rule("adType", "placement_type", type="enum_map", pairs=PAIRS), rule("cost_micros", "cost", type="scale", factor=1e6),
         rule("timestamp", "ts", type="to_utc"), rule("conv_click_7d", "conversions")]
    )  # fmt: skip
    cov = coverage(guide, V1)
    assert cov["total"] == 17 and cov["required_total"] == 8
    assert cov["pct"] == round(100 * 4 / 17, 1) == 23.5
    assert cov["required_pct"] == 37.5  # ts, placement_type, cost of 8 required
    assert cov["missing_required"] == ["retailer", "campaign_id", "impressions", "clicks", "currency"]
    assert "conversions" in cov["mapped"] and "gtin" in cov["missing"]
    assert coverage([], V1)["pct"] == 0.0
