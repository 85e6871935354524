"""Benchmark: the data browser and harmonization on a 1M-row Retailer Alpha CSV, DuckDB against pandas.

    .venv/bin/python benchmarks/browser_and_harmonize.py [--rows 1000000] [--repeats 3] [--keep]

(1) filter by date range + retailer and return the first 100 rows (the browser's page query);
(2) harmonize every row with the guide's Alpha mapping and export Parquet (the export / harmonize path).
Baseline, same run: the same two operations in pandas. Each operation runs in its own subprocess, so its peak RSS is
its own; the runs are interleaved (duckdb, pandas, duckdb, pandas …) because this 2-core machine is noisy.
DuckDB runs with the console's default per-request limits (memory_limit 256MB, 2 threads, confined to the data folder).
Targets: (1) < 1 s, (2) < 2 s, peak RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATE_FROM, DATE_TO, RETAILER = "2024-03-05", "2024-03-12", "alpha_ca"
TARGETS = {"filter": 1.0, "harmonize": 2.0}
RSS_TARGET_MB = 400


def _rss_mb() -> float:
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's high-water mark across exec).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def duckdb_op(op: str, csv_path: Path, out: Path) -> dict:
    import datetime as dt

    from datasets_app.mappings import demo as sample_data
    from datasets_app.mappings.harmonize import browser, sql
    from datasets_app.mappings.harmonize.rules import parse_rules
    from datasets_app.mappings.rmis import get_schema

    started = time.perf_counter()
    limits = sql.Limits(
        memory_limit="256MB",
        threads=2,
        allowed_dirs=(str(csv_path.parent),),
        temp_dir=str(csv_path.parent / ".duckdb-tmp"),
    )
    con = sql.connect(limits)
    spec = sql.SourceSpec(str(csv_path), "csv")
    meta = browser.SourceMeta(spec, dict(sql.describe(con, spec)), browser.TimeSpec("timestamp", "iso", "America/New_York"),
                              "retailer", "adType")  # fmt: skip
    if op == "filter":
        q = browser.Query(date_from=dt.date.fromisoformat(DATE_FROM), date_to=dt.date.fromisoformat(DATE_TO), retailer=RETAILER,
                          page_size=100)  # fmt: skip
        page = browser.browse(con, meta, q, with_total=False)
        result = {"rows": len(page.rows), "first": page.rows[0][0]}
    else:
        query, params, _ = browser.harmonize_sql(meta, parse_rules(sample_data.ALPHA_RULES), get_schema("rmis.ad_event", 1),
                                                 strict=True)  # fmt: skip
        browser.export(con, query, params, "parquet", out)
        result = {
            "rows": con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(out)}).fetchall()[0][0]
        }
    con.close()
    return {**result, "seconds": time.perf_counter() - started}


def pandas_op(op: str, csv_path: Path, out: Path) -> dict:
    import pandas as pd

    started = time.perf_counter()
    df = pd.read_csv(csv_path)
    ts = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    if op == "filter":
        lo, hi = pd.Timestamp(DATE_FROM, tz="UTC"), pd.Timestamp(DATE_TO, tz="UTC") + pd.Timedelta(days=1)
        page = df[(ts >= lo) & (ts < hi) & (df["retailer"] == RETAILER)].head(100)
        result = {"rows": len(page), "first": page.iloc[0]["event_id"]}
    else:
        placement = {"sp": "sponsored_product", "sd": "sponsored_display", "onsite_disp": "onsite_display"}
        if not df["adType"].isin(list(placement)).all():
            raise ValueError("unmapped adType")
        out_df = pd.DataFrame(
            {
                "ts": ts,
                "date": ts.dt.date,
                "retailer": df["retailer"],
                "campaign_id": df["campaign"].str.strip(),
                "ad_group_id": df["ad_group"],
                "placement_type": df["adType"].map(placement),
                "channel": df["adType"].map(dict.fromkeys(placement, "onsite")),
                "sku": df["SKU"],
                "impressions": df["impressions"].astype("int64"),
                "clicks": df["clicks"].astype("int64"),
                "cost": df["cost_micros"] / 1_000_000,
                "currency": df["currency"],
                "conversions": df["conv_click_7d"].astype("int64"),
                "attributed_sales": df["sales_click_7d"].astype("float64"),
                "attribution_window_days": 7,
            }
        )
        out_df.to_parquet(out, index=False)  # snappy, like the console's export
        result = {"rows": len(out_df)}
    return {**result, "seconds": time.perf_counter() - started}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(engine: str, op: str, csv_path: str, out: str) -> None:
    fn = duckdb_op if engine == "duckdb" else pandas_op
    if engine == "duckdb":  # imports are not part of the measurement
        import datasets_app.mappings.harmonize.browser  # noqa: F401
    else:
        import pandas  # noqa: F401
    cpu = _cpu()
    result = fn(op, Path(csv_path), Path(out))
    result["cpu"] = _cpu() - cpu
    result["rss_mb"] = _rss_mb()
    print(json.dumps(result, default=str))


def run_child(engine: str, op: str, csv_path: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", engine, op, str(csv_path), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{engine} {op} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from datasets_app.mappings import demo as sample_data

    folder = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    csv_path = folder / "retailer_alpha_events.csv"
    started = time.perf_counter()
    sample_data.write_alpha_csv(csv_path, args.rows)
    print(
        f"generated {args.rows:,} Alpha rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s"
    )

    load_before = os.getloadavg()[0]
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for op in ("filter", "harmonize"):
            for engine in ("duckdb", "pandas"):  # interleaved
                out = folder / f"{engine}_{op}.parquet"
                results.setdefault((engine, op), []).append(run_child(engine, op, csv_path, out))

    for op in ("filter", "harmonize"):
        d, p = results[("duckdb", op)], results[("pandas", op)]
        assert d[0]["rows"] == p[0]["rows"], f"{op}: duckdb {d[0]['rows']} rows, pandas {p[0]['rows']} rows"
        if op == "filter":
            assert d[0]["first"] == p[0]["first"], "the two engines disagree on the first row"

    print(
        f"\n{'operation':<44}{'duckdb s':>10}{'pandas s':>10}{'ratio':>8}{'duckdb RSS':>12}{'pandas RSS':>12}  target"
    )
    ok = True
    labels = {
        "filter": "(1) date range + retailer, first 100 rows",
        "harmonize": "(2) harmonize all rows → Parquet",
    }
    for op in ("filter", "harmonize"):
        d = [r["seconds"] for r in results[("duckdb", op)]]
        p = [r["seconds"] for r in results[("pandas", op)]]
        d_med, p_med = statistics.median(d), statistics.median(p)
        d_rss = max(r["rss_mb"] for r in results[("duckdb", op)])
        p_rss = max(r["rss_mb"] for r in results[("pandas", op)])
        passed = d_med < TARGETS[op] and d_rss < RSS_TARGET_MB
        ok &= passed
        print(
            f"{labels[op]:<44}{d_med:>10.3f}{p_med:>10.3f}{p_med / d_med:>7.1f}×{d_rss:>10.0f}MB{p_rss:>10.0f}MB"
            f"  <{TARGETS[op]:.0f}s, <{RSS_TARGET_MB}MB {'PASS' if passed else 'FAIL'}"
        )
        print(
            f"{'':<44}runs: duckdb {', '.join(f'{x:.3f}' for x in d)} | pandas {', '.join(f'{x:.3f}' for x in p)}"
        )
        d_cpu = statistics.median(r["cpu"] for r in results[("duckdb", op)])
        p_cpu = statistics.median(r["cpu"] for r in results[("pandas", op)])
        print(f"{'':<44}CPU seconds (user+sys, median): duckdb {d_cpu:.3f} | pandas {p_cpu:.3f}")
    print(
        f"\nload average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"rows harmonized: {results[('duckdb', 'harmonize')][0]['rows']:,}; times include connecting and reading the CSV"
    )
    if not args.keep:
        shutil.rmtree(folder)
    else:
        print(f"kept {folder}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
