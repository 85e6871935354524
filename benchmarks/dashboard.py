"""Benchmark: monitoring dashboard reads after 30 days of samples for 8 GPUs and 10k training jobs.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/dashboard.py [--repeats 60] [--no-baseline]

Builds a scratch PostgreSQL database (bench_rmn_dashboard), seeds it the way a month of `monitor_host` leaves it
(raw 5-second rows for the raw-retention window, then 1-minute, 5-minute and 1-hour rollups for theirs),
then times the summary and samples endpoints through the full Django stack (Bearer auth, ninja, JSON) and counts
their SQL queries — first on a small data set, then on the full one: the counts must be equal.
Baseline: the 7-day chart aggregated from raw rows (what it would cost without rollups), same run.
Target: p99 < 150 ms for every endpoint; query count independent of data size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import prepare_database
from monitoring.engine.sampler import GAUGES

BENCH_DB = "bench_rmn_dashboard"
HOST = "bench-gpu-host"
GPUS = 8
INTERVAL = 5  # seconds between raw samples, the default RMN_SAMPLE_INTERVAL_SECONDS
SAMPLE_COLUMNS = ("host", "gpu_index", "resolution", "at", "gpu_name", *GAUGES, "error")
ENDPOINTS = (
    ("summary", "/api/monitoring/summary"),
    ("samples 1h (all series)", "/api/monitoring/samples?since=1h"),
    ("samples 24h (all series)", "/api/monitoring/samples?since=24h"),
    ("samples 7d (all series)", "/api/monitoring/samples?since=7d"),
    ("samples 30d (all series)", "/api/monitoring/samples?since=30d"),
    ("samples 24h host+gpu", f"/api/monitoring/samples?since=24h&host={HOST}&gpu=3"),
    ("dashboard chart partial 24h", "/monitoring/charts/?range=24h"),
    ("/metrics", "/metrics"),
)


def copy_rows(table: str, columns: tuple[str, ...], rows) -> int:
    from django.db import connection

    n = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def sample_rows(now: datetime, resolution: int, span: timedelta, step: int, rng: random.Random):
    """Rows for 8 GPUs + the host row at one resolution, ending at the last finished bucket before now."""
    end = int(now.timestamp()) // step * step
    start = end - int(span.total_seconds())
    for epoch in range(start, end, step):
        at = datetime.fromtimestamp(epoch, tz=UTC)
        yield (
            HOST,
            None,
            resolution,
            at,
            "",
            None,
            None,
            None,
            None,
            None,
            rng.uniform(5, 60),
            rng.uniform(20e3, 60e3),
            128e3,
            "",
        )
        for g in range(GPUS):
            yield (
                HOST,
                g,
                resolution,
                at,
                "NVIDIA H100 80GB HBM3",
                rng.uniform(0, 100),
                rng.uniform(1e3, 80e3),
                81559.0,
                rng.uniform(40, 80),
                rng.uniform(80, 700),
                None,
                None,
                None,
                "",
            )


def seed_samples(now: datetime, days: int, *, raw_only_days: int = 0) -> int:
    from monitoring.engine.ranges import RAW, RESOLUTIONS
    from monitoring.models import WorkerHost
    from monitoring.services import retention

    rng = random.Random(7)
    keep = retention()
    WorkerHost.objects.update_or_create(
        host=HOST,
        defaults={
            "last_seen": now,
            "gpu_count": GPUS,
            "cuda": True,
            "latest": {
                "cpu_percent": 30.0,
                "ram_used_mb": 40e3,
                "ram_total_mb": 128e3,
                "gpus": [
                    {
                        "index": g,
                        "name": "NVIDIA H100 80GB HBM3",
                        "utilization": 50.0 + g,
                        "memory_used_mb": 40e3,
                        "memory_total_mb": 81559.0,
                        "temperature_c": 60.0,
                        "power_w": 400.0,
                        "error": "",
                    }
                    for g in range(GPUS)
                ],
            },
        },
    )
    span = timedelta(days=days)
    n = 0
    if raw_only_days:  # baseline: no rollups, raw rows all the way back
        return copy_rows(
            "monitoring_systemsample",
            SAMPLE_COLUMNS,
            sample_rows(now, RAW, timedelta(days=raw_only_days), INTERVAL, rng),
        )
    for level in RESOLUTIONS:  # what retention leaves: each level for its own window
        n += copy_rows(
            "monitoring_systemsample",
            SAMPLE_COLUMNS,
            sample_rows(now, level, min(span, keep[level]), level or INTERVAL, rng),
        )
    return n


def seed_jobs(now: datetime, jobs: int, metrics_per_finished: int, metrics_per_running: int) -> dict:
    from federation.models import Federation, InferenceRun
    from monitoring.models import Alert
    from training.models import Adapter, FoundationModel, TrainingJob

    rng = random.Random(11)
    base = FoundationModel.objects.create(name="bench-base", source="local", family="llama")
    running, queued = min(8, jobs), min(50, jobs // 10)
    statuses = ["running"] * running + ["queued"] * queued
    statuses += [
        rng.choice(["completed", "completed", "completed", "failed", "cancelled"])
        for _ in range(jobs - len(statuses))
    ]
    objs = []
    for i, status in enumerate(statuses):
        started = now - timedelta(minutes=jobs - i) if status != "queued" else None
        objs.append(
            TrainingJob(
                adapter_type="retailer",
                adapter_name=f"bench-{i}",
                base_model=base,
                training_type="sft",
                status=status,
                current_step=metrics_per_running if status == "running" else metrics_per_finished,
                total_steps=3000,
                tokens_per_second=rng.uniform(1e3, 5e3) if status == "running" else None,
                heartbeat_at=now,
                started_at=started,
                finished_at=started + timedelta(minutes=1) if status in TrainingJob.FINISHED else None,
            )
        )
    created = TrainingJob.objects.bulk_create(objs, batch_size=2000)
    metric_count = copy_rows(
        "training_trainingmetric",
        ("job_id", "step", "loss", "created_at"),
        (
            (job.pk, step, 3.0 * 0.999**step + rng.uniform(-0.01, 0.01), now)
            for job in created
            for step in range(
                1,
                (
                    metrics_per_running
                    if job.status == "running"
                    else metrics_per_finished
                    if job.started_at
                    else 0
                )
                + 1,
            )
        ),
    )
    adapters = Adapter.objects.bulk_create(
        [
            Adapter(
                adapter_type="retailer",
                name=f"bench-{i}",
                version=1,
                base_model=base,
                rank=16,
                alpha=32,
                path=f"adapters/b{i}",
                metrics={"eval_loss": rng.uniform(0.5, 2), "token_accuracy": rng.uniform(0.4, 0.9)},
            )
            for i in range(max(1, jobs // 5))
        ],
        batch_size=2000,
    )
    fed = Federation.objects.create(name="bench-fed", base_model=base, method="additive")
    runs = InferenceRun.objects.bulk_create(
        [
            InferenceRun(
                federation=fed,
                prompt="p",
                status="completed",
                latency_ms=rng.uniform(60, 400),
                adapters_used=[{"adapter": rng.choice(adapters[-12:]).label}],
            )
            for _ in range(max(10, jobs * 5))
        ],
        batch_size=5000,
    )
    Alert.objects.bulk_create(
        [Alert(rule="memory", key=f"{HOST}/gpu{i}", message="m", resolved_at=now) for i in range(jobs // 2)]
    )
    Alert.objects.bulk_create(
        [Alert(rule="gpu_utilization", key=f"{HOST}/gpu{i}", message="hot") for i in range(3)]
    )
    return {
        "jobs": len(created),
        "metrics": metric_count,
        "adapters": len(adapters),
        "inference_runs": len(runs),
    }


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE monitoring_systemsample, monitoring_workerhost, monitoring_alert, training_trainingmetric, "
            "federation_inferencerun, federation_federation, training_adapter, training_trainingjob, training_basemodel CASCADE"
        )


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(client, headers: dict, repeats: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for label, url in ENDPOINTS:
        for _ in range(3):  # warm-up: token last-used update, connection, template caches
            assert client.get(url, **headers).status_code == 200, url
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get(url, **headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as ctx:
            client.get(url, **headers)
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        results[label] = {
            "p50": statistics.median(times),
            "p99": p99,
            "queries": len(ctx.captured_queries),
            "bytes": len(response.content),
        }
    return results


def baseline_7d(repeats: int) -> float:
    """p50 ms of the 7-day all-series aggregation read from raw rows (no rollups)."""
    from monitoring import queries
    from monitoring.engine import ranges

    original = ranges.plan_for
    queries.plan_for = lambda span, keep: ranges.Plan(resolution=ranges.RAW, bucket_seconds=3600)
    try:
        times = []
        for _ in range(max(3, repeats // 10)):
            t0 = time.perf_counter()
            queries.series(since="7d")
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        queries.plan_for = original
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = prepare_database(
        os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres"), BENCH_DB, __file__
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")
    os.environ.setdefault("RMN_METRICS_ALLOW", "127.0.0.1")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    from rmnconsole.models import ApiToken

    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    _, raw = ApiToken.issue(user, "bench")
    client = Client()
    client.force_login(user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    now = datetime.now(UTC)

    print(f"PostgreSQL database {BENCH_DB}; {args.repeats} requests per endpoint after 3 warm-ups\n")
    runs = {}
    for scale, days, jobs, fin, run in (("small", 1, 100, 10, 100), ("full", args.days, args.jobs, 50, 2000)):
        reset()
        t0 = time.perf_counter()
        samples = seed_samples(now, days)
        seeded = seed_jobs(now, jobs, fin, run)
        analyze()
        print(
            f"[{scale}] seeded {samples:,} sample rows ({days} d, {GPUS} GPUs + host), {seeded['jobs']:,} jobs, "
            f"{seeded['metrics']:,} metric rows, {seeded['adapters']:,} adapters, {seeded['inference_runs']:,} inference runs "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        runs[scale] = measure(client, headers, args.repeats)

    print(f"\n{'endpoint':32} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8} {'(small)':>8} {'KB':>7}")
    ok = True
    for label, _ in ENDPOINTS:
        full, small = runs["full"][label], runs["small"][label]
        ok &= full["p99"] < 150 and full["queries"] == small["queries"]
        print(
            f"{label:32} {full['p50']:8.1f} {full['p99']:8.1f} {full['queries']:8d} {small['queries']:8d} {full['bytes'] / 1024:7.1f}"
        )

    if not args.no_baseline:
        reset()
        raw_rows = seed_samples(now, 7, raw_only_days=7)
        analyze()
        base = baseline_7d(args.repeats)
        ours = runs["full"]["samples 7d (all series)"]["p50"]
        print(
            f"\nbaseline: 7-day chart aggregated from {raw_rows:,} raw rows (no rollups): p50 {base:.1f} ms "
            f"vs {ours:.1f} ms with rollups through the whole HTTP stack → {base / ours:.1f}× faster"
        )
    print(
        f"\n{'PASS' if ok else 'FAIL'}: p99 < 150 ms on every endpoint and query counts equal at both sizes"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
